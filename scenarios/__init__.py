"""The shipped scenario library: YAML files, in a package so that importlib.resources finds them
however ecomsim is installed (plain or editable)."""
