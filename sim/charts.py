"""Charts of a run: titled, labelled with units, honest axes (zero-based where it is a level)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sim import style  # noqa: E402


def weekly_mean(series: pd.Series) -> pd.Series:
    """The 7-day trailing mean (a daily series without the weekday noise)."""
    return series.rolling(7, min_periods=1).mean()


def _panel_title(ax, title: str) -> None:
    """A panel's title, at the top of its axes (`y=1.0`): where matplotlib puts it when neither tick labels
    above the axes nor a y axis's offset text ("1e7") are in its way, as in every panel here (the y
    formatters of sim/style.py give no offset text). With the place given, matplotlib does not search for
    one at each layout pass and drawing, measuring every y tick label of the axes and its twins (the same
    pixels; about a tenth of the KPI and supply-chain charts' drawing time, issue 23)."""
    ax.set_title(title, fontsize=10, y=1.0)


def _panels(axes, dates_axis: bool = True) -> None:
    for ax in axes.ravel():
        style.tidy(ax)
        style.thousands(ax.yaxis)
        if dates_axis:
            style.dates(ax.xaxis)


def kpi_timeseries(daily: pd.DataFrame, summary: dict, name: str, context: str, currency: str,
                   path: Path, windows: tuple[int, int, int] = (30, 90, 180)) -> None:
    """A run at a glance: GMV, customers by lifecycle state, cumulative profit, and who is buying."""
    dates = pd.to_datetime(daily["date"])
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5), sharex=True, layout="constrained")
    ax = axes[0, 0]
    ax.plot(dates, daily["gmv"], color="#9bbbd9", lw=0.8, label="daily")
    ax.plot(dates, weekly_mean(daily["gmv"]), color=style.SCENARIOS[0], lw=1.8, label="7-day mean")
    _panel_title(ax, "GMV per day")
    ax.set_ylabel(f"{currency} per day")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)

    ax = axes[0, 1]
    new = daily["new_state"]
    active = daily["active_customers"] - new
    ax.stackplot(dates, new, active, daily["dormant_customers"], daily["churned_customers"],
                 labels=[f"new (first order in the last {windows[0]} days)",
                         f"active (bought in the last {windows[1]} days)",
                         f"dormant (no order for {windows[1]}-{windows[2]} days)",
                         f"churned (no order for {windows[2]}+ days)"],
                 colors=["#56B4E9", style.SCENARIOS[0], "#E69F00", "#bbbbbb"], alpha=0.9)
    _panel_title(ax, "Customers by lifecycle state (what the platform can observe)")
    ax.set_ylabel("customers")
    ax.legend(frameon=False, loc="upper left", fontsize=8)

    ax = axes[1, 0]
    ax.plot(dates, (daily["platform_revenue"] - daily["platform_cost"]).cumsum(), color=style.SCENARIOS[0],
            lw=1.8, label="platform")
    ax.plot(dates, daily["merchant_profit"].cumsum(), color=style.SCENARIOS[2], lw=1.8, label="merchants (all)")
    ax.axhline(0, color="black", lw=0.6)
    _panel_title(ax, "Cumulative profit since the first measured day")
    ax.set_ylabel(currency)
    ax.legend(frameon=False)

    ax = axes[1, 1]
    ax.plot(dates, weekly_mean(daily["first_orders"]), color="#56B4E9", lw=1.8, label="first orders (new customers)")
    ax.plot(dates, weekly_mean(daily["repeat_orders"]), color=style.SCENARIOS[0], lw=1.8, label="repeat orders")
    _panel_title(ax, "Orders per day (7-day mean)")
    ax.set_ylabel("orders per day")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)
    _panels(axes)
    finding = (f"{name}: GMV {style.number(summary['gmv'])} {currency}, platform profit "
               f"{style.number(summary['platform_profit'])} {currency}, merchants' profit "
               f"{style.number(summary['merchant_profit'])} {currency}")
    style.titled(fig, finding, context)
    style.save(fig, path)


