"""The what-if studio: `run.py studio`, a Panel app over the batch engine (docs/studio.md)."""
