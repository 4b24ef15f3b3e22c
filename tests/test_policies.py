"""Each policy moves the KPIs it should, in the direction it should, and books its cost."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import small_scenario
from sim.metrics import summarize
from sim.model import MarketModel
from sim.runner import run_scenario

WELCOME = "{name: welcome, target: new, coupon_type: fixed, value: 5, validity_days: 30, reissue_after_days: 365}"


@pytest.fixture(scope="module")
def base():
    return run_scenario(small_scenario())


def run(*sets: str):
    return run_scenario(small_scenario(*sets))


def model_run(*sets: str) -> tuple[MarketModel, dict]:
    model = MarketModel(small_scenario(*sets))
    model.run()
    return model, summarize(model.recorder.frame(), model.run_end(), model.policies.summary())


@pytest.mark.parametrize("section", [
    f"policies.subsidy={{enabled: false, campaigns: [{WELCOME}]}}",
    "policies.loyalty={enabled: false}",
    "policies.assortment={enabled: false, extra_categories_per_merchant: 3}",
    "policies.recommendation={enabled: false, personalisation: 1.0}",
    "policies.referral={enabled: false}",
    "policies.green_logistics={enabled: false, ev_share: 1.0}",
])
def test_policies_switched_off_reproduce_the_baseline_exactly(base, section):
    assert run(section).summary == base.summary


def test_a_recommendation_at_todays_level_changes_nothing(base):
    summary = dict(run("policies.recommendation={personalisation: 0.5}").summary)
    assert summary.pop("technology_cost") == 0.0  # its KPI, from its ledger flow: no running cost set
    assert summary == base.summary


def test_subsidy_raises_orders_and_costs_and_reports_cannibalisation(base):
    s = run("policies.subsidy={campaigns: [{name: all, target: everyone, coupon_type: percent, value: 20}]}").summary
    assert s["orders"] > base.summary["orders"] and s["subsidy_cost"] > 0
    assert s["coupons_redeemed"] > 0 and 0 < s["subsidy_cannibalisation_share"] < 1
    assert s["subsidy_cannibalised_cost"] < s["subsidy_cost"]
    # subsidy cost can exceed the GMV it adds: most coupons go to orders that came anyway
    assert s["subsidy_cost"] > 0.5 * (s["gmv"] - base.summary["gmv"])


def test_price_hunters_respond_more_to_the_same_coupon():
    model, _ = model_run("policies.subsidy={campaigns: [{name: all, target: everyone, coupon_type: percent, "
                         "value: 20}]}")
    seg = {s.name: i for i, s in enumerate(model.scenario.shoppers.segments)}
    mult = model.context.saving_multiplier(0.2)  # a 20% coupon, through the buy-or-not choice
    by_segment = {name: mult[model.shoppers.segment == i].mean() for name, i in seg.items()}
    assert by_segment["price_hunters"] > by_segment["premium"]
    # the coupon raises the price hunters' offer value by 4 x -ln(0.8); the nest (platform share 0.5, 75% of
    # the response switching) has theta = 0.25 x 3 / 0.5 = 1.5 and beta = 0.25 / 0.5 = 0.5, and the rate is
    # e^{theta g} (0.5 e^{theta g} + 0.5)^{beta / theta - 1}, relative to today's g
    ph = seg["price_hunters"]
    g = model.choice.offer_gain[ph]

    def rate(gain):
        return np.exp(1.5 * gain) * (0.5 * np.exp(1.5 * gain) + 0.5) ** (0.5 / 1.5 - 1.0)

    assert np.allclose(mult[model.shoppers.segment == ph], rate(g - 4.0 * np.log(0.8)) / rate(g))


def test_monthly_budget_caps_the_payout():
    model, s = model_run("policies.subsidy={campaigns: [{name: all, target: everyone, coupon_type: percent, "
                         "value: 30, monthly_budget: 100}]}")
    daily = model.recorder.frame()
    by_month = daily.groupby(daily["date"].map(lambda d: (d.year, d.month)))["subsidy_cost"].sum()
    assert (by_month <= 100 + 1e-9).all() and by_month.max() > 90


def test_winback_raises_reactivations(base):
    s = run("policies.subsidy={campaigns: [{name: wb, target: dormant, coupon_type: percent, value: 50}]}").summary
    assert s["reactivated_customers"] > 1.05 * base.summary["reactivated_customers"]
    assert s["coupons_issued"] > 0


def test_loyalty_lowers_churn_and_books_points_and_fees():
    quick = ["simulation.days=240", "shoppers.lifecycle={new_days: 14, dormant_after_days: 30, churned_after_days: 60}"]
    plain = run(*quick).summary
    loyal = run(*quick, "policies.loyalty={dropout_factor: 0.5, membership: {enabled: true, consideration: 0.5, "
                        "fee_per_month: 1}}").summary
    assert loyal["churn_rate_monthly"] < plain["churn_rate_monthly"]
    assert loyal["loyalty_cost"] > 0 and loyal["membership_revenue"] > 0 and loyal["members_end"] > 0
    assert loyal["platform_revenue"] >= plain["platform_revenue"] + loyal["membership_revenue"] * 0.5


HELD = ["simulation.days=240", "merchants.entry.monthly_rate=0", "merchants.exit.min_age_days=3650"]


def test_points_act_like_money_with_a_goal():
    """A richer point raises repeat orders (and costs more); points near the threshold are worth most."""
    orders, costs = [], []
    for value in (0.0, 0.03, 0.1):  # two markets pooled: 0.03 moves a small market's orders by less than 1%
        s = [run(*HELD, f"seed={seed}", f"policies.loyalty={{point_value: {value}}}").summary for seed in (42, 1)]
        orders.append(sum(x["repeat_orders"] for x in s))
        costs.append(sum(x["loyalty_cost"] for x in s))
    assert orders == sorted(orders) and orders[-1] > orders[0] and costs == sorted(costs)
    model = MarketModel(small_scenario("policies.loyalty={}"))
    p = next(p for p in model.policies if p.name == "loyalty")
    model.shoppers.is_customer[:] = True
    far = p.points_saving(model.context)
    p.points[:] = 450.0  # 50 points from the reward
    near = p.points_saving(model.context)
    assert np.all(near >= far) and near.mean() > 5 * far.mean()


def _membership(fee: float) -> tuple[dict, MarketModel]:
    model, s = model_run(*HELD, f"policies.loyalty={{membership: {{enabled: true, fee_per_month: {fee}, "
                         f"consideration: 0.5}}}}")
    return s, model


def test_membership_uptake_falls_with_the_fee_and_heavy_buyers_join():
    members = []
    for fee in (0.5, 1.0, 2.0, 4.0):
        s, model = _membership(fee)
        members.append(s["members_joined"])
        if fee == 1.0:
            p = next(p for p in model.policies if p.name == "loyalty")
            customers = model.shoppers.is_customer
            rate = model.shoppers.rate_weekly
            assert rate[p.member].mean() > 2 * rate[customers & ~p.member].mean()  # self-selection
    assert members == sorted(members, reverse=True) and members[0] > 2 * members[-1]


def test_membership_fee_is_earned_day_by_day():
    """Members who join at the January month end (day 30) and a run that ends on day 39 (9 days
    of February): the run earns 9/365 of a year's fees, not a whole month's."""
    model, _ = model_run("simulation.days=40", "merchants.entry.monthly_rate=0",
                         "policies.loyalty={membership: {enabled: true, fee_per_month: 1, consideration: 1}}")
    p = next(p for p in model.policies if p.name == "loyalty")
    members = int(p.member.sum())
    assert members > 0
    assert p.totals["membership_fees"] == pytest.approx(members * 1.0 * 12 / 365 * 9)


def test_assortment_changes_turnover_and_onboards_the_long_tail(base):
    model, s = model_run("policies.assortment={extra_categories_per_merchant: 2, onboard_longtail_merchants: 20}")
    assert s["inventory_turnover"] < 0.9 * base.summary["inventory_turnover"]  # more ranges, more stock
    assert model.merchant_table.size >= 40 + 20
    delist = run("policies.assortment={delist_turnover_below: 6}").summary
    assert delist["assortment_delisted_cells"] > 0
    assert delist["inventory_turnover"] > base.summary["inventory_turnover"]


NICHE = ("shoppers.segments=[{name: niche, share: 0.3, category_preferences: {books_media: 8.0, toys: 4.0}}, "
         "{name: mainstream, share: 0.7}]")


def test_stronger_personalisation_raises_orders_of_niche_shoppers_and_spreads_sales():
    low = run(NICHE, "simulation.days=200", "policies.recommendation={personalisation: 0.1}").summary
    high = run(NICHE, "simulation.days=200", "policies.recommendation={personalisation: 0.9}").summary
    niche_share = lambda s: s["orders_by_segment"]["niche"] / s["orders"]  # noqa: E731
    assert high["orders_by_segment"]["niche"] > 1.02 * low["orders_by_segment"]["niche"]
    assert niche_share(high) > niche_share(low)
    assert high["top_decile_merchant_share"] < low["top_decile_merchant_share"]
    assert high["merchants_active_end"] >= low["merchants_active_end"]


def test_several_policies_combine_and_every_cost_is_booked():
    s = run(f"policies.subsidy={{campaigns: [{WELCOME}]}}", "policies.loyalty={}", "policies.referral={}",
            "policies.recommendation={personalisation: 0.8, cost_per_month: 100}").summary
    assert s["subsidy_cost"] > 0 and s["loyalty_cost"] > 0 and s["referral_cost"] > 0


def test_a_coupon_the_shopper_cannot_use_does_not_lift_purchases(base):
    s = run("policies.subsidy={campaigns: [{name: a, target: everyone, value: 5, min_basket: 1000000000}]}").summary
    assert s["coupons_redeemed"] == 0 and s["subsidy_cost"] == 0
    assert s["orders"] == base.summary["orders"]


def test_delisting_losses_are_the_merchants_own_and_returns_never_restock_a_delisted_range():
    model, s = model_run("policies.assortment={delist_turnover_below: 8}", "simulation.days=150")
    t = model.merchant_table
    assert s["assortment_delisted_cells"] > 0
    assert (t.on_hand[~t.carries] == 0).all()


def test_every_summary_kpi_is_known_to_targets():
    """The KPI names targets accept stay in step with what summary.json really holds."""
    from sim.kpis import CATEGORY_RETURNS_PREFIX, SEGMENT_ORDERS_PREFIX
    from sim.scenario import known_kpis

    s = run(f"policies.subsidy={{campaigns: [{WELCOME}]}}", "policies.loyalty={}", "policies.referral={}",
            "policies.assortment={}", "policies.green_logistics={}", "policies.recommendation={personalisation: 0.5}",
            "simulation.days=20").summary
    numeric = {k for k, v in s.items() if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))}
    unknown = {k for k in numeric - known_kpis()
               if not k.startswith((SEGMENT_ORDERS_PREFIX, CATEGORY_RETURNS_PREFIX))} - {"days"}
    assert unknown == set()
    assert known_kpis() - numeric - {"days"} == set()


def test_a_target_may_name_a_policy_kpi():
    from sim.scenario import TargetConfig as Target
    assert Target(kpi="reactivated_customers", relative_change_min=0.1).kpi == "reactivated_customers"
    assert Target(kpi="subsidy_cannibalisation_share", max=0.5).max == 0.5
    with pytest.raises(ValueError, match="did you mean 'reactivated_customers'"):
        Target(kpi="reactivated_customer", min=1)


def test_the_recommender_cost_accrues_daily():
    model, _ = model_run("policies.recommendation={personalisation: 0.5, cost_per_month: 365}", "simulation.days=45")
    assert model.ledger.totals["technology"] == pytest.approx(45 * 12.0)


def test_every_hook_fans_out_through_one_mechanism():
    """base.HOOKS names every hook a Policy has, and PolicySet combines them as it says: a new hook is a
    method of Policy plus a line in HOOKS, and nothing in PolicySet."""
    import inspect

    from sim.policies import _fan_out
    from sim.policies.base import HOOKS, Policy
    not_hooks = {"check", "carbon_factors", "summary"}  # class-level checks and the summary, not hooks
    methods = {n for n, _ in inspect.getmembers(Policy, inspect.isfunction) if not n.startswith("_")}
    assert methods - not_hooks == set(HOOKS)
    calls = []
    a, b = (lambda *x: calls.append(("a", x)) or 2.0), (lambda *x: calls.append(("b", x)) or 3.0)
    assert _fan_out("sum", [a, b])("ctx") == 5.0 and _fan_out("product", [a, b])("ctx") == 6.0
    assert _fan_out("collect", [a, lambda *x: None, b])("ctx") == [2.0, 3.0]
    assert _fan_out("each", [a, b])("ctx") is None and [c[0] for c in calls[-2:]] == ["a", "b"]
    assert _fan_out("chain", [lambda ctx, v: v + 1, lambda ctx, v: None, lambda ctx, v: v * 10])("ctx", 1) == 20


def test_a_kpi_declared_by_its_flows_gets_its_daily_column_and_its_total():
    """The recommendation declares technology_cost by its ledger flow, nothing else: the daily series has
    the column, the summary its run total, and the platform's P&L the same line."""
    result = run("policies.recommendation={personalisation: 0.5, cost_per_month: 3000}")
    total = result.summary["technology_cost"]
    assert total == pytest.approx(3000 * 12 / 365 * len(result.daily), rel=1e-9)
    assert result.daily["technology_cost"].sum() == pytest.approx(total, rel=1e-12)
    pnl = result.pnl.set_index(["party", "line"])["amount"]
    assert -pnl[("platform", "technology")] == pytest.approx(total, rel=1e-12)


