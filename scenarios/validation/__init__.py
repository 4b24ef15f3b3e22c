"""The validation cases of run.py validate (YAML and their data; a package, see scenarios/__init__.py)."""
