"""Shared helpers: small scenarios that run in well under a second."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

from sim.runner import run_scenario  # noqa: E402
from sim.scenario_io import load_scenario  # noqa: E402

BASELINE = ROOT / "scenarios" / "baseline.yaml"
SMALL = ["shoppers.count=5000", "merchants.count=40", "suppliers.count=10", "simulation.days=120",
         "simulation.warmup_days=0"]


def small_scenario(*extra: str):
    """The baseline shrunk to 5,000 shoppers, 40 merchants, 120 days without warm-up, plus overrides."""
    return load_scenario(BASELINE, [*SMALL, *extra])


@pytest.fixture(scope="session")
def small_run():
    return run_scenario(small_scenario())