def test_the_printed_tables_and_key_charts_come_from_the_catalogue():
    from experiments.comparison_charts import KEY_KPIS
    from sim.kpis import CATALOGUE
    from sim.tables import TABLE
    assert [k for k, _, _ in TABLE] == [k.name for k in CATALOGUE if k.shown]
    assert dict((k, label) for k, label, _ in TABLE)["merchant_satisfaction"] == "merchant satisfaction"
    assert [k for k, _ in KEY_KPIS] == [k.name for k in CATALOGUE if k.key] and len(KEY_KPIS) == 8


def test_a_coupon_is_followed_by_a_dip():
    """One 20% coupon for every customer, valid 30 days: the customers of day 0 buy more during it and,
    with purchases pulled forward (acceleration_share), less than without the coupon in the two months
    after it, and less than when nothing is pulled forward (common random numbers)."""
    from sim.model import MarketModel

    coupon = ("policies.subsidy={campaigns: [{name: once, target: everyone, coupon_type: percent, value: 20, "
              "validity_days: 30, reissue_after_days: 3650}], acceleration_share: %s}")

    def orders_of_day0_customers(*extra):
        model = MarketModel(small_scenario("shoppers.count=20000", "simulation.days=90", *extra), log_orders=True)
        customers = np.flatnonzero(model.shoppers.is_customer)
        model.run()
        tx = model.transactions()
        day = tx.loc[tx["customer_id"].isin(customers), "day"]
        return int(day.between(0, 29).sum()), int(day.between(30, 89).sum())

    def pooled(*extra):  # two markets: the dip is a few percent of 60 days' orders of a small market
        return tuple(np.add(orders_of_day0_customers(*extra), orders_of_day0_customers("seed=1", *extra)))

    none, dip, no_dip = (pooled(*extra) for extra in ([], [coupon % 0.33], [coupon % 0.0]))
    assert dip[0] > none[0]  # the bump
    assert dip[1] < none[1] and dip[1] < no_dip[1]  # the dip after it


