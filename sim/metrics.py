"""KPIs: the daily series and the run summary (definitions and units: docs/kpis.md).

The recorder only records: the model closes its day (ledger, carbon, counters) and hands the
day's observations over. The summary is computed from the KPI catalogue (sim/kpis.py): sums
of daily columns, run totals of ledger flows, and the formulas below. Money KPIs come from the
ledger's flows (merchant_profit is accrual: the merchants' margin plus the write-offs and
credits booked outside the ledger); customer KPIs from the shopper columns; supply KPIs from
the unit counters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.carbon import STAGES
from sim.kpis import CATALOGUE, CATEGORY_RETURNS_PREFIX, JOIN_CHANNELS, SEGMENT_ORDERS_PREFIX, Kpi, ratio
from sim.ledger import Ledger

if TYPE_CHECKING:
    import pandas as pd

# Daily money columns of the market: the day's ledger flows. Besides these, every KPI computed from
# ledger flows (the catalogue's and the policies', `Kpi.flows`) has a daily column of its own name.
# A flow nobody books (e.g. of a policy that is off) is 0.
MARKET_FLOWS: dict[str, tuple[str, ...]] = {
    "gmv": ("sale",),
    "logistics_cost": ("logistics", "shipping", "freight"),
    "platform_logistics_cost": ("logistics",),
    "goods_cost": ("goods",),
    "refunds": ("refund",),
}

# The daily series' columns before and after the flow KPIs' columns (docs/kpis.md defines each).
_BEFORE_FLOWS = (
    "day", "date", "season_multiplier", "gmv", "orders", "first_orders", "repeat_orders", "order_attempts",
    "lost_sales", "fallback_orders", "stockout_events", "new_customers",
    *(f"new_customers_{ch}" for ch in JOIN_CHANNELS),
    "customers_total", "active_customers", "new_state", "dormant_customers", "churned_customers",
    "churn_entries", "churn_at_risk", "alive_latent", "recommenders", "dropouts", "platform_revenue", "platform_cost",
    "merchant_profit",
)
_AFTER_FLOWS = (
    "logistics_cost", "platform_logistics_cost", "goods_cost", "refunds", "returns", "returns_decided", "carbon_kg",
    *(f"carbon_{s}_kg" for s in STAGES), "units_demanded", "units_sold", "units_ordered", "on_hand_units",
    "delivery_days_sum", "late_deliveries", "reactivated_customers", "platform_parcels", "parcels_delivered_by_fleet",
    "fleet_backlog", "merchants_active", "platform_profit",
)


def flow_columns(kpis: Iterable[Kpi]) -> dict[str, tuple[str, ...]]:
    """The daily column of every KPI computed from ledger flows: its name -> its flows."""
    return {k.name: k.flows for k in kpis if k.flows}


def daily_columns(kpis: Iterable[Kpi] = CATALOGUE) -> tuple[str, ...]:
    """The daily series' columns, in order, with those of these KPIs' flows (pass the policies' too)."""
    return (*_BEFORE_FLOWS, *flow_columns(kpis), *_AFTER_FLOWS)


COLUMNS = daily_columns()  # the market's; a run's series adds its policies' flow KPIs (DailyRecorder)


class DailyRecorder:
    """Collects one row of KPIs per day from what the model observed and the day's books."""

    def __init__(self, ledger: Ledger, kpis: Iterable[Kpi] = CATALOGUE) -> None:
        """`kpis`: every KPI declared (the catalogue's and the policies'): those computed from ledger
        flows get a daily column."""
        self.ledger = ledger
        self.flows = {**MARKET_FLOWS, **flow_columns(kpis)}
        self.columns = daily_columns(kpis)
        self.rows: list[dict[str, Any]] = []

    def record(self, observed: dict[str, Any], flows: dict[str, float], carbon: dict[str, float]) -> None:
        """`observed`: the model's counts for the day; `flows`, `carbon`: the day's closed books."""
        row = dict(observed)
        for column, names in self.flows.items():
            row[column] = sum(flows.get(f, 0.0) for f in names)
        row["platform_revenue"] = self.ledger.inflow("platform", flows) - flows["commission_refund"]
        row["platform_cost"] = self.ledger.outflow("platform", flows) - flows["commission_refund"]
        row["platform_profit"] = row["platform_revenue"] - row["platform_cost"]
        row["carbon_kg"] = sum(carbon.values())
        for stage, kg in carbon.items():
            row[f"carbon_{stage}_kg"] = kg
        self.rows.append({c: row[c] for c in self.columns})

    def frame(self) -> pd.DataFrame:
        return daily_frame(self.rows, self.columns)


def daily_frame(rows: list[dict[str, Any]], columns: Iterable[str]) -> pd.DataFrame:
    """The daily KPIs as a table: a row per recorded day (DailyRecorder.rows), in the recorder's columns."""
    import pandas as pd

    return pd.DataFrame(rows, columns=list(columns))


class CohortRecorder:
    """Monthly cohorts' repeat buying, as a retailer sees it: at each month end of the measured period,
    for every cohort (the calendar month of its customers' first purchase, measured months only), how
    many of its customers bought in that month. The retention curves of the run's charts."""

    def __init__(self, calendar_start: dt.date, days: int, warmup: int) -> None:
        dates = [calendar_start + dt.timedelta(days=d) for d in range(days)]
        first = dates[warmup] if warmup < days else calendar_start
        self.month = np.array([(x.year - first.year) * 12 + x.month - first.month for x in dates])  # per day
        self.label = {int(m): f"{d.year}-{d.month:02d}" for m, d in zip(self.month, dates, strict=True)}
        self.warmup = warmup
        self.rows: list[dict[str, object]] = []

    def record(self, day: int, first_day: np.ndarray, last_day: np.ndarray) -> None:
        """At the month end `day`: each measured cohort's size and how many of it bought this month."""
        if day < self.warmup:
            return
        now = int(self.month[day])
        month_start = day - int(np.count_nonzero(self.month[: day + 1] == now)) + 1
        joined = (first_day >= self.warmup) & (first_day <= day)
        cohort = self.month[first_day[joined]]
        size = np.bincount(cohort, minlength=now + 1)
        bought = np.bincount(cohort[last_day[joined] >= month_start], minlength=now + 1)
        for c in range(now + 1):
            if size[c]:
                self.rows.append({"cohort": self.label[c], "month": self.label[now], "months_since": now - c,
                                  "customers": int(size[c]), "buyers": int(bought[c])})


@dataclass
class RunEnd:
    """What the summary reads besides the daily series: the state at the end, as plain arrays."""

    first_day: np.ndarray           # shoppers
    second_day: np.ndarray
    is_customer: np.ndarray
    alive: np.ndarray
    repeats_in_run: np.ndarray
    orders_in_run: np.ndarray
    segment: np.ndarray
    segment_names: list[str]
    category_names: list[str]
    orders_by_category: np.ndarray  # served orders per category in the measured period
    returns_by_category: np.ndarray  # of those, flagged for return
    initial_history_days: int
    measure_start: int              # the first measured day, in simulated days (= the warm-up's length)
    churn_after_days: int           # N: days without a purchase that make a customer churned
    churn_at_risk_start: int        # customers not churned (counted from the run's start) before day 0
    alive_start: int                # latently alive customers before day 0
    is_month_end: np.ndarray        # measured days
    forecast_window_days: int
    merchant_active: np.ndarray     # merchants ever created
    merchant_trailing_profit: np.ndarray  # trailing-90-day accrual profit per merchant
    merchant_gmv: np.ndarray
    merchants_joined: int
    returns_outstanding: int
    ledger_totals: dict[str, float]
    ledger_flows: dict[str, tuple[str, str]]  # flow -> (payer, payee)
    merchant_accrual: dict[str, float]  # P&L lines outside the ledger (agents/merchant.py: Merchants.accrual)
    merchants_left: int             # merchants who left during the run
    merchants_in_window: int        # merchants active at any time in the measured window
    merchants_satisfied: int        # of those: active at the end with positive trailing-quarter profit
    platform_balance: float
    platform_inflow: float          # the platform's ledger inflows over the run
    shoppers: int = 0               # shoppers simulated (shoppers.count)
    sample_fraction: float = 1.0    # shoppers simulated / the platform's (shoppers.represents)
    residual_gmv_start: float = 0.0  # discounted GMV the customers on the books will still bring, day 0
    residual_gmv_end: float = 0.0    # the same at the end (MarketModel.residual_gmv: latent truth)
    cohorts: list[dict[str, object]] = field(default_factory=list)  # CohortRecorder.rows


def _value(kpi: Kpi, daily: pd.DataFrame, end: RunEnd, summary: dict[str, Any]) -> Any:
    if kpi.column is not None:
        total = daily[kpi.column].sum()
        return int(total) if np.issubdtype(daily[kpi.column].dtype, np.integer) else float(total)
    if kpi.flows:
        return float(sum(end.ledger_totals.get(f, 0.0) for f in kpi.flows))
    if kpi.compute is None:
        raise ValueError(f"KPI {kpi.name} says neither its flows, its column nor how to compute it")
    return kpi.compute(daily, end, summary)


def summarize(daily: pd.DataFrame, end: RunEnd, policy_values: dict[str, float],
              policy_kpis: Iterable[Kpi] = ()) -> dict[str, Any]:
    """The run summary (summary.json): the catalogue's KPIs in its order, served orders by segment,
    then the KPIs of the policies that are on: `policy_values` (from their totals) and, for those of
    `policy_kpis` declared by their ledger flows, the flows' run totals."""
    summary: dict[str, Any] = {}
    for kpi in CATALOGUE:
        summary[kpi.name] = _value(kpi, daily, end, summary)
        if kpi.name == "top_decile_merchant_share":
            summary["orders_by_segment"] = {name: int(end.orders_in_run[end.segment == i].sum())
                                            for i, name in enumerate(end.segment_names)}
    for name, count in summary["orders_by_segment"].items():
        summary[f"{SEGMENT_ORDERS_PREFIX}{name}"] = count  # flat, so that compare can compare them
    for i, name in enumerate(end.category_names):
        summary[f"{CATEGORY_RETURNS_PREFIX}{name}"] = ratio(end.returns_by_category[i], end.orders_by_category[i])
    summary.update(policy_values)
    for kpi in policy_kpis:
        if kpi.flows:
            summary[kpi.name] = _value(kpi, daily, end, summary)
    return summary


# --- P&L tables ---------------------------------------------------------------------------------

# Contra lines: a flow that takes back part of another (refunds reduce sales, commission refunds reduce commission).
CONTRA = {"refund": "sale", "commission_refund": "commission"}
# Merchants' cash flows that the accrual P&L replaces: stock bought (-> cost of goods sold) and
# liquidation proceeds (-> stock written off, net of what was recovered).
MERCHANT_CASH_ONLY = ("goods", "salvage")


def pnl_table(end: RunEnd) -> pd.DataFrame:
    """Profit and loss of the platform and of the merchants (accrual), line by line, with shares of GMV.

    Lines are the ledger flows each party pays or receives (refunds net against the line they
    reverse) and, for merchants, the accrual lines kept outside the ledger. Each party's lines add
    up to its profit: the platform's ledger balance and the merchants' accrual profit."""
    import pandas as pd

    totals, flows = end.ledger_totals, end.ledger_flows
    gmv = float(totals.get("sale", 0.0))
    rows: list[tuple[str, str, str, float]] = []
    for party in ("platform", "merchants"):
        lines: dict[str, tuple[str, float]] = {}
        for flow, (payer, payee) in flows.items():
            if party == "merchants" and flow in MERCHANT_CASH_ONLY:
                continue
            if party not in (payer, payee):
                continue
            amount = float(totals.get(flow, 0.0)) * (1.0 if payee == party else -1.0) + 0.0  # no -0.0
            reversed_flow = CONTRA.get(flow, flow)
            kind = "revenue" if flows[reversed_flow][1] == party else "cost"
            lines[flow] = (kind, amount)
        if party == "merchants":
            acc = end.merchant_accrual
            lines["cost_of_goods_sold"] = ("cost", -(acc["cost_of_goods_sold"] - acc["returns_restocked"]))
            lines["stock_written_off"] = ("cost", -acc["stock_written_off"])
        for line, (kind, amount) in sorted(lines.items(), key=lambda kv: kv[1][0] != "revenue"):
            rows.append((party, kind, line, amount))
        rows.append((party, "profit", "profit", sum(amount for _, amount in lines.values())))
    table = pd.DataFrame(rows, columns=["party", "kind", "line", "amount"])
    table["share_of_gmv"] = table["amount"] / gmv if gmv else 0.0
    return table
