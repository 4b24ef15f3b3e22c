"""Charts of a run: titled, labelled with units, honest axes (zero-based where it is a level)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def _finish(fig, axes, title: str, path: Path) -> None:
    """Light grid, no top/right spines, dated x axis, the run's title; save and close."""
    for a in axes.ravel():
        a.grid(alpha=0.3)
        a.spines[["top", "right"]].set_visible(False)
    fig.autofmt_xdate()
    fig.suptitle(title, fontsize=14)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def kpi_timeseries(daily: pd.DataFrame, title: str, currency: str, path: Path) -> None:
    """Four panels: GMV, customers, cumulative profit, supply; one PNG."""
    dates = pd.to_datetime(daily["date"])
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5), sharex=True, constrained_layout=True)
    ax = axes[0, 0]
    ax.plot(dates, daily["gmv"], color="#9bbbd9", lw=0.8, label="daily")
    ax.plot(dates, daily["gmv"].rolling(7, min_periods=1).mean(), color="#1f5f99", lw=1.8,
            label="7-day mean")
    ax.set_title("GMV per day")
    ax.set_ylabel(currency)
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)

    ax = axes[0, 1]
    ax.plot(dates, daily["customers_total"], color="#1f5f99", lw=1.8, label="customers (cumulative)")
    ax.plot(dates, daily["active_customers"], color="#d9822b", lw=1.8, label="active (bought < dormancy window)")
    ax.plot(dates, daily["churned_customers"], color="#999999", lw=1.2, label="churned (observable)")
    ax.set_title("Customers")
    ax.set_ylabel("shoppers")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)

    ax = axes[1, 0]
    ax.plot(dates, (daily["platform_revenue"] - daily["platform_cost"]).cumsum(), color="#1f5f99",
            lw=1.8, label="platform")
    ax.plot(dates, daily["merchant_profit"].cumsum(), color="#2b9a5a", lw=1.8, label="merchants (all)")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_title("Cumulative profit")
    ax.set_ylabel(currency)
    ax.legend(frameon=False)

    ax = axes[1, 1]
    attempts = daily["order_attempts"].where(daily["order_attempts"] > 0)
    fill = (daily["orders"] / attempts).rolling(7, min_periods=1).mean() * 100
    stockout = (daily["stockout_events"] / attempts).rolling(7, min_periods=1).mean() * 100
    ax.plot(dates, fill, color="#1f5f99", lw=1.8, label="fill rate")
    ax.plot(dates, stockout, color="#c0392b", lw=1.8, label="first choice out of stock")
    ax.set_title("Supply (7-day mean)")
    ax.set_ylabel("% of order attempts")
    ax.set_ylim(0, 105)
    ax.legend(frameon=False)

    _finish(fig, axes, title, path)


