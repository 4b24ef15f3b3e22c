"""Shared helpers: small scenarios that run in well under a second."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")
# tests never read or fill the user's run cache (experiments/cache.py); the cache's own tests point it
# at a folder of their own
os.environ["ECOMSIM_CACHE"] = "off"

from sim.runner import run_scenario  # noqa: E402
from sim.scenario_io import load_scenario  # noqa: E402

BASELINE = ROOT / "scenarios" / "baseline.yaml"
# 5,000 shoppers and the baseline's 40 merchants (a market of its own, not a sample of the baseline's
# platform: represents null): each merchant sells a twentieth of what it does in the
# baseline, so its economic order cycle would be months long; the small market reviews stock daily, at
# the small cost per order line that goes with daily orders
SMALL = ["shoppers.count=5000", "shoppers.represents=null", "merchants.count=40", "suppliers.count=10",
         "simulation.days=120", "simulation.warmup_days=0", "merchants.replenishment.economic_order_cycle=false",
         "merchants.replenishment.order_cost=0.25"]


def small_scenario(*extra: str):
    """The baseline shrunk to 5,000 shoppers, 40 merchants, 120 days without warm-up, plus overrides."""
    return load_scenario(BASELINE, [*SMALL, *extra])


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`run.py ARGS` through the CLI's main() in this process: the exit code, stdout and stderr a user
    sees, without starting Python each time (a few tests still start run.py as a real process)."""
    from sim.cli import main

    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's own errors (exit 2) and --help (exit 0)
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["run.py", *args], code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def small_run():
    return run_scenario(small_scenario())
