#!/usr/bin/env python3
"""ecomsim command line; see README.md (`python run.py run scenarios/baseline.yaml`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
