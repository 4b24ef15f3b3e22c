"""Engine restocking: an order placed at the end of day t is on the shelf at the start of day t+L."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from conftest import small_scenario
from sim.model import MarketModel


@pytest.mark.parametrize("lead", [1, 2, 5])
def test_lots_arrive_at_the_start_of_day_t_plus_lead_time(lead):
    model = MarketModel(small_scenario("simulation.days=30", f"merchants.replenishment.lead_time_days={lead}"))
    arrivals: list[tuple[int, int]] = []  # (placed_day, day whose start processed it)

    def spy(receive):
        def wrapped(lot):
            arrivals.append((lot.placed_day, model.day))
            receive(lot)
        return wrapped

    for supplier in model.supply.suppliers:
        supplier._receive = spy(supplier._receive)
    model.run()
    assert arrivals, "no replenishment lot arrived"
    assert {arrived - placed for placed, arrived in arrivals} == {lead}


def test_order_up_to_keeps_the_position_at_its_target():
    """Reviewed daily, after the day's orders stock on hand + on order covers L days of forecast demand."""
    model = MarketModel(small_scenario("simulation.days=40", "merchants.replenishment.safety_z=0",
                                       "merchants.replenishment.economic_order_cycle=false"))
    model.run()
    t = model.merchant_table
    L = model.scenario.merchants.replenishment.lead_time_days
    window = model.scenario.merchants.replenishment.forecast_window_days
    rows = [(t.history_pos - 1 - k) % t.demand_history.shape[0] for k in range(window)]
    target = L * t.demand_history[rows].mean(axis=0)
    carried = t.carries & t.active[:, None]
    position = (t.on_hand + t.on_order)[carried]
    assert (position >= target[carried] - 1e-9).all()
    # ordering tops up to ceil(target): cells with an order on the way sit just at it (cells of small
    # merchants may still be above it, on their opening stock)
    ordered = carried & (t.on_order > 0)
    assert ordered.sum() > 10 and np.mean((t.on_hand + t.on_order)[ordered] < target[ordered] + 1) > 0.8


def test_the_economic_order_cycle_follows_harris():
    """R = sqrt(2 K 365 / (h d)) days: K = 10 per order line, h = 0.25 x unit cost 16 a unit-year, d = 1 a
    day gives sqrt(7300 / 4) = 42.7 -> 43 days; a cell selling 16 times as much orders 4 times as often."""
    from agents.merchant import order_cycle_days
    from sim.config import MerchantsConfig

    cfg = MerchantsConfig.model_validate({"replenishment": {"economic_order_cycle": True, "order_cost": 10}})
    table = SimpleNamespace(unit_cost=np.array([[16.0, 16.0, 16.0]]))
    cycle = order_cycle_days(table, cfg, np.array([[1.0, 16.0, 0.0]]))
    assert cycle.tolist() == [[43, 11, 90]]  # nothing sold: the longest cycle, 90 days


@pytest.mark.parametrize("days", [2, 8, 14, 30])
def test_the_spread_of_the_cells_that_order_is_the_whole_tables_bit_for_bit(days):
    """Replenishment computes the demand's spread only for the cells ordering today; each must equal the
    spread over the whole table to the last bit (a gathered numpy std adds the days pairwise from 8 days
    on and differs by an ulp in about one cell in eight, which can move an order's ceiling)."""
    from agents.merchant import _cells_std

    rng = np.random.default_rng(days)
    history = np.concatenate([rng.poisson(1.5, (days + 3, 300, 8)).astype(float),
                              rng.lognormal(0.0, 1.0, (days + 3, 300, 8))], axis=1)
    for recent in (history[:days], history[(5 - np.arange(days)) % (days + 3)]):  # a window, and one gathered
        whole, mean = recent.std(axis=0, ddof=1), recent.mean(axis=0)
        for k in (0, 1, 2, 60, 4800):
            m, c = np.divmod(np.sort(rng.choice(4800, size=k, replace=False)), 8)
            np.testing.assert_array_equal(_cells_std(recent, mean, m, c).view(np.int64), whole[m, c].view(np.int64))


def test_dearer_orders_mean_fewer_orders_and_more_stock():
    """Response: a higher cost per order line -> larger, rarer orders: more stock, lower inventory turnover."""
    from sim.runner import run_scenario

    eoq = "merchants.replenishment.economic_order_cycle=true"
    cheap = run_scenario(small_scenario(eoq, "merchants.replenishment.order_cost=2"))
    dear = run_scenario(small_scenario(eoq, "merchants.replenishment.order_cost=20"))
    assert dear.summary["inventory_turnover"] < cheap.summary["inventory_turnover"]