def supply_chain(daily: pd.DataFrame, summary: dict, name: str, context: str, currency: str, path: Path) -> None:
    """Operations: logistics carbon by stage, delivery speed and lateness, returns, logistics cost per order."""
    dates = pd.to_datetime(daily["date"])
    orders = daily["orders"].where(daily["orders"] > 0)
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5), sharex=True, layout="constrained")

    ax = axes[0, 0]
    stages = [("line_haul", style.SCENARIOS[0]), ("last_mile", style.SCENARIOS[1]),
              ("packaging", "#8c6d31"), ("warehousing", "#999999")]
    ax.stackplot(dates, *[weekly_mean(daily[f"carbon_{s}_kg"] / orders) for s, _ in stages],
                 labels=[s.replace("_", " ") for s, _ in stages], colors=[c for _, c in stages], alpha=0.9)
    production = daily["carbon_production_kg"].sum() / daily["carbon_kg"].sum() if daily["carbon_kg"].sum() else 0
    _panel_title(ax, f"Logistics carbon per order, by stage (7-day mean)\nproduction, an assumption, adds "
                     f"{production:.0%} of all carbon and is left out here")
    ax.set_ylabel("kg CO2e per order")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, loc="upper left", fontsize=8)

    ax = axes[0, 1]
    ax.plot(dates, weekly_mean(daily["delivery_days_sum"] / orders), color=style.SCENARIOS[0], lw=1.8)
    ax.set_ylabel("mean delivery days", color=style.SCENARIOS[0])
    ax.tick_params(axis="y", colors=style.SCENARIOS[0])
    ax.set_ylim(bottom=0)
    twin = ax.twinx()
    twin.plot(dates, weekly_mean(daily["late_deliveries"] / orders), color=style.BAD, lw=1.4)
    twin.set_ylabel("orders late (fleet backlog)", color=style.BAD)
    twin.tick_params(axis="y", colors=style.BAD)
    twin.set_ylim(bottom=0)
    style.percent(twin.yaxis)
    twin.spines[["top"]].set_visible(False)
    _panel_title(ax, "Delivery: days to deliver (blue, left) and share late (red, right), 7-day mean")

    ax = axes[1, 0]
    ax.plot(dates, weekly_mean(daily["returns_decided"] / orders), color=style.SCENARIOS[0], lw=1.8)
    _panel_title(ax, "Orders that will be returned (7-day mean, by order day)")
    ax.set_ylabel("share of orders")
    ax.set_ylim(bottom=0)

    ax = axes[1, 1]
    ax.plot(dates, weekly_mean(daily["platform_logistics_cost"] / orders), color=style.SCENARIOS[0], lw=1.8,
            label="platform (fleet, packaging, returns)")
    ax.plot(dates, weekly_mean((daily["logistics_cost"] - daily["platform_logistics_cost"]) / orders),
            color=style.SCENARIOS[2], lw=1.8, label="merchants (carrier, freight)")
    _panel_title(ax, "Logistics cost per order (7-day mean): flat when cost only follows volume")
    ax.set_ylabel(f"{currency} per order")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)
    _panels(axes)
    style.percent(axes[1, 0].yaxis)
    finding = (f"{name}: {style.number(summary['carbon_per_order_kg'])} kg CO2e and "
               f"{style.number(summary['logistics_cost'] / max(summary['orders'], 1))} {currency} of logistics per "
               f"order; deliveries take {summary['avg_delivery_days']:.1f} days, "
               f"{summary['late_delivery_rate']:.1%} late")
    style.titled(fig, finding, context)
    style.save(fig, path)


def retention_curves(cohorts: pd.DataFrame, name: str, context: str, path: Path) -> None:
    """Per monthly cohort (customers by the month of their first purchase), the share who buy in each
    later month; the customer-weighted mean over cohorts in bold."""
    data = cohorts[cohorts["months_since"] > 0].assign(share=lambda d: d["buyers"] / d["customers"])
    fig, ax = plt.subplots(figsize=(11, 6), layout="constrained")
    labels = list(dict.fromkeys(data["cohort"]))
    shades = plt.get_cmap("Blues")(np.linspace(0.35, 0.9, max(len(labels), 1)))
    for colour, label in zip(shades, labels, strict=False):  # no cohort: one shade, no line
        one = data[data["cohort"] == label]
        ax.plot(one["months_since"], one["share"], color=colour, lw=1, marker="o", ms=3, label=label)
    mean = data.groupby("months_since").apply(lambda d: d["buyers"].sum() / d["customers"].sum(),
                                              include_groups=False)
    ax.plot(mean.index, mean.values, color="black", lw=2.6, label="all cohorts (weighted)")
    ax.set_xlabel("months after the month of the first purchase")
    ax.set_ylabel("share of the cohort buying in that month")
    ax.set_ylim(bottom=0)
    ax.set_xticks(range(1, int(data["months_since"].max()) + 1 if len(data) else 2))
    style.percent(ax.yaxis)
    style.tidy(ax)
    ax.legend(frameon=False, fontsize=8, ncol=2, loc="upper right")
    first = mean.get(1, float("nan"))
    third = mean.get(3, float("nan"))
    finding = (f"{name}: {first:.0%} of new customers buy again the month after their first purchase" + (
        f", {third:.0%} in the third month" if np.isfinite(third) else "")) if np.isfinite(first) else \
        f"{name}: the run is too short to see new customers come back (no month after a first purchase)"
    style.titled(fig, finding, f"Cohorts: customers by the calendar month of their first purchase in the measured "
                 f"period (what the platform can observe). {context}")
    style.save(fig, path)
