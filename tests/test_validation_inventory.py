"""Inventory theory reproduced by the model itself (DESIGN.md section 5).

Bullwhip: an order-up-to merchant with a p-day moving-average forecast and lead time L
amplifies the variance of its orders over that of demand by 1 + 2L/p + 2L^2/p^2 (Chen,
Drezner, Ryan & Simchi-Levi 2000, for iid demand and a fixed safety stock); tolerance 10%.

Base stock: type-1 service and fill rate against the backorder closed forms for Binomial
lead-time demand, built from the scenario's parameters, not the run (experiments/validation.py,
`base_stock`, which states the tolerances). The model loses sales, which can only raise service
over those forms: about 1 point at z = 1.5 and 0.2 at z = 2, more at lower z, so z = 1.5 and 2.
"""

from __future__ import annotations

import pytest

from conftest import ROOT
from experiments.validation import base_stock, daily_demand
from sim.model import MarketModel
from sim.runner import run_scenario
from sim.scenario_io import load_scenario

VALIDATION = ROOT / "scenarios" / "validation"


@pytest.mark.slow
@pytest.mark.parametrize("lead,window", [(2, 8), (4, 5)])
def test_bullwhip_ratio_matches_chen_et_al(lead, window):
    scenario = load_scenario(VALIDATION / "bullwhip.yaml", [
        f"merchants.replenishment.lead_time_days={lead}",
        f"merchants.replenishment.forecast_window_days={window}",
        f"merchants.initial_stock_days={lead + 1}",
    ])
    result = run_scenario(scenario)
    expected = 1 + 2 * lead / window + 2 * lead**2 / window**2
    assert result.summary["bullwhip_ratio"] == pytest.approx(expected, rel=0.10)
    assert result.summary["fill_rate"] > 0.999  # the premise: sales equal demand


@pytest.mark.slow
def test_without_forecasting_there_is_no_bullwhip():
    """A base-stock merchant passes demand through unchanged: ratio 1 (a test that can fail)."""
    scenario = load_scenario(VALIDATION / "bullwhip.yaml", ["merchants.replenishment.policy=base_stock",
                                                            "merchants.initial_stock_days=3"])
    assert run_scenario(scenario).summary["bullwhip_ratio"] == pytest.approx(1.0, abs=0.05)


@pytest.mark.slow
@pytest.mark.parametrize("z", [1.5, 2.0])
def test_base_stock_service_levels_match_closed_forms(z):
    type1, fill = base_stock(z)  # experiments/validation.py: the run, its conservation check and the formulas
    assert type1.passed, f"type-1 {type1.model:.4f} vs P(X_L <= S) {type1.reference:.4f} ({type1.tolerance})"
    assert fill.passed, f"fill {fill.model:.5f} vs {fill.reference:.5f} ({fill.tolerance})"
    assert 0.0 < type1.model < 1.0  # stock-outs happen: the comparison is not vacuous


def test_base_stock_demand_parameters_match_the_opening_demand():
    """The reference's expected daily demand (scenario parameters, Gamma Laplace transform) is the
    mu0 the model stocks for; they differ only by the draw of 5,000 shopper rates (sd ~0.13%)."""
    scenario = load_scenario(VALIDATION / "base_stock.yaml")
    n, p = daily_demand(scenario)
    assert MarketModel(scenario).merchant_table.mu0[0, 0] == pytest.approx(n * p, rel=0.005)
