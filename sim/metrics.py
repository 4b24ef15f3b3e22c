"""KPIs: the daily series and the run summary (definitions and units: docs/kpis.md).

Money KPIs are read from the ledger's flows (merchant_profit is accrual: the
ledger's merchant cash flow plus the change in stock value, checked in tests); customer KPIs from the shopper columns; supply
KPIs from the unit counters. Nothing is computed twice in two ways.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.acquisition import CHANNELS
from sim.carbon import STAGES
from sim.ledger import FLOWS

if TYPE_CHECKING:
    from sim.model import MarketModel
    from sim.orders import OrderBatch

# Summary keys of DESIGN.md section 3, in that order.
SUMMARY_KEYS = (
    "gmv", "orders", "aov", "new_customers", "customers_total", "active_customers_end",
    "churn_rate_monthly", "retention_90d", "repeat_purchase_rate", "platform_revenue",
    "platform_profit", "merchant_profit", "subsidy_cost", "referral_cost", "loyalty_cost",
    "marketing_cost", "logistics_cost", "carbon_kg", "carbon_per_order_kg", "fill_rate",
    "stockout_rate", "avg_delivery_days", "late_delivery_rate", "bullwhip_ratio",
    "inventory_turnover", "merchants_active_end", "merchant_satisfaction", "return_rate", "cac",
    "repeat_transactions_per_customer",
)



# Further numeric summary keys (docs/kpis.md); policies list their own in Policy.kpis.
EXTRA_KPIS = (
    "units_demanded", "lost_sales", "repeat_orders", "latent_alive_end", "merchants_joined", "merchants_left",
    "refunds", "net_gmv", "returns_outstanding_end", "carbon_levy", "platform_logistics_cost", "parcels_late",
    "reactivated_customers", "top_decile_merchant_share", "new_customers_paid", "new_customers_organic",
    "new_customers_word_of_mouth", "new_customers_referral", "cac_paid", "cac_referral", "k_factor",
    "carbon_production_kg", "carbon_line_haul_kg", "carbon_last_mile_kg", "carbon_packaging_kg",
    "carbon_warehousing_kg",
)
SEGMENT_ORDERS_PREFIX = "orders_segment_"


def known_kpis() -> set[str]:
    """Every summary key a target may name (segment order counts by their prefix)."""
    from sim.policies import REGISTRY

    names = set(SUMMARY_KEYS) | set(EXTRA_KPIS)
    for policy in REGISTRY.values():
        names |= set(policy.kpis)
    return names


class DailyRecorder:
    """Collects one row of KPIs per day."""

    def __init__(self, model: MarketModel) -> None:
        self.model = model
        self.rows: list[dict[str, Any]] = []
        self.merchants_joined = 0
        self.gmv_by_merchant = np.zeros(model.merchant_table.size)
        self.written_off_value_today = 0.0
        self.non_churned_start = self._non_churned(-1)

    def _non_churned(self, day: int) -> int:
        counts = self.model.shoppers.lifecycle_counts(day)
        return counts["new"] + counts["active"] + counts["dormant"]

    def record(self, day: int, orders: OrderBatch, demand: np.ndarray, merchant_profit: np.ndarray,
               channel: np.ndarray, delivery: dict[str, Any]) -> None:
        m = self.model
        flows = m.ledger.close_day()
        carbon = m.carbon.close_day()
        served = orders.fulfilled
        sh, lc = m.shoppers, m.scenario.shoppers.lifecycle
        counts = sh.lifecycle_counts(day)
        t = m.merchant_table
        row: dict[str, Any] = {
            "day": day,
            "date": m.scenario.simulation.start_date + dt.timedelta(days=day),
            "season_multiplier": float(m.season[day]),
            "gmv": flows["sale"],
            "orders": int(served.sum()),
            "first_orders": int((served & orders.is_first).sum()),
            "repeat_orders": int((served & ~orders.is_first).sum()),
            "order_attempts": orders.attempts,
            "lost_sales": int((~served).sum()),
            "fallback_orders": int(orders.fell_back.sum()),
            "stockout_events": int((orders.first_choice >= 0).sum() - (served & ~orders.fell_back).sum()),
            "new_customers": int(channel.size),
        }
        for name, code in CHANNELS.items():
            if name != "initial":
                row[f"new_customers_{name}"] = int((channel == code).sum())
        row.update({
            "customers_total": int(sh.is_customer.sum()),
            "active_customers": counts["new"] + counts["active"],
            "new_state": counts["new"],
            "dormant_customers": counts["dormant"],
            "churned_customers": counts["churned"],
            "churn_entries": int(np.count_nonzero(sh.last_day == day - lc.churned_after_days)),
            "alive_latent": int(sh.alive.sum()),
            "platform_revenue": m.ledger.inflow("platform", flows) - flows["commission_refund"],
            "platform_cost": m.ledger.outflow("platform", flows) - flows["commission_refund"],
            "merchant_profit": float(merchant_profit.sum()) - self.written_off_value_today,
            "marketing_cost": flows["marketing"],
            "subsidy_cost": flows["subsidy"],
            "referral_cost": flows["referral"],
            "loyalty_cost": flows["loyalty"],
            "logistics_cost": flows["logistics"] + flows["shipping"] + flows["freight"],
            "platform_logistics_cost": flows["logistics"],
            "goods_cost": flows["goods"],
            "refunds": flows["refund"],
            "carbon_levy": flows["carbon_levy"],
            "returns": m.returns_due_today,
            "returns_decided": delivery["returns_decided"],
            "carbon_kg": sum(carbon.values()),
        })
        for stage, kg in carbon.items():
            row[f"carbon_{stage}_kg"] = kg
        row.update({
            "units_demanded": int(demand.sum()),
            "units_sold": int(served.sum()),
            "units_ordered": m.supply.ordered_today,
            "on_hand_units": int(t.on_hand.sum()),
            "delivery_days_sum": delivery["delivery_days"],
            "late_deliveries": delivery["late"],
            "reactivated_customers": delivery["reactivated"],
            "platform_parcels": delivery["platform_parcels"],
            "parcels_delivered_by_fleet": int(m.last_mile.delivered_today.sum()),
            "fleet_backlog": int(m.last_mile.backlog.sum()),
            "merchants_active": int(t.active.sum()),
        })
        m.last_mile.delivered_today[:] = 0
        row["platform_profit"] = row["platform_revenue"] - row["platform_cost"]
        self.written_off_value_today = 0.0
        if self.gmv_by_merchant.size < t.size:
            self.gmv_by_merchant = np.r_[self.gmv_by_merchant, np.zeros(t.size - self.gmv_by_merchant.size)]
        self.gmv_by_merchant += np.bincount(orders.merchant[served], weights=orders.value[served], minlength=t.size)
        self.rows.append(row)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def _top_decile_share(gmv_by_merchant: np.ndarray) -> float:
    """Share of the run's GMV won by the top 10% of merchants ever active (concentration of sales)."""
    sales = np.sort(gmv_by_merchant)[::-1]
    top = max(1, int(np.ceil(0.1 * sales.size)))
    return _ratio(sales[:top].sum(), sales.sum())


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def summarize(model: MarketModel, daily: pd.DataFrame) -> dict[str, Any]:
    """The run summary (summary.json): DESIGN.md section 3 keys plus a few extras."""
    sh, cfg, ledger = model.shoppers, model.scenario, model.ledger
    days = len(daily)
    totals = ledger.totals
    gmv = float(daily["gmv"].sum())
    orders = int(daily["orders"].sum())
    new_customers = int(daily["new_customers"].sum())
    customers_total = int(sh.is_customer.sum())
    repeat_orders = int(daily["repeat_orders"].sum())

    # Observable churn: customers crossing the churn window in a month / not-churned at month start.
    month_start = np.r_[0, np.flatnonzero(model.is_month_end[: days - 1]) + 1]
    rates = []
    for i, start in enumerate(month_start):
        end = month_start[i + 1] if i + 1 < len(month_start) else days
        base = model.recorder.non_churned_start if start == 0 else (
            daily["active_customers"].iloc[start - 1] + daily["dormant_customers"].iloc[start - 1])
        rates.append(_ratio(daily["churn_entries"].iloc[start:end].sum(), base))

    # 90-day retention: share of the cohort acquired in the run (or the day-0 cohort) who
    # bought again within 90 days of their first purchase; cohort must be observable 90 days.
    first_min = -1 if cfg.shoppers.initial_history_days == 0 else 0
    cohort = sh.is_customer & (sh.first_day >= first_min) & (sh.first_day <= days - 1 - 90)
    retained = cohort & (sh.second_day - sh.first_day <= 90)

    demanded = int(daily["units_demanded"].sum())
    ordered = daily["units_ordered"].to_numpy(dtype=float)
    demand_series = daily["units_demanded"].to_numpy(dtype=float)
    warm = min(cfg.merchants.replenishment.forecast_window_days, days // 2)
    var_d = float(np.var(demand_series[warm:], ddof=1)) if days - warm > 2 else 0.0
    var_o = float(np.var(ordered[warm:], ddof=1)) if days - warm > 2 else 0.0
    mean_on_hand = float(daily["on_hand_units"].mean())
    t = model.merchant_table
    active = np.flatnonzero(t.active)
    trailing = t.profit_days[:, active].sum(axis=0)
    marketing = float(totals.get("marketing", 0.0))
    attempts = int(daily["order_attempts"].sum())

    summary: dict[str, Any] = {
        "gmv": gmv,
        "orders": orders,
        "aov": _ratio(gmv, orders),
        "new_customers": new_customers,
        "customers_total": customers_total,
        "active_customers_end": int(daily["active_customers"].iloc[-1]),
        "churn_rate_monthly": float(np.mean(rates)) if rates else 0.0,
        "retention_90d": _ratio(retained.sum(), cohort.sum()),
        "repeat_purchase_rate": _ratio(np.count_nonzero(sh.repeats_in_run), customers_total),
        "platform_revenue": ledger.inflow("platform") - float(totals.get("commission_refund", 0.0)),
        "platform_profit": ledger.balances["platform"],
        "merchant_profit": float(daily["merchant_profit"].sum()),
        "subsidy_cost": float(totals.get("subsidy", 0.0)),
        "referral_cost": float(totals.get("referral", 0.0)),
        "loyalty_cost": float(totals.get("loyalty", 0.0)),
        "marketing_cost": marketing,
        "logistics_cost": float(daily["logistics_cost"].sum()),
        "carbon_kg": float(daily["carbon_kg"].sum()),
        "carbon_per_order_kg": _ratio(daily["carbon_kg"].sum(), orders),
        "fill_rate": _ratio(orders, attempts),
        "stockout_rate": _ratio(daily["stockout_events"].sum(), attempts),
        "avg_delivery_days": _ratio(daily["delivery_days_sum"].sum(), orders),
        "late_delivery_rate": _ratio(daily["late_deliveries"].sum(), orders),
        "bullwhip_ratio": _ratio(var_o, var_d),
        "inventory_turnover": _ratio(daily["units_sold"].sum(), mean_on_hand) * 365.0 / days,
        "merchants_active_end": int(active.size),
        "merchant_satisfaction": _ratio(np.count_nonzero(trailing > 0), active.size),
        "return_rate": _ratio(daily["returns_decided"].sum(), orders),
        "cac": _ratio(marketing + float(totals.get("referral", 0.0)), new_customers),
        "repeat_transactions_per_customer": _ratio(repeat_orders, customers_total),
    }
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    assert not missing, f"summary lacks {missing}"
    summary.update({
        "units_demanded": demanded,
        "lost_sales": int(daily["lost_sales"].sum()),
        "repeat_orders": repeat_orders,
        "latent_alive_end": int(sh.alive.sum()),
        "merchants_joined": model.recorder.merchants_joined,
        "merchants_left": int((~t.active).sum()),
        "days": days,
        "refunds": float(daily["refunds"].sum()),
        "net_gmv": gmv - float(daily["refunds"].sum()),
        "returns_outstanding_end": model.returns.outstanding(),
        "carbon_levy": float(daily["carbon_levy"].sum()),
        "platform_logistics_cost": float(daily["platform_logistics_cost"].sum()),
        "parcels_late": int(daily["late_deliveries"].sum()),
        "reactivated_customers": int(daily["reactivated_customers"].sum()),
        "top_decile_merchant_share": _top_decile_share(model.recorder.gmv_by_merchant),
        "orders_by_segment": {seg.name: int(sh.orders_in_run[sh.segment == i].sum())
                              for i, seg in enumerate(cfg.shoppers.segments)},
    })
    for stage in STAGES:
        summary[f"carbon_{stage}_kg"] = float(daily[f"carbon_{stage}_kg"].sum())
    for name in CHANNELS:
        if name != "initial":
            summary[f"new_customers_{name}"] = int(daily[f"new_customers_{name}"].sum())
    summary["cac_paid"] = _ratio(marketing, summary["new_customers_paid"])
    summary["cac_referral"] = _ratio(float(totals.get("referral", 0.0)), summary["new_customers_referral"])
    # viral coefficient: new customers brought in by referral per customer of the average day
    summary["k_factor"] = _ratio(summary["new_customers_referral"], float(daily["customers_total"].mean()))
    for name, count in summary["orders_by_segment"].items():
        summary[f"{SEGMENT_ORDERS_PREFIX}{name}"] = count  # flat, so that compare can compare them
    for policy in model.platform.policies:
        summary.update(policy.summary(model))
    assert set(FLOWS) >= set(totals)
    return summary
