"""Same seed, same bits; different seed, different run; common random numbers across scenarios."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import small_scenario
from sim.model import MarketModel
from sim.runner import run_scenario


def test_same_seed_gives_identical_summary_and_daily_series(small_run):
    again = run_scenario(small_scenario())
    assert again.summary == small_run.summary
    pd.testing.assert_frame_equal(again.daily, small_run.daily, check_exact=True)


def test_different_seeds_differ(small_run):
    other = run_scenario(small_scenario("seed=12345"))
    assert other.summary["gmv"] != small_run.summary["gmv"]
    assert not other.daily["orders"].equals(small_run.daily["orders"])


def test_common_random_numbers_across_scenarios():
    """Two scenarios with one seed share shoppers' traits and each day's uniforms."""
    base = MarketModel(small_scenario())
    other = MarketModel(small_scenario("platform.take_rate=0.2", "choice.ad_weight=0.9"))
    sa, sb = base.shoppers, other.shoppers
    for column in ("segment", "rate_weekly", "dropout_p", "spend_rate", "is_customer", "last_day"):
        np.testing.assert_array_equal(getattr(sa, column), getattr(sb, column))
    np.testing.assert_array_equal(sa.purchase_clock, sb.purchase_clock)
    everyone = np.arange(sa.n)
    for day in range(5):
        for name in ("join", "merchant", "drop"):
            np.testing.assert_array_equal(base._draw_streams[name].uniform(day, everyone),
                                          other._draw_streams[name].uniform(day, everyone))


def test_a_lever_that_changes_nothing_upstream_keeps_shopper_draws_aligned():
    """Raising the take rate moves money, not shoppers: with merchants' entry and exit (their response
    to profit, which changes the offer shoppers see) and their pass-through of fees into prices held,
    orders are identical."""
    held = ["simulation.days=60", "merchants.entry.monthly_rate=0", "merchants.exit.min_age_days=3650",
            "merchants.cost_pass_through=0"]
    a = run_scenario(small_scenario(*held))
    b = run_scenario(small_scenario(*held, "platform.take_rate=0.15"))
    pd.testing.assert_series_equal(a.daily["orders"], b.daily["orders"])
    assert b.summary["platform_revenue"] > a.summary["platform_revenue"]


@pytest.mark.slow
def test_the_same_bits_whatever_the_machines_blas_threads():
    """A run's KPIs do not depend on how many threads OpenBLAS uses, which follows the machine's cores: a
    threaded BLAS reduction (a long dot product, as customer equity once was) rounds differently on another
    machine. Over 10,000 customers, where OpenBLAS splits a dot product across its threads."""
    import json
    import os
    import subprocess
    import sys

    from conftest import ROOT
    code = ("import json, sys; from sim.scenario_io import load_scenario; from sim.runner import run_scenario; "
            f"s = load_scenario({str(ROOT / 'scenarios' / 'bench.yaml')!r}, ['shoppers.count=80000', "
            "'shoppers.represents=80000', 'simulation.days=3', 'simulation.warmup_days=0']); "
            "from sim.model import MarketModel; m = MarketModel(s); sh = m.shoppers; "
            "customers = int((sh.alive & sh.is_customer).sum()); m.release(); r = run_scenario(s); "
            "print(json.dumps({'customers': customers, **{k: repr(v) for k, v in r.summary.items() "
            "if 'seconds' not in k}}))")
    runs = []
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert runs[0]["customers"] > 10_000  # OpenBLAS threads a dot product from 10,000 elements
    assert runs[0] == runs[1]
