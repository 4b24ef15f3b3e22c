"""The model reproduces BG/NBD expected repeat transactions E[X(t)] (DESIGN.md section 5).

The cohort scenario is run as a user would run it; its repeat_transactions_per_customer is
compared with Fader, Hardie & Lee (2005) eq. 9 at t = days / 7 weeks. Tolerance 3%: the
model buys at most once a day with probability 1 - exp(-lambda/7), which is the continuous
process seen in daily steps (it misses a second purchase on the same day), plus Monte
Carlo error of about 0.5% at 100,000 shoppers; measured -0.1% to -0.6% (docs/model.md).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from conftest import ROOT
from experiments.validation import CDNOW  # Fader, Hardie & Lee (2005), table 1
from sim.bgnbd import expected_repeat_transactions
from sim.runner import run_scenario
from sim.scenario_io import load_scenario

COHORT = ROOT / "scenarios" / "validation" / "bgnbd_cohort.yaml"


@pytest.mark.parametrize("params", [
    CDNOW,
    pytest.param({"r": 0.5, "alpha": 2.0, "a": 1.5, "b": 3.0}, marks=pytest.mark.slow),  # heavier, faster dropout
    pytest.param({"r": 1.2, "alpha": 8.0, "a": 0.6, "b": 5.0}, marks=pytest.mark.slow),
], ids=["cdnow", "heavy", "loyal"])
def test_cohort_matches_expected_repeat_transactions(params):
    scenario = load_scenario(COHORT, [f"shoppers.bgnbd.{k}={v}" for k, v in params.items()])
    result = run_scenario(scenario)
    weeks = scenario.simulation.days / 7.0
    expected = float(expected_repeat_transactions(weeks, **params))
    observed = result.summary["repeat_transactions_per_customer"]
    assert result.summary["new_customers"] == 0
    assert result.summary["customers_total"] == scenario.shoppers.count
    assert observed == pytest.approx(expected, rel=0.03), f"model {observed:.4f} vs E[X(t)] {expected:.4f}"


def test_cohort_defaults_are_the_cdnow_fit():
    scenario = load_scenario(COHORT)
    assert scenario.shoppers.bgnbd.model_dump() == pytest.approx(CDNOW)
    assert scenario.simulation.days == 273  # 39 weeks, the CDNOW calibration period


@pytest.mark.parametrize("t", [1.0, 10.0, 39.0, 78.0])
def test_closed_form_matches_numerical_integration(t):
    """E[X(t)] = E over p ~ Beta(a, b) of (1 - (alpha / (alpha + p t))^r) / p (lambda integrated out)."""
    r, alpha, a, b = CDNOW.values()
    integrand = lambda p: -np.expm1(r * np.log(alpha / (alpha + p * t))) / p * stats.beta.pdf(p, a, b)  # noqa: E731
    value, _ = integrate.quad(integrand, 0, 1, limit=200)
    assert expected_repeat_transactions(t, **CDNOW) == pytest.approx(value, rel=1e-6)


def test_discounted_residual_transactions_match_a_simulated_cohort():
    """DERT = q / (1 - (1 - p) q), q = lambda / (lambda + delta), against an independent Monte Carlo of the
    same process: exponential gaps at rate lambda, dropout with probability p after each purchase, each
    purchase discounted by e^(-delta t). 1 / p when nothing is discounted."""
    from sim.bgnbd import discounted_residual_transactions

    rng = np.random.default_rng(7)
    delta = np.log1p(0.10) / 52.0
    for lam, p in ((0.05, 0.3), (0.5, 0.1), (2.0, 0.6)):
        n, k = 100_000, 100
        gaps = rng.exponential(1.0 / lam, size=(n, k))
        t = np.cumsum(gaps, axis=1)
        last = rng.geometric(p, size=n)  # the purchase after which the customer drops out
        counted = np.arange(1, k + 1)[None, :] <= last[:, None]
        simulated = float((np.exp(-delta * t) * counted).sum(axis=1).mean())
        closed = float(discounted_residual_transactions(np.array([lam]), np.array([p]), delta)[0])
        assert abs(simulated / closed - 1) < 0.01, (lam, p, simulated, closed)
        assert np.isclose(discounted_residual_transactions(np.array([lam]), np.array([p]), 0.0)[0], 1 / p)


def test_customer_equity_responds_to_dropout_and_the_discount_rate():
    """Customers who drop out sooner, or a future worth less, leave less equity at the end (common random
    numbers); a run's equity is positive."""
    from conftest import small_scenario
    from sim.runner import run_scenario

    def equity(*sets):
        return run_scenario(small_scenario("simulation.days=30", *sets)).summary["customer_equity_end"]

    today = equity()
    assert today > 0
    assert equity("platform.discount_rate_per_year=0.3") < today
    assert equity("shoppers.bgnbd.b=1.2") < today  # mean dropout probability a / (a + b): 0.25 -> 0.40