def supply_chain(daily: pd.DataFrame, title: str, currency: str, path: Path) -> None:
    """Four panels: carbon by stage, delivery, returns, logistics cost; one PNG."""
    dates = pd.to_datetime(daily["date"])
    week = lambda s: s.rolling(7, min_periods=1).mean()  # noqa: E731
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5), sharex=True, constrained_layout=True)

    ax = axes[0, 0]
    stages = [("production", "#6b4c9a"), ("line_haul", "#1f5f99"), ("last_mile", "#d9822b"),
              ("packaging", "#8c6d31"), ("warehousing", "#999999")]
    ax.stackplot(dates, *[week(daily[f"carbon_{s}_kg"]) for s, _ in stages],
                 labels=["production (assumption)" if s == "production" else s.replace("_", " ") for s, _ in stages],
                 colors=[c for _, c in stages], alpha=0.85)
    ax.set_title("Carbon of what was sold and delivered, by stage (7-day mean)")
    ax.set_ylabel("kg CO2e per day")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, loc="upper left", fontsize=8)

    ax = axes[0, 1]
    orders = daily["orders"].where(daily["orders"] > 0)
    ax.plot(dates, week(daily["delivery_days_sum"] / orders), color="#1f5f99", lw=1.8, label="mean delivery days")
    ax.set_ylabel("days")
    ax.set_ylim(bottom=0)
    twin = ax.twinx()
    twin.plot(dates, week(daily["late_deliveries"] / orders) * 100, color="#c0392b", lw=1.4, label="late (%)")
    twin.set_ylabel("% of orders late")
    twin.set_ylim(bottom=0)
    ax.set_title("Delivery (7-day mean)")
    lines = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(lines, [ln.get_label() for ln in lines], frameon=False, loc="lower left")

    ax = axes[1, 0]
    ax.plot(dates, week(daily["returns_decided"] / orders) * 100, color="#1f5f99", lw=1.8,
            label="orders to be returned")
    ax.set_title("Returns (7-day mean, by order day)")
    ax.set_ylabel("% of orders")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)

    ax = axes[1, 1]
    ax.plot(dates, week(daily["platform_logistics_cost"]), color="#1f5f99", lw=1.8, label="platform (fleet, packaging, returns)")
    ax.plot(dates, week(daily["logistics_cost"] - daily["platform_logistics_cost"]), color="#2b9a5a", lw=1.8,
            label="merchants (carrier, freight)")
    ax.set_title("Logistics cost (7-day mean)")
    ax.set_ylabel(f"{currency} per day")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)

    _finish(fig, axes, title, path)


KEY_KPIS = (("gmv", "GMV"), ("orders", "orders"), ("second_purchase_90d", "second purchase within 90 days"),
            ("churn_rate_monthly", "monthly churn"), ("platform_profit", "platform profit"),
            ("merchant_profit", "merchant profit"), ("merchant_satisfaction", "merchant satisfaction"),
            ("carbon_kg", "carbon"))


def comparison_deltas(comparison: pd.DataFrame, names: list[str], replications: int, path: Path) -> None:
    """Change vs baseline of the key KPIs with 95% paired confidence intervals, one panel per KPI."""
    others = names[1:]
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.5), constrained_layout=True)
    colours = plt.get_cmap("tab10")
    for ax, (kpi, label) in zip(axes.ravel(), KEY_KPIS):
        rows = comparison[(comparison["kpi"] == kpi)].set_index("scenario")
        base = float(rows.loc[names[0], "mean"])
        scale = abs(base) if base else 1.0
        unit = "% of baseline" if base else "absolute"
        for i, name in enumerate(others):
            r = rows.loc[name]
            mid = r["delta_vs_baseline"] / scale * (100 if base else 1)
            lo = r["ci_low"] / scale * (100 if base else 1)
            hi = r["ci_high"] / scale * (100 if base else 1)
            ax.barh(i, mid, color=colours(i % 10), alpha=0.8)
            ax.errorbar(mid, i, xerr=[[mid - lo], [hi - mid]], color="black", capsize=3, lw=1)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(len(others)), others)
        ax.invert_yaxis()
        ax.set_title(label)
        ax.set_xlabel(f"change, {unit}")
        ax.grid(axis="x", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(f"Change vs {names[0]}: mean of {replications} paired replications, 95% confidence interval",
                 fontsize=13)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def comparison_series(series: dict[str, dict], replications: int, path: Path) -> None:
    """GMV (7-day mean) and customers over time, replication means per scenario."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), constrained_layout=True)
    for name, s in series.items():
        days = range(len(s["gmv"]))
        axes[0].plot(days, pd.Series(s["gmv"]).rolling(7, min_periods=1).mean(), lw=1.6, label=name)
        axes[1].plot(days, s["customers_total"], lw=1.6, label=name)
    axes[0].set_title("GMV per day (7-day mean)")
    axes[1].set_title("Customers (cumulative)")
    for ax, unit in zip(axes, ("currency per day", "shoppers")):
        ax.set_xlabel("day")
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(frameon=False)
    fig.suptitle(f"Mean of {replications} replications per scenario", fontsize=13)
    fig.savefig(path, dpi=110)
    plt.close(fig)
