"""Shopper rules: BG/NBD dropout only after repeat purchases, lifecycle states, neutral experience."""

from __future__ import annotations

import numpy as np

from agents.shopper import NEVER, ShopperPopulation
from conftest import small_scenario
from sim.model import MarketModel
from sim.rng import Streams


def test_nobody_drops_out_without_a_repeat_purchase():
    """Dropout comes only at a repeat purchase occasion (BG/NBD). An occasion lost to a stock-out is
    still one (the hazard is calibrated on occasions) but leaves no second purchase on record, so the
    stock is unlimited here: every occasion is a purchase."""
    model = MarketModel(small_scenario("simulation.days=90", "shoppers.bgnbd.a=0.5", "shoppers.bgnbd.b=0.6",
                                       "merchants.unlimited_stock=true"))
    model.run()
    sh = model.shoppers
    dropped = sh.is_customer & ~sh.alive
    assert dropped.sum() > 100
    assert (sh.second_day[dropped] != NEVER).all()  # every dropout bought at least twice
    assert (sh.dropout_day[dropped] >= sh.second_day[dropped]).all()
    assert (sh.dropout_day[dropped] <= sh.last_day[dropped]).all()  # dropout happens at a purchase


def test_lifecycle_states_partition_the_population(small_run):
    d = small_run.daily
    n = small_run.scenario.shoppers.count
    prospects = n - d["customers_total"]
    total = prospects + d["active_customers"] + d["dormant_customers"] + d["churned_customers"]
    assert (total == n).all()
    assert (d["new_state"] <= d["active_customers"]).all()
    assert (d["customers_total"].diff().dropna() >= 0).all()  # cumulative


def test_experience_multipliers_are_neutral_when_nothing_went_wrong():
    cfg = small_scenario().shoppers
    sh = ShopperPopulation(cfg, np.random.default_rng(0), np.random.default_rng(1), Streams(0).counter("clock"))
    everyone = np.arange(sh.n)
    assert (sh.experience_rate_multiplier(everyone) == 1.0).all()
    sh.update_satisfaction(np.arange(10), np.zeros(10))  # ten bad orders
    m = sh.experience_rate_multiplier(everyone)
    assert (m[:10] < 1.0).all() and (m[10:] == 1.0).all()


def test_gamma_gamma_spend_has_the_model_mean():
    cfg = small_scenario("shoppers.count=200000").shoppers
    sh = ShopperPopulation(cfg, np.random.default_rng(0), np.random.default_rng(1), Streams(0).counter("clock"))
    rng = np.random.default_rng(2)
    spend = sh.order_spend(np.arange(sh.n), rng.random(sh.n, dtype=np.float32)) / sh.spend_multiplier
    gg = cfg.spend
    assert abs(spend.mean() / (gg.p * gg.gamma / (gg.q - 1)) - 1) < 0.03


def test_a_joiner_whose_first_order_is_lost_still_ages_into_dormant_and_churned():
    """Recency counts from joining, so a failed first order does not keep a customer 'active'."""
    model = MarketModel(small_scenario("simulation.days=60", "shoppers.stockout_behaviour=lost",
                                       "merchants.initial_stock_days=0",
                                       "merchants.replenishment.lead_time_days=30"))
    model.run()
    sh = model.shoppers
    never_served = sh.is_customer & (sh.orders_in_run == 0) & (sh.first_day >= 0)
    assert never_served.sum() > 10
    assert (sh.last_day[sh.is_customer] != NEVER).all()
    assert (sh.last_day[never_served] == sh.first_day[never_served]).all()