def test_a_loyalty_programme_with_worthless_points_changes_nothing():
    """Issue 21: the programme acts only through what its points are worth. With point_value 0 (and
    the membership off) no shopper gains anything, so repeat orders are those of the market without
    it, run for run (common random numbers): the paired change is exactly zero."""
    from sim.runner import run_scenario

    for seed in (1, 2):
        base = run_scenario(small_scenario(f"seed={seed}")).summary
        worthless = run_scenario(small_scenario(f"seed={seed}", "policies.loyalty={point_value: 0}")).summary
        assert worthless["repeat_orders"] == base["repeat_orders"]
        assert worthless["orders"] == base["orders"]


def test_a_returned_member_order_refunds_what_the_member_paid():
    """Issue 21: a member pays the order value less its delivery (free shipping); a return gives back that,
    not the full value (the returns book receives value - the member's delivery discount)."""
    from sim.model import MarketModel

    model = MarketModel(small_scenario("simulation.days=40", "returns.base_rate=0.5",
                                       "policies.loyalty={membership: {enabled: true, consideration: 1.0}}"))
    taken = []
    take = model.returns.take

    def spy(day, u, mq, sq, m, c, region, value, commission):
        taken.append(value.copy())
        return take(day, u, mq, sq, m, c, region, value, commission)

    model.returns.take = spy
    orders_seen = []
    on_orders = model.policies.on_orders

    loyalty = next(p for p in model.policies if p.name == "loyalty")

    def watch(ctx, orders):
        on_orders(ctx, orders)
        served = orders.fulfilled
        orders_seen.append((orders.value[served].copy(), loyalty.member[orders.shopper[served]].copy()))

    model.policies.on_orders = watch
    model.run()
    discounted = 0
    for (value, members), refunded in zip(orders_seen, taken, strict=True):
        assert np.all(refunded[~members] == value[~members])
        assert np.all(refunded[members] < value[members])
        discounted += int(members.sum())
    assert discounted > 0
