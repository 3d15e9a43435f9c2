"""The metadata app: what to run (configs, rules, permissions)."""
