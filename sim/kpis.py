"""The KPI catalogue: every summary KPI declared once, with everything the code and docs say of it.

A declaration (`Kpi`) holds the name, unit, label (tables and charts), which direction is good,
the definition, and how the value is computed, one of:

- `flows`: the run total of these ledger flows (the ledger's own running total); the daily
  series gets a column of the same name with the day's flows (sim/metrics.py);
- `column`: the sum over the run of that daily column (sim/metrics.py records it);
- `compute`: a formula of (daily series, the run's end state `sim.metrics.RunEnd`, the summary so
  far), in catalogue order, so a formula may read the KPIs declared before it.

`shown` puts it in the table `run` and `compare` print, `key` among the key KPIs of the comparison
charts; `fmt` overrides the table format its unit implies. Policies declare their KPIs in their own
modules with the same type. sim/metrics.py computes the summary from this list; sim/tables.py,
experiments/comparison_charts.py, targets and compare read it; tests/test_docs.py checks docs/kpis.md against it.
Adding a KPI is one declaration here (and the golden file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sim.carbon import STAGES

if TYPE_CHECKING:
    import pandas as pd

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
    compute: Callable[[pd.DataFrame, Any, dict[str, Any]], Any] | None = None
    label: str = ""          # in tables and charts; default: the name with spaces
    shown: bool = False      # in the printed table of run and compare
    key: bool = False        # one of the key KPIs of the comparison charts
    fmt: str | None = None   # the printed table's format, where the unit's default does not suit
    core: bool = False       # one of DESIGN.md section 3's keys

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")


def _core(name: str, unit: str, definition: str, better: Direction = "neither", **how) -> Kpi:
    return Kpi(name, unit, definition, better, core=True, **how)


# --- formulas' helpers (daily: the measured days' series; end: sim.metrics.RunEnd) ----------------

def ratio(num: float, den: float) -> float:
    """num / den, or 0 when den is 0 (a KPI of an empty run is 0, not an error)."""
    return float(num) / float(den) if den else 0.0


def measured(num: float, den: float) -> float | None:
    """num / den, or None (n/a: summary.json null, printed "n/a") when there is nothing to divide by: a cost
    per new customer of a run without new customers is not 0, it is not measured."""
    return float(num) / float(den) if den else None


def _monthly_rate(daily: pd.DataFrame, end: Any, events: str, base: str, base_start: int,
                  first_month_start: int = 0) -> float | None:
    """Mean over calendar months of (events in the month / `base` at the end of the day before it),
    over the months that start on or after measured day `first_month_start`."""
    days = len(daily)
    month_start = np.r_[0, np.flatnonzero(end.is_month_end[: days - 1]) + 1]
    rates = []
    for i, start in enumerate(month_start):
        stop = month_start[i + 1] if i + 1 < len(month_start) else days
        if start < first_month_start:
            continue
        before = base_start if start == 0 else daily[base].iloc[start - 1]
        rates.append(ratio(daily[events].iloc[start:stop].sum(), before))
    return float(np.mean(rates)) if rates else None  # no month to measure it in: n/a


def _churn_rate_monthly(daily: pd.DataFrame, end: Any) -> float | None:
    """Observable churn: customers reaching N days without a purchase (counted from the run's start) in a
    month / customers not churned at its start; mean of the months that start after day N of the run,
    when every customer who has not bought since the run's start churns at once (a one-day spike)."""
    after_spike = end.churn_after_days - end.measure_start + 1  # measured day after the spike
    return _monthly_rate(daily, end, "churn_entries", "churn_at_risk", end.churn_at_risk_start, after_spike)


def _dropout_rate_monthly(daily: pd.DataFrame, end: Any) -> float:
    """Latent dropout: customers who truly left in a month / customers alive at its start; mean of months."""
    return _monthly_rate(daily, end, "dropouts", "alive_latent", end.alive_start)


def _second_purchase_90d(daily: pd.DataFrame, end: Any) -> float | None:
    """Share of the run's cohort (or the day-0 cohort) who bought again within 90 days of their first purchase."""
    last = end.measure_start + len(daily) - 1
    first_min = -1 if end.initial_history_days == 0 and end.measure_start == 0 else end.measure_start
    cohort = end.is_customer & (end.first_day >= first_min) & (end.first_day <= last - 90)
    retained = cohort & (end.second_day - end.first_day <= 90)
    return measured(retained.sum(), cohort.sum())  # n/a in a run shorter than 90 days


def _bullwhip_ratio(daily: pd.DataFrame, end: Any) -> float:
    days = len(daily)
    warm = min(end.forecast_window_days, days // 2)
    ordered = daily["units_ordered"].to_numpy(dtype=float)
    demand = daily["units_demanded"].to_numpy(dtype=float)
    var_d = float(np.var(demand[warm:], ddof=1)) if days - warm > 2 else 0.0
    var_o = float(np.var(ordered[warm:], ddof=1)) if days - warm > 2 else 0.0
    return ratio(var_o, var_d)


def _top_decile_share(gmv_by_merchant: np.ndarray) -> float:
    """Share of the run's GMV won by the top 10% of merchants ever created (concentration of sales)."""
    sales = np.sort(gmv_by_merchant)[::-1]
    top = max(1, int(np.ceil(0.1 * sales.size)))
    return ratio(sales[:top].sum(), sales.sum())


def _col(daily: pd.DataFrame, name: str) -> float:
    return daily[name].sum()


# DESIGN.md section 3, in that order (summary.json keeps this order).
CORE = (
    _core("gmv", "currency", "value of served orders", "higher", column="gmv", label="GMV", shown=True, key=True),
    _core("orders", "orders", "served purchase attempts, first and repeat", "higher", column="orders", label="orders",
          shown=True, key=True),
    _core("aov", "currency per order", "gmv / orders", "higher", label="average order value", shown=True,
          compute=lambda d, e, s: ratio(s["gmv"], s["orders"])),
    _core("new_customers", "customers", "prospects who joined during the run", "higher", column="new_customers",
          label="new customers", shown=True),
    _core("customers_total", "customers", "customers at the end (initial + new)", "higher", label="customers (end)",
          shown=True, compute=lambda d, e, s: int(e.is_customer.sum())),
    _core("active_customers_end", "customers", "customers who bought within the dormancy window, last day",
          "higher", label="active customers (end)", shown=True,
          compute=lambda d, e, s: int(d["active_customers"].iloc[-1])),
    _core("churn_rate_monthly", "share per month", "observable churn: customers reaching N days without a purchase "
          "(counted from the run's start) per month / customers not churned", "lower", label="churn rate, monthly",
          shown=True, key=True, compute=lambda d, e, s: _churn_rate_monthly(d, e)),
    _core("dropout_rate_monthly", "share per month", "latent churn (simulator only): customers who truly dropped out "
          "per month / customers alive", "lower", label="dropout rate, monthly (latent)", shown=True,
          compute=lambda d, e, s: _dropout_rate_monthly(d, e)),
    _core("second_purchase_90d", "share", "cohort share with a second purchase within 90 days of the first", "higher",
          label="second purchase within 90 days", shown=True, key=True,
          compute=lambda d, e, s: _second_purchase_90d(d, e)),
    _core("repeat_purchase_rate", "share", "customers with a repeat order in the run / customers", "higher",
          label="repeat purchase rate", shown=True,
          compute=lambda d, e, s: ratio(np.count_nonzero(e.repeats_in_run), s["customers_total"])),
    _core("platform_revenue", "currency", "platform inflows net of commission refunds", "higher",
          label="platform revenue", shown=True,
          compute=lambda d, e, s: e.platform_inflow - float(e.ledger_totals.get("commission_refund", 0.0))),
    _core("platform_profit", "currency", "platform revenue - platform costs (its ledger balance)", "higher",
          label="platform profit", shown=True, key=True, compute=lambda d, e, s: e.platform_balance),
    _core("merchant_profit", "currency", "merchants' accrual profit, all merchants", "higher",
          column="merchant_profit", label="merchant profit", shown=True, key=True),
    _core("subsidy_cost", "currency", "coupon discounts paid by the platform", "lower", flows=("subsidy",)),
    _core("referral_cost", "currency", "referral rewards paid by the platform", "lower", flows=("referral",)),
    _core("loyalty_cost", "currency", "points' cost accrued when earned (value x (1 - breakage), trued up on "
          "redemption) and members' free shipping", "lower", flows=("loyalty", "free_shipping")),
    _core("marketing_cost", "currency", "paid acquisition spend", "lower", flows=("marketing",)),
    _core("logistics_cost", "currency", "platform logistics + merchants' shipping + freight", "lower",
          column="logistics_cost"),
    _core("carbon_kg", "kg CO2e", "emissions of all five stages of what was sold and delivered (production is an "
          "assumption: see carbon_logistics_kg)", "lower", column="carbon_kg", label="carbon", shown=True,
          fmt="{:,.0f} kg CO2e", key=True),
    _core("carbon_per_order_kg", "kg CO2e per order", "carbon_kg / orders", "lower",
          compute=lambda d, e, s: ratio(_col(d, "carbon_kg"), s["orders"]), label="carbon per order"),
    _core("fill_rate", "share", "orders / purchase attempts", "higher", label="fill rate", shown=True,
          compute=lambda d, e, s: ratio(s["orders"], _col(d, "order_attempts"))),
    _core("stockout_rate", "share", "attempts whose first choice was out of stock / attempts", "lower",
          compute=lambda d, e, s: ratio(_col(d, "stockout_events"), _col(d, "order_attempts")), label="stockout rate"),
    _core("avg_delivery_days", "days", "mean realised delivery time of served orders", "lower",
          compute=lambda d, e, s: ratio(_col(d, "delivery_days_sum"), s["orders"]), label="delivery time (days)"),
    _core("late_delivery_rate", "share", "orders delayed by the fleet's backlog / orders", "lower",
          compute=lambda d, e, s: ratio(_col(d, "late_deliveries"), s["orders"]), label="late deliveries"),
    _core("bullwhip_ratio", "ratio", "variance of daily replenishment orders / variance of daily demand", "lower",
          compute=lambda d, e, s: _bullwhip_ratio(d, e)),
    _core("inventory_turnover", "turns per year", "units sold per unit of mean stock on hand, annualised",
          "higher",
          compute=lambda d, e, s: ratio(_col(d, "units_sold"), float(d["on_hand_units"].mean())) * 365.0 / len(d),
          label="inventory turns a year"),
    _core("merchants_active_end", "merchants", "merchants active at the end", "higher", label="merchants active (end)",
          shown=True, compute=lambda d, e, s: int(np.count_nonzero(e.merchant_active))),
    _core("merchant_satisfaction", "share", "merchants active at the end with positive trailing-quarter profit / "
          "every merchant active at any time in the run (those who left count as dissatisfied)", "higher",
          label="merchant satisfaction", shown=True, fmt="{:.1%}", key=True,
          compute=lambda d, e, s: ratio(e.merchants_satisfied, e.merchants_in_window)),
    _core("return_rate", "share", "served orders flagged for return / orders", "lower",
          compute=lambda d, e, s: ratio(_col(d, "returns_decided"), s["orders"])),
    _core("cac", "currency per new customer", "(marketing + referral cost) / new customers", "lower",
          label="CAC (acquisition spend / new customer)", shown=True,
          compute=lambda d, e, s: measured(s["marketing_cost"] + float(e.ledger_totals.get("referral", 0.0)),
                                            s["new_customers"])),
    _core("repeat_transactions_per_customer", "orders per customer", "repeat orders / customers_total", "higher",
          compute=lambda d, e, s: ratio(_col(d, "repeat_orders"), s["customers_total"])),
)

# Acquisition channels with their own KPIs (sim/acquisition.CHANNELS without 'initial').
JOIN_CHANNELS = ("paid", "organic", "word_of_mouth", "referral")

EXTRA = (
    Kpi("units_demanded", "units", "requests that reached a merchant", column="units_demanded"),
    Kpi("lost_sales", "attempts", "purchase attempts nobody served", "lower", column="lost_sales"),
    Kpi("repeat_orders", "orders", "served repeat orders", "higher", column="repeat_orders"),
    Kpi("latent_alive_end", "shoppers", "customers not latently dropped out at the end (unobservable)", "higher",
        compute=lambda d, e, s: int(e.alive.sum())),
    Kpi("merchants_joined", "merchants", "merchants created after the day-0 market", "higher",
        compute=lambda d, e, s: e.merchants_joined),
    Kpi("merchants_left", "merchants", "merchants who left during the run", "lower",
        label="merchants left (during the run)", shown=True, compute=lambda d, e, s: e.merchants_left),
    Kpi("days", "days", "number of daily rows", compute=lambda d, e, s: len(d)),
    Kpi("refunds", "currency", "order value refunded for returns due in the run", "lower", column="refunds"),
    Kpi("net_gmv", "currency", "gmv - refunds", "higher", compute=lambda d, e, s: s["gmv"] - s["refunds"]),
    Kpi("merchant_exit_rate_annual", "share per year", "merchants who left / merchants active at any time in the "
        "run, per year", "lower",
        compute=lambda d, e, s: ratio(e.merchants_left, e.merchants_in_window) * 365.0 / len(d)),
    Kpi("merchant_net_margin", "share", "merchant_profit / net_gmv", "higher",
        compute=lambda d, e, s: ratio(s["merchant_profit"], s["net_gmv"])),
    Kpi("platform_take_rate", "share", "platform_revenue / gmv (commission, ads, fulfilment and other fees)",
        compute=lambda d, e, s: ratio(s["platform_revenue"], s["gmv"])),
    Kpi("payment_processing_cost", "currency", "card processing paid by the platform", "lower",
        flows=("payment_processing",)),
    Kpi("returns_outstanding_end", "orders", "orders flagged for return whose refund falls after the run",
        compute=lambda d, e, s: e.returns_outstanding),
    Kpi("carbon_levy", "currency", "internal carbon price paid by the platform", "lower", flows=("carbon_levy",)),
    Kpi("platform_logistics_cost", "currency", "the platform's part of logistics_cost", "lower",
        column="platform_logistics_cost"),
    Kpi("parcels_late", "orders", "orders delayed by the fleet's backlog", "lower", column="late_deliveries"),
    Kpi("reactivated_customers", "orders (reactivations)", "repeat orders of customers who were dormant or churned",
        "higher", column="reactivated_customers"),
    Kpi("top_decile_merchant_share", "share", "share of GMV won by the top 10% of merchants ever created",
        compute=lambda d, e, s: _top_decile_share(e.merchant_gmv), label="GMV share of the top 10% of merchants"),
    *(Kpi(f"carbon_{stage}_kg", "kg CO2e", f"emissions of stage {stage}", "lower", column=f"carbon_{stage}_kg")
      for stage in STAGES),
    Kpi("carbon_logistics_kg", "kg CO2e", "line haul + last mile + packaging + warehousing: carbon_kg without the "
        "production assumption", "lower",
        compute=lambda d, e, s: float(sum(_col(d, f"carbon_{st}_kg") for st in STAGES if st != "production")),
        label="carbon of logistics"),
    *(Kpi(f"new_customers_{ch}", "customers", f"joiners attributed to channel {ch}", "higher",
          column=f"new_customers_{ch}", label=f"new customers by {ch.replace('_', ' ')}") for ch in JOIN_CHANNELS),
    Kpi("cac_paid", "currency per paid new customer", "marketing_cost / new_customers_paid", "lower",
        compute=lambda d, e, s: measured(s["marketing_cost"], s["new_customers_paid"]), label="CAC, paid marketing"),
    Kpi("cac_referral", "currency per referred new customer", "referral_cost / new_customers_referral", "lower",
        compute=lambda d, e, s: measured(s["referral_cost"], s["new_customers_referral"]), label="CAC, referral"),
    Kpi("k_factor", "new customers per customer", "referred joiners / mean daily customers", "higher",
        compute=lambda d, e, s: ratio(s["new_customers_referral"], float(d["customers_total"].mean())),
        label="viral coefficient (k)"),
    Kpi("merchant_satisfaction_ceiling", "share", "merchants active at the end / every merchant active at any "
        "time in the run: the most merchant_satisfaction can be, since merchants who left count as dissatisfied "
        "(a target above it cannot be met)", "higher",
        compute=lambda d, e, s: ratio(int(np.count_nonzero(e.merchant_active)), e.merchants_in_window)),
    Kpi("dropout_rate_monthly_churn_base", "share per month", "latent dropouts per month / customers not churned "
        "(churn_rate_monthly's base), so the two rates can be set side by side", "lower",
        compute=lambda d, e, s: _monthly_rate(d, e, "dropouts", "churn_at_risk", e.churn_at_risk_start)),
    Kpi("contribution_share", "share", "(platform_revenue - payment_processing_cost - platform_logistics_cost) / "
        "gmv: what a unit of GMV leaves the platform before fixed costs, marketing and policies", "higher",
        compute=lambda d, e, s: ratio(s["platform_revenue"] - s["payment_processing_cost"]
                                      - s["platform_logistics_cost"], s["gmv"])),
    Kpi("customer_equity_start", "currency", "the customers on the books at day 0: discounted expected residual "
        "GMV (latent truth, BG/NBD DERT) x contribution_share", "higher",
        compute=lambda d, e, s: e.residual_gmv_start * s["contribution_share"]),
    Kpi("customer_equity_end", "currency", "the same for the customers on the books at the end", "higher",
        compute=lambda d, e, s: e.residual_gmv_end * s["contribution_share"]),
    Kpi("customer_equity_change", "currency", "customer_equity_end - customer_equity_start: the value a run "
        "leaves in its customer base beyond the year", "higher",
        compute=lambda d, e, s: s["customer_equity_end"] - s["customer_equity_start"]),
    Kpi("platform_profit_with_equity", "currency", "platform_profit + customer_equity_change", "higher",
        label="platform profit + customer equity change", shown=True,
        compute=lambda d, e, s: s["platform_profit"] + s["customer_equity_change"]),
)

# A run of shoppers.count shoppers is a sample of shoppers.represents (docs/model.md, "a sample stands for
# the platform"): the headline totals per shopper simulated, and at the platform's scale.
PER_SHOPPER = ("gmv", "orders", "platform_profit", "merchant_profit", "carbon_kg")
AT_SCALE = ("gmv", "orders", "new_customers", "platform_profit", "merchant_profit", "carbon_kg")
_UNITS = {k.name: k.unit for k in (*CORE, *EXTRA)}

SCALE = (
    Kpi("shoppers_represented", "shoppers", "the platform's shoppers this run stands for (shoppers.represents, "
        "or shoppers.count)", compute=lambda d, e, s: round(e.shoppers / e.sample_fraction) if e.shoppers else 0),
    *(Kpi(f"{name}_per_shopper", f"{_UNITS[name]} per shopper", f"{name} / shoppers simulated (prospects "
          "included): the same for any sample size of one scenario", "lower" if name == "carbon_kg" else "higher",
          compute=lambda d, e, s, name=name: ratio(s[name], e.shoppers)) for name in PER_SHOPPER),
    *(Kpi(f"{name}_at_scale", _UNITS[name], f"{name} / (shoppers.count / shoppers.represents): the platform's "
          "total (the run's own total when it is the whole platform)", "lower" if name == "carbon_kg" else "higher",
          compute=lambda d, e, s, name=name: s[name] / e.sample_fraction) for name in AT_SCALE),
)

CATALOGUE: tuple[Kpi, ...] = (*CORE, *EXTRA, *SCALE)
SUMMARY_KEYS = tuple(k.name for k in CORE)
# served orders by segment: one flat key per segment (`orders_segment_<name>`), and a mapping
SEGMENT_ORDERS_PREFIX = "orders_segment_"
# return rate by category: one flat key per category (`return_rate_category_<name>`)
CATEGORY_RETURNS_PREFIX = "return_rate_category_"


def by_name(kpis: tuple[Kpi, ...] | list[Kpi] = CATALOGUE) -> dict[str, Kpi]:
    return {k.name: k for k in kpis}
