"""The printed tables: the headline KPIs each policy declares exist and are printed when it is on."""

from __future__ import annotations

from conftest import ROOT, SMALL, cli
from sim.kpis import by_name
from sim.policies import REGISTRY, policy_kpis
from sim.tables import format_table, policy_rows


def test_every_policy_declares_headline_kpis_that_exist():
    catalogue = by_name([*by_name().values(), *policy_kpis()])
    for name, policy in REGISTRY.items():
        assert policy.headline, name
        unknown = [k for k in policy.headline if k not in catalogue]
        assert not unknown, (name, unknown)


def test_headline_rows_follow_the_units():
    rows = {key: fmt for key, _, fmt in policy_rows(["subsidy", "green_logistics"])}
    assert rows["subsidy_cannibalisation_share"] == "{:.2%}" and rows["coupons_issued"] == "{:,}"
    assert rows["subsidy_cost"] == "{:,.0f} {cur}" and rows["carbon_per_order_kg"].endswith("kg CO2e per order")
    summary = {"subsidy_cost": 1234.5, "coupons_issued": 12.0}
    text = format_table({**{k: 0 for k in ("gmv", "orders", "aov", "new_customers", "customers_total",
                                            "active_customers_end", "churn_rate_monthly", "dropout_rate_monthly",
                                            "second_purchase_90d", "repeat_purchase_rate", "platform_revenue",
                                            "platform_profit", "merchant_profit", "cac", "fill_rate",
                                            "merchants_active_end", "merchants_left", "merchant_satisfaction",
                                            "carbon_kg")}, **summary}, "EUR", "t", ["subsidy"])
    assert "policies on: subsidy" in text and "1,234 EUR" in text and "coupons issued" in text


def test_run_prints_the_headline_kpis_of_its_policies(tmp_path):
    sets = [a for s in [*SMALL, "simulation.days=30"] for a in ("--set", s)]
    scenario = ROOT / "scenarios" / "green_logistics.yaml"
    proc = cli("run", str(scenario), "--out", str(tmp_path / "out"), *sets)
    assert proc.returncode == 0, proc.stderr
    assert "policies on: green_logistics" in proc.stdout
    for label in ("carbon per order", "carbon levy", "delivery time (days)", "late deliveries"):
        assert label in proc.stdout, label


def test_only_a_policys_own_kpis_are_blank_where_it_is_off():
    """A policy's own KPIs and the costs made of its flows mean nothing without it ("—"); the market KPIs it
    heads (delivery time, carbon per order, return rate) are measured in every scenario."""
    from sim.tables import policy_owners
    owners = policy_owners()
    assert owners["subsidy_cost"] == {"subsidy"} and owners["carbon_levy"] == {"green_logistics"}
    assert owners["members_end"] == {"loyalty"}
    for market_kpi in ("carbon_per_order_kg", "avg_delivery_days", "return_rate", "inventory_turnover", "cac_paid"):
        assert market_kpi not in owners
