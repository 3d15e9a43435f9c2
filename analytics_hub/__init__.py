"""Launchpad analytics hub: a Streamlit app over the warehouse (entry point ``streamlit_app.py``)."""
