"""The KPI catalogue: every summary KPI declared once, with its unit, meaning and computation.

`sim/metrics.py` computes the summary from this list, policies declare theirs in their own
modules with the same `Kpi` type, and `compare`, targets, charts and docs/kpis.md (checked by
tests/test_docs.py) read it. A KPI is computed one of three ways:

- `flows`: the run total of these ledger flows (the ledger's own running total);
- `column`: the sum over the run of that daily column (sim/metrics.py records it; money columns
  are the day's ledger flows, `DAILY_FLOWS` there);
- neither: a formula in sim/metrics.py (`FORMULAS`), named like the KPI.

`better` says which direction is good for the platform's goals ("higher", "lower" or
"neither"), so charts can colour a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sim.carbon import STAGES

Direction = Literal["higher", "lower", "neither"]


@dataclass(frozen=True)
class Kpi:
    """One summary KPI. Units: 'currency' is the scenario's currency; shares are 0-1."""

    name: str
    unit: str
    definition: str
    better: Direction = "neither"
    flows: tuple[str, ...] = ()
    column: str | None = None
    core: bool = False  # one of DESIGN.md section 3's keys


def _core(name: str, unit: str, definition: str, better: Direction = "neither", **how) -> Kpi:
    return Kpi(name, unit, definition, better, core=True, **how)


# DESIGN.md section 3, in that order (summary.json keeps this order).
CORE = (
    _core("gmv", "currency", "value of served orders", "higher", column="gmv"),
    _core("orders", "orders", "served purchase attempts, first and repeat", "higher", column="orders"),
    _core("aov", "currency per order", "gmv / orders", "higher"),
    _core("new_customers", "customers", "prospects who joined during the run", "higher", column="new_customers"),
    _core("customers_total", "customers", "customers at the end (initial + new)", "higher"),
    _core("active_customers_end", "customers", "customers who bought within the dormancy window, last day",
          "higher"),
    _core("churn_rate_monthly", "share per month", "observable churn: customers reaching N days without a purchase "
          "(counted from the run's start) per month / customers not churned", "lower"),
    _core("dropout_rate_monthly", "share per month", "latent churn (simulator only): customers who truly dropped out "
          "per month / customers alive", "lower"),
    _core("second_purchase_90d", "share", "cohort share with a second purchase within 90 days of the first", "higher"),
    _core("repeat_purchase_rate", "share", "customers with a repeat order in the run / customers", "higher"),
    _core("platform_revenue", "currency", "platform inflows net of commission refunds", "higher"),
    _core("platform_profit", "currency", "platform revenue - platform costs (its ledger balance)", "higher"),
    _core("merchant_profit", "currency", "merchants' accrual profit, all merchants", "higher",
          column="merchant_profit"),
    _core("subsidy_cost", "currency", "coupon discounts paid by the platform", "lower", flows=("subsidy",)),
    _core("referral_cost", "currency", "referral rewards paid by the platform", "lower", flows=("referral",)),
    _core("loyalty_cost", "currency", "points' cost accrued when earned (value x (1 - breakage), trued up on "
          "redemption) and members' free shipping", "lower", flows=("loyalty", "free_shipping")),
    _core("marketing_cost", "currency", "paid acquisition spend", "lower", flows=("marketing",)),
    _core("logistics_cost", "currency", "platform logistics + merchants' shipping + freight", "lower",
          column="logistics_cost"),
    _core("carbon_kg", "kg CO2e", "emissions of all five stages of what was sold and delivered (production is an "
          "assumption: see carbon_logistics_kg)", "lower", column="carbon_kg"),
    _core("carbon_per_order_kg", "kg CO2e per order", "carbon_kg / orders", "lower"),
    _core("fill_rate", "share", "orders / purchase attempts", "higher"),
    _core("stockout_rate", "share", "attempts whose first choice was out of stock / attempts", "lower"),
    _core("avg_delivery_days", "days", "mean realised delivery time of served orders", "lower"),
    _core("late_delivery_rate", "share", "orders delayed by the fleet's backlog / orders", "lower"),
    _core("bullwhip_ratio", "ratio", "variance of daily replenishment orders / variance of daily demand", "lower"),
    _core("inventory_turnover", "turns per year", "units sold per unit of mean stock on hand, annualised",
          "higher"),
    _core("merchants_active_end", "merchants", "merchants active at the end", "higher"),
    _core("merchant_satisfaction", "share", "merchants active at the end with positive trailing-quarter profit / "
          "every merchant active at any time in the run (those who left count as dissatisfied)", "higher"),
    _core("return_rate", "share", "served orders flagged for return / orders", "lower"),
    _core("cac", "currency per new customer", "(marketing + referral cost) / new customers", "lower"),
    _core("repeat_transactions_per_customer", "orders per customer", "repeat orders / customers_total", "higher"),
)

