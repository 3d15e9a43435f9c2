"""Pure analytics engine (plain values in, plain values out; no Streamlit, Django or Dagster); later issues."""
