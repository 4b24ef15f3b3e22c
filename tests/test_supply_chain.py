"""The SimPy supply chain, last mile, returns and carbon: mechanisms move what they should."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import small_scenario
from sim.invariants import violations
from sim.model import MarketModel
from sim.runner import run_scenario


def lots_of(model: MarketModel) -> list:
    """Every lot the suppliers produce, recorded as it leaves the line."""
    lots = []
    for s in model.supply.suppliers:
        produced = s._on_produced

        def spy(supplier, lot, produced=produced):
            lots.append(lot)
            produced(supplier, lot)
        s._on_produced = spy
    return lots


def test_capacity_queues_lots_and_delays_reach_shoppers():
    free = run_scenario(small_scenario())
    model = MarketModel(small_scenario("suppliers.capacity_units_per_day=0.5"))
    lots = lots_of(model)
    model.run()
    assert violations(model) == []
    L = model.scenario.merchants.replenishment.lead_time_days
    waits = np.array([lot.arrival_day - lot.placed_day - L for lot in lots])
    assert waits.max() > 10 and waits[-20:].mean() > waits[:20].mean()  # a queue that builds up
    for lot in lots:  # arrival = placed + L + ceil(busy days) - 1
        busy = lot.produced_at - (lot.placed_day + 1)
        assert lot.arrival_day - lot.placed_day - L == max(0, math.ceil(busy - 1e-9) - 1)
    tight = model.recorder.frame()
    assert tight["stockout_events"].sum() > 2 * free.daily["stockout_events"].sum()
    assert tight["lost_sales"].sum() > free.daily["lost_sales"].sum()
    assert model.shoppers.satisfaction.mean() < 0.999


@pytest.mark.parametrize("spec,mean", [
    (["distribution=gamma", "mean_days=3", "sd_days=1.5"], 3.0),
    (["distribution=uniform", "low_days=1", "high_days=5"], 3.0),
    (["distribution=exponential", "mean_days=2"], 2.0),
])
def test_lead_time_delays_follow_their_distribution(spec, mean):
    model = MarketModel(small_scenario(*[f"suppliers.lead_time_delay.{s}" for s in spec]))
    lots = lots_of(model)
    model.run()
    L = model.scenario.merchants.replenishment.lead_time_days
    delays = np.array([lot.arrival_day - lot.placed_day - L for lot in lots])
    assert delays.size > 300
    assert delays.mean() == pytest.approx(mean, abs=0.25)
    assert violations(model) == []


def test_a_peak_overwhelms_the_fleet_and_deliveries_run_late():
    peak = ["seasonality.peaks=[{name: sale, date: '02-10', multiplier: 10.0}]", "simulation.days=60",
            "logistics.capacity_headroom=3"]
    quiet = run_scenario(small_scenario("seasonality.peaks=[]", "simulation.days=60", "logistics.capacity_headroom=3"))
    busy = run_scenario(small_scenario(*peak))
    d = busy.daily
    day = int(np.flatnonzero(d["season_multiplier"].to_numpy() > 1)[0])
    assert d["fleet_backlog"].iloc[day] > 0
    # the peak's days (over the whole run, a one-day peak of a small market is lost in the other causes of
    # lateness: its late parcels are a handful among a thousand orders)
    window = slice(day, day + 3)
    assert d["late_deliveries"].iloc[window].sum() > quiet.daily["late_deliveries"].iloc[window].sum()
    # every parcel handed to the fleet is delivered or still in the backlog
    handed = d["platform_parcels"].sum()
    assert d["parcels_delivered_by_fleet"].sum() + d["fleet_backlog"].iloc[-1] == handed


def test_returns_are_refunded_and_rise_as_quality_falls():
    good = run_scenario(small_scenario("merchants.quality_mean=0.95"))
    poor = run_scenario(small_scenario("merchants.quality_mean=0.5"))
    for r in (good, poor):
        assert r.summary["net_gmv"] == pytest.approx(r.summary["gmv"] - r.summary["refunds"])
        assert r.summary["refunds"] > 0
    assert poor.summary["return_rate"] > good.summary["return_rate"] + 0.05
    assert poor.summary["refunds"] > good.summary["refunds"]


def test_no_returns_when_switched_off():
    r = run_scenario(small_scenario("returns.base_rate=0", "returns.quality_slope=0"))
    assert r.summary["return_rate"] == 0 and r.summary["refunds"] == 0


def test_carbon_stages_add_up_and_last_mile_follows_the_factor_table():
    model = MarketModel(small_scenario("simulation.days=60"))
    model.run()
    daily = model.recorder.frame()
    stages = [c for c in daily.columns if c.startswith("carbon_") and c.endswith("_kg") and c != "carbon_kg"]
    assert len(stages) == 5
    np.testing.assert_allclose(daily[stages].sum(axis=1), daily["carbon_kg"])
    assert (daily[stages].sum() > 0).all()
    # warehousing: one factor per order served
    assert daily["carbon_warehousing_kg"].sum() == pytest.approx(daily["orders"].sum() * model.factors("warehousing",
                                                                                                       "default"))
    # production: units produced x intensity (green suppliers at their lower factor)
    assert model.carbon.totals["production"] > 0


def test_defaults_run_with_every_supply_kpi_real(small_run):
    s = small_run.summary
    for key in ("carbon_kg", "carbon_per_order_kg", "logistics_cost", "avg_delivery_days", "return_rate",
                "bullwhip_ratio", "inventory_turnover"):
        assert s[key] > 0, key
    assert 0 < s["fill_rate"] <= 1 and 0 <= s["stockout_rate"] < 1


def test_waits_promised_at_hand_over_are_the_waves_that_deliver():
    """FIFO waits computed at order time agree, parcel for parcel, with the SimPy waves."""
    model = MarketModel(small_scenario("simulation.days=80", "logistics.capacity_headroom=0.8",
                                       "logistics.resize_monthly=false",
                                       "seasonality.peaks=[{name: sale, date: '02-10', multiplier: 5.0}]"))
    promised = []
    hand_over = model.last_mile.hand_over

    def spy(region, priority):
        wait = hand_over(region, priority)
        promised.append(model.day + wait)
        return wait

    model.last_mile.hand_over = spy
    model.run()
    due = np.bincount(np.concatenate(promised), minlength=200)[:80]
    delivered = model.recorder.frame()["parcels_delivered_by_fleet"].to_numpy()
    np.testing.assert_array_equal(delivered, due)
    assert due.sum() > 0 and (np.concatenate(promised) - np.repeat(np.arange(len(promised)),
                                                                   [p.size for p in promised])).max() > 0


def test_monthly_fleet_review_follows_a_growing_customer_base():
    growth = ["simulation.days=150", "acquisition.innovation_p=0.002", "seasonality.peaks=[]"]
    fixed = run_scenario(small_scenario(*growth, "logistics.resize_monthly=false"))
    review = run_scenario(small_scenario(*growth))
    assert fixed.summary["late_delivery_rate"] > 1.2 * review.summary["late_delivery_rate"]
    assert review.summary["platform_logistics_cost"] > fixed.summary["platform_logistics_cost"]


def test_make_to_order_still_books_production_carbon_and_freight():
    r = run_scenario(small_scenario("merchants.unlimited_stock=true", "simulation.days=30"))
    assert r.summary["carbon_production_kg"] > 0 and r.summary["carbon_line_haul_kg"] > 0
    assert r.daily["units_ordered"].sum() == 0  # nothing is replenished: units are made as sold


def test_fleet_review_grows_at_once_even_with_a_backlog_and_shrinks_only_when_clear():
    model = MarketModel(small_scenario())
    lm = model.last_mile
    start = lm.fleet.capacity.copy()
    lm.backlog[:] = 500
    lm._days = 40
    lm._recent[:] = 10 * start / model.scenario.logistics.capacity_headroom  # ten times the parcels
    lm.resize()
    np.testing.assert_allclose(lm.fleet.capacity, 10 * start)  # a backlog does not hold growth back
    lm._recent[:] = 0.1 * start / model.scenario.logistics.capacity_headroom
    lm.resize()
    np.testing.assert_allclose(lm.fleet.capacity, 10 * start)  # shrinking waits for an empty queue
    lm.backlog[:] = 0
    for r in range(start.size):
        lm._deliver(r)
    np.testing.assert_allclose(lm.fleet.capacity, 0.1 * start)


def test_a_lot_never_arrives_before_it_is_made():
    model = MarketModel(small_scenario("merchants.replenishment.lead_time_days=1",
                                       "suppliers.capacity_units_per_day=1", "simulation.days=60"))
    lots = lots_of(model)
    seen = []
    for s in model.supply.suppliers:
        receive = s._receive

        def spy(lot, receive=receive):
            seen.append((lot.arrival_day, model.env.now))
            receive(lot)
        s._receive = spy
    model.run()
    assert seen and all(abs(arrival - now) < 1e-9 for arrival, now in seen)
    assert all(lot.arrival_day >= lot.produced_at - 1e-9 for lot in lots)