# Acquisition channels with their own KPIs (sim/acquisition.CHANNELS without 'initial').
JOIN_CHANNELS = ("paid", "organic", "word_of_mouth", "referral")

EXTRA = (
    Kpi("units_demanded", "units", "requests that reached a merchant", column="units_demanded"),
    Kpi("lost_sales", "attempts", "purchase attempts nobody served", "lower", column="lost_sales"),
    Kpi("repeat_orders", "orders", "served repeat orders", "higher", column="repeat_orders"),
    Kpi("latent_alive_end", "shoppers", "customers not latently dropped out at the end (unobservable)", "higher"),
    Kpi("merchants_joined", "merchants", "merchants created after the day-0 market", "higher"),
    Kpi("merchants_left", "merchants", "merchants who left during the run", "lower"),
    Kpi("days", "days", "number of daily rows"),
    Kpi("refunds", "currency", "order value refunded for returns due in the run", "lower", column="refunds"),
    Kpi("net_gmv", "currency", "gmv - refunds", "higher"),
    Kpi("merchant_exit_rate_annual", "share per year", "merchants who left / merchants active at any time in the "
        "run, per year", "lower"),
    Kpi("merchant_net_margin", "share", "merchant_profit / net_gmv", "higher"),
    Kpi("platform_take_rate", "share", "platform_revenue / gmv (commission, ads, fulfilment and other fees)"),
    Kpi("payment_processing_cost", "currency", "card processing paid by the platform", "lower",
        flows=("payment_processing",)),
    Kpi("returns_outstanding_end", "orders", "orders flagged for return whose refund falls after the run"),
    Kpi("carbon_levy", "currency", "internal carbon price paid by the platform", "lower", column="carbon_levy"),
    Kpi("platform_logistics_cost", "currency", "the platform's part of logistics_cost", "lower",
        column="platform_logistics_cost"),
    Kpi("parcels_late", "orders", "orders delayed by the fleet's backlog", "lower", column="late_deliveries"),
    Kpi("reactivated_customers", "orders (reactivations)", "repeat orders of customers who were dormant or churned",
        "higher", column="reactivated_customers"),
    Kpi("top_decile_merchant_share", "share", "share of GMV won by the top 10% of merchants ever created"),
    *(Kpi(f"carbon_{stage}_kg", "kg CO2e", f"emissions of stage {stage}", "lower", column=f"carbon_{stage}_kg")
      for stage in STAGES),
    Kpi("carbon_logistics_kg", "kg CO2e", "line haul + last mile + packaging + warehousing: carbon_kg without the "
        "production assumption", "lower"),
    *(Kpi(f"new_customers_{ch}", "customers", f"joiners attributed to channel {ch}", "higher",
          column=f"new_customers_{ch}") for ch in JOIN_CHANNELS),
    Kpi("cac_paid", "currency per paid new customer", "marketing_cost / new_customers_paid", "lower"),
    Kpi("cac_referral", "currency per referred new customer", "referral_cost / new_customers_referral", "lower"),
    Kpi("k_factor", "new customers per customer", "referred joiners / mean daily customers", "higher"),
)

CATALOGUE: tuple[Kpi, ...] = (*CORE, *EXTRA)
SUMMARY_KEYS = tuple(k.name for k in CORE)
# served orders by segment: one flat key per segment (`orders_segment_<name>`), and a mapping
SEGMENT_ORDERS_PREFIX = "orders_segment_"
# return rate by category: one flat key per category (`return_rate_category_<name>`)
CATEGORY_RETURNS_PREFIX = "return_rate_category_"


def by_name(kpis: tuple[Kpi, ...] | list[Kpi] = CATALOGUE) -> dict[str, Kpi]:
    return {k.name: k for k in kpis}
