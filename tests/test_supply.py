"""Engine restocking: an order placed at the end of day t is on the shelf at the start of day t+L."""

from __future__ import annotations

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
    """After the day's orders, stock on hand + on order covers L days of forecast demand."""
    model = MarketModel(small_scenario("simulation.days=40", "merchants.replenishment.safety_z=0"))
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
