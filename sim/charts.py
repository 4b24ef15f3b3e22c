"""Charts of a run: titled, labelled with units, honest axes (zero-based where it is a level)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sim import style  # noqa: E402
from sim.kpis import CATALOGUE  # noqa: E402


def _week(series: pd.Series) -> pd.Series:
    return series.rolling(7, min_periods=1).mean()


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
    ax.plot(dates, _week(daily["gmv"]), color=style.SCENARIOS[0], lw=1.8, label="7-day mean")
    ax.set_title("GMV per day", fontsize=10)
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
    ax.set_title("Customers by lifecycle state (what the platform can observe)", fontsize=10)
    ax.set_ylabel("customers")
    ax.legend(frameon=False, loc="upper left", fontsize=8)

    ax = axes[1, 0]
    ax.plot(dates, (daily["platform_revenue"] - daily["platform_cost"]).cumsum(), color=style.SCENARIOS[0],
            lw=1.8, label="platform")
    ax.plot(dates, daily["merchant_profit"].cumsum(), color=style.SCENARIOS[2], lw=1.8, label="merchants (all)")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_title("Cumulative profit since the first measured day", fontsize=10)
    ax.set_ylabel(currency)
    ax.legend(frameon=False)

    ax = axes[1, 1]
    ax.plot(dates, _week(daily["first_orders"]), color="#56B4E9", lw=1.8, label="first orders (new customers)")
    ax.plot(dates, _week(daily["repeat_orders"]), color=style.SCENARIOS[0], lw=1.8, label="repeat orders")
    ax.set_title("Orders per day (7-day mean)", fontsize=10)
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
    ax.stackplot(dates, *[_week(daily[f"carbon_{s}_kg"] / orders) for s, _ in stages],
                 labels=[s.replace("_", " ") for s, _ in stages], colors=[c for _, c in stages], alpha=0.9)
    production = daily["carbon_production_kg"].sum() / daily["carbon_kg"].sum() if daily["carbon_kg"].sum() else 0
    ax.set_title(f"Logistics carbon per order, by stage (7-day mean)\nproduction, an assumption, adds "
                 f"{production:.0%} of all carbon and is left out here", fontsize=10)
    ax.set_ylabel("kg CO2e per order")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, loc="upper left", fontsize=8)

    ax = axes[0, 1]
    ax.plot(dates, _week(daily["delivery_days_sum"] / orders), color=style.SCENARIOS[0], lw=1.8)
    ax.set_ylabel("mean delivery days", color=style.SCENARIOS[0])
    ax.tick_params(axis="y", colors=style.SCENARIOS[0])
    ax.set_ylim(bottom=0)
    twin = ax.twinx()
    twin.plot(dates, _week(daily["late_deliveries"] / orders), color=style.BAD, lw=1.4)
    twin.set_ylabel("orders late (fleet backlog)", color=style.BAD)
    twin.tick_params(axis="y", colors=style.BAD)
    twin.set_ylim(bottom=0)
    style.percent(twin.yaxis)
    twin.spines[["top"]].set_visible(False)
    ax.set_title("Delivery: days to deliver (blue, left) and share late (red, right), 7-day mean", fontsize=10)

    ax = axes[1, 0]
    ax.plot(dates, _week(daily["returns_decided"] / orders), color=style.SCENARIOS[0], lw=1.8)
    ax.set_title("Orders that will be returned (7-day mean, by order day)", fontsize=10)
    ax.set_ylabel("share of orders")
    ax.set_ylim(bottom=0)

    ax = axes[1, 1]
    ax.plot(dates, _week(daily["platform_logistics_cost"] / orders), color=style.SCENARIOS[0], lw=1.8,
            label="platform (fleet, packaging, returns)")
    ax.plot(dates, _week((daily["logistics_cost"] - daily["platform_logistics_cost"]) / orders),
            color=style.SCENARIOS[2], lw=1.8, label="merchants (carrier, freight)")
    ax.set_title("Logistics cost per order (7-day mean): flat when cost only follows volume", fontsize=10)
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


def retention_comparison(retention: pd.DataFrame, names: list[str], replications: int, context: str,
                         path: Path) -> None:
    """Per scenario, the share of new customers buying again k months after their first month (retention.csv
    of a comparison: mean and range over replications); beside it, month 1's change against the baseline
    with its paired 95% interval."""
    colours = style.scenario_colours(names)
    fig, (ax, bars) = plt.subplots(1, 2, figsize=(16, 6), layout="constrained", width_ratios=(1.6, 1))
    for name in names:
        one = retention[retention["scenario"] == name]
        ax.fill_between(one["months_since"], one["share_low"], one["share_high"], color=colours[name], alpha=0.15,
                        lw=0)
        ax.plot(one["months_since"], one["share"], color=colours[name], marker="o", ms=4,
                lw=2.0 if name == names[0] else 1.4, ls="--" if name == names[0] else "-", label=name)
    ax.set_xlabel("months after the month of the first purchase")
    ax.set_ylabel("share of new customers buying in that month")
    ax.set_ylim(bottom=0)
    ax.set_xticks(sorted(set(retention["months_since"])))
    style.percent(ax.yaxis)
    style.tidy(ax)
    ax.legend(frameon=False, fontsize=8, ncol=2, loc="upper right")
    month1 = retention[retention["months_since"] == 1].set_index("scenario")
    others = [n for n in names[1:] if n in month1.index]
    for i, name in enumerate(others):
        r = month1.loc[name]
        significant = r["ci_low_pp"] > 0 or r["ci_high_pp"] < 0
        bars.barh(i, r["change_pp"], xerr=[[r["change_pp"] - r["ci_low_pp"]], [r["ci_high_pp"] - r["change_pp"]]],
                  color=style.change_colour(r["change_pp"], "higher"), alpha=1.0 if significant else 0.35, capsize=3)
    bars.set_yticks(range(len(others)), others, fontsize=9)
    bars.invert_yaxis()
    bars.axvline(0, color="black", lw=0.6)
    bars.set_xlabel("change in the share buying the month after, percentage points")
    bars.set_title("Month 1: change against the baseline", fontsize=10)
    style.tidy(bars, "x")
    if names[0] not in month1.index:
        finding = "The period is too short to see new customers come back (no month after a first purchase)"
    else:
        base = float(month1.loc[names[0], "share"])
        up = month1.loc[others][month1.loc[others, "ci_low_pp"] > 0] if others else month1.iloc[:0]
        best = up["change_pp"].idxmax() if len(up) else None
        finding = (f"{best} brings most new customers back the month after ({up.loc[best, 'change_pp']:+.1f} pp "
                   f"against {names[0]}'s {base:.1%})" if best else
                   f"No scenario brings clearly more new customers back the month after than {names[0]} ({base:.1%})")
    style.titled(fig, finding, "Cohorts: customers by the calendar month of their first purchase in the measured "
                 f"period, all cohorts weighted by size. Lines: mean of {replications} replications; bands: lowest "
                 f"to highest replication; a later month averages only the cohorts old enough to reach it. Bars: "
                 f"95% paired interval (faded where it includes 0). {context}",
                 f"Only {replications} replications: the intervals are not reliable"
                 if replications < style.MIN_REPLICATIONS else None)
    style.save(fig, path)


# the key KPIs of the comparison charts: the catalogue's marked `key`, in its order, with their labels
KEY_KPIS = tuple((k.name, k.title) for k in CATALOGUE if k.key)


def _significant(row: pd.Series) -> bool:
    """The 95% interval excludes zero (one replication has no interval: never significant)."""
    return bool(row.get("replications", 2) >= 2 and (row["ci_low"] > 0 or row["ci_high"] < 0))


def comparison_finding(comparison: pd.DataFrame, names: list[str], currency: str) -> str:
    """The comparison in one sentence: what moves GMV and platform profit most, significantly."""
    rows = comparison[comparison["scenario"].isin(names[1:])].set_index(["kpi", "scenario"])
    if len(names) == 2:
        g, p = rows.loc[("gmv", names[1])], rows.loc[("platform_profit", names[1])]
        rel = f" ({g['relative_delta']:+.1%})" if np.isfinite(g["relative_delta"]) else ""
        def unsure(r: pd.Series) -> str:
            return "" if _significant(r) else " (interval includes zero)"
        return (f"{names[1]} vs {names[0]}: GMV {style.number(g['delta_vs_baseline'], True)} {currency}{rel}"
                f"{unsure(g)}, platform profit {style.number(p['delta_vs_baseline'], True)} {currency}{unsure(p)}")
    parts = []
    for kpi, label in (("gmv", "GMV"), ("platform_profit", "platform profit")):
        sub = rows.loc[kpi]
        up = sub[[_significant(r) and r["delta_vs_baseline"] > 0 for _, r in sub.iterrows()]]
        if len(up):
            best = up["delta_vs_baseline"].idxmax()
            parts.append(f"{best} adds most {label} ({style.number(up.loc[best, 'delta_vs_baseline'], True)} "
                         f"{currency})")
        else:
            parts.append(f"no scenario raises {label} for sure")
    return "; ".join(parts)


def comparison_deltas(comparison: pd.DataFrame, names: list[str], replications: int, path: Path,
                      currency: str = "currency", context: str = "") -> None:
    """Change vs baseline of the key KPIs in each KPI's own unit (percentage points for rates), with 95%
    paired intervals; green when good for that KPI, red when bad, faded when the interval includes 0."""
    from sim.kpis import by_name
    catalogue = by_name()
    others = names[1:]
    colours = style.scenario_colours(names)
    fig, axes = plt.subplots(2, 4, figsize=(17, 3.6 + 0.7 * len(others)), layout="constrained", sharey=True)
    for ax, (kpi, label) in zip(axes.ravel(), KEY_KPIS, strict=True):
        info = catalogue[kpi]
        rows = comparison[comparison["kpi"] == kpi].set_index("scenario")
        share = info.unit.startswith("share")
        scale = 100.0 if share else 1.0
        base = float(rows.loc[names[0], "mean"])
        for i, name in enumerate(others):
            r = rows.loc[name]
            mid, lo, hi = (float(r[c]) * scale for c in ("delta_vs_baseline", "ci_low", "ci_high"))
            colour = style.change_colour(mid, info.better)
            ax.barh(i, mid, color=colour, alpha=0.9 if _significant(r) else 0.35)
            ax.errorbar(mid, i, xerr=[[mid - lo], [hi - mid]], color="black", capsize=3, lw=1)
            rel = float(r["relative_delta"])
            if not share and base > 0 and np.isfinite(rel) and abs(rel) <= 1:  # a base that is not tiny or negative
                ax.annotate(f"{rel:+.1%}", (hi if mid >= 0 else lo, i), xytext=(4 if mid >= 0 else -4, 0),
                            textcoords="offset points", va="center", ha="left" if mid >= 0 else "right",
                            fontsize=8, color=style.SUBTLE)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(len(others)), others)
        # the y axis is shared: only the first column has labels to colour
        for tick, name in zip(ax.get_yticklabels(), others, strict=False):
            tick.set_color(style.text_colour(colours[name]))
        ax.margins(x=0.3)
        if share:
            ax.set_xlabel("change, percentage points")
            ax.set_title(f"{label}\n{names[0]}: {100 * base:.1f}%", fontsize=10)
        else:
            unit = info.unit.replace("currency", currency)
            ax.set_xlabel(f"change, {unit}")
            ax.set_title(f"{label}\n{names[0]}: {style.number(base)} {unit}", fontsize=10)
            style.thousands(ax.xaxis, 4)
        style.tidy(ax, "x")
    axes[0, 0].invert_yaxis()  # shared: the first scenario on top in every panel
    warning = (f"Only {replications} replication{'s' if replications > 1 else ''}: intervals this wide (or missing) "
               f"cannot support a decision; rerun with --replications {style.MIN_REPLICATIONS} or more"
               ) if replications < style.MIN_REPLICATIONS else None
    style.titled(fig, comparison_finding(comparison, names, currency),
                 f"Change vs {names[0]}: mean of {replications} paired replications (common random numbers); bars "
                 f"show the 95% interval; green good, red bad for that KPI, faded where the interval includes zero; "
                 f"labels: change relative to {names[0]}. {context}", warning)
    style.save(fig, path)


def comparison_series(series: dict[str, dict], replications: int, path: Path, start: str = "2025-01-01",
                      currency: str = "currency", context: str = "") -> None:
    """GMV (7-day mean) and customers over time, replication means per scenario, on a date axis."""
    names = list(series)
    colours = style.scenario_colours(names)
    fig, axes = plt.subplots(1, 2, figsize=(15, 5.2), layout="constrained")
    for name, s in series.items():
        dates = pd.date_range(start, periods=len(s["gmv"]), freq="D")  # scenarios may differ in days
        base = name == names[0]  # drawn on top, dashed, so scenarios that match it do not hide it
        line = {"lw": 2.0 if base else 1.4, "ls": "--" if base else "-", "zorder": 5 if base else 2,
                "color": colours[name], "label": name}
        axes[0].plot(dates, _week(pd.Series(s["gmv"])), **line)
        axes[1].plot(dates, s["customers_total"], **line)
    axes[0].set_title("GMV per day (7-day mean)", fontsize=10)
    axes[0].set_ylabel(f"{currency} per day")
    axes[1].set_title("Customers (everyone who has bought, cumulative)", fontsize=10)
    axes[1].set_ylabel("customers")
    for ax in axes:
        ax.set_ylim(bottom=0)
        style.dates(ax.xaxis)
        style.thousands(ax.yaxis)
        style.tidy(ax)
    axes[1].legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9)
    end = {name: s["customers_total"][-1] for name, s in series.items()}
    most = max(end, key=end.get)
    finding = (f"{most} ends with the most customers ({style.number(end[most])}, against "
               f"{style.number(end[names[0]])} in {names[0]})") if most != names[0] else \
        f"{names[0]} ends with the most customers ({style.number(end[most])})"
    style.titled(fig, finding, f"Mean of {replications} replications per scenario. {context}")
    style.save(fig, path)


def pareto_flags(values: np.ndarray) -> np.ndarray:
    """Rows no other row beats on every column (all columns: larger is better): the efficient points the
    Pareto charts mark, and the Pareto set of a sweep's analysis."""
    keep = np.ones(len(values), dtype=bool)
    for i in range(len(values)):
        others = np.delete(values, i, axis=0)
        beaten = np.all(others >= values[i], axis=1) & np.any(others > values[i], axis=1)
        keep[i] = not beaten.any()
    return keep


# --- the leadership deck of a comparison (each from the comparison folder's files alone) ------------


def leadership_charts(charts: Path, names: list[str], comparison: pd.DataFrame, targets: pd.DataFrame,
                      pnl: pd.DataFrame, series: pd.DataFrame, replications: int, currency: str,
                      context: str) -> None:
    """fan.png, bridge.png, tradeoff.png and (with targets) targets.png in the folder `charts`."""
    charts = Path(charts)
    fan_chart(series, names, replications, currency, context, charts / "fan.png")
    if {"new_state", "dormant_customers", "churned_customers"} <= set(series.columns):
        lifecycle_areas(series, names, replications, context, charts / "lifecycle.png")
    profit_bridge(pnl, names, currency, context, charts / "bridge.png")
    trade_off(comparison, names, currency, context, charts / "tradeoff.png")
    if len(targets):
        targets_panel(targets, context, charts / "targets.png")


def fan_chart(series: pd.DataFrame, names: list[str], replications: int, currency: str, context: str,
              path: Path) -> None:
    """GMV, customers and cumulative platform profit over time: the mean of the replications (as every other
    chart and table) and the band between their 10th and 90th percentiles, per scenario."""
    colours = style.scenario_colours(names)
    frame = series.assign(gmv7=series.groupby(["scenario", "replication"])["gmv"].transform(
        lambda x: x.rolling(7, min_periods=1).mean()),
        profit_cum=series.groupby(["scenario", "replication"])["platform_profit"].cumsum())
    panels = (("gmv7", f"GMV per day, 7-day mean ({currency})"), ("customers_total", "Customers (cumulative)"),
              ("profit_cum", f"Platform profit, cumulative ({currency})"))
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.4), layout="constrained")
    for ax, (column, title) in zip(axes, panels, strict=True):
        for name in names:
            one = frame[frame["scenario"] == name].groupby("date")[column]
            low, mid, high = one.quantile(0.1), one.mean(), one.quantile(0.9)
            ax.fill_between(mid.index, low, high, color=colours[name], alpha=0.18, lw=0)
            ax.plot(mid.index, mid, color=colours[name], lw=2.0 if name == names[0] else 1.4,
                    ls="--" if name == names[0] else "-", label=name, zorder=5 if name == names[0] else 2)
        ax.set_title(title, fontsize=10)
        if column != "profit_cum":
            ax.set_ylim(bottom=0)
        style.dates(ax.xaxis)
        style.thousands(ax.yaxis)
        style.tidy(ax)
    axes[0].set_ylabel(f"{currency} per day")
    axes[1].set_ylabel("customers")
    axes[2].set_ylabel(currency)
    axes[2].axhline(0, color="black", lw=0.6)
    axes[2].legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9)
    end = frame[frame["day"] == frame["day"].max()].groupby("scenario")["profit_cum"].mean()
    best = end.idxmax()
    finding = (f"{best} ends the period with the highest platform profit (mean {style.number(end[best])} {currency})"
               if end[best] >= 0 else f"Every scenario ends the period with a platform loss; {best} loses least "
               f"(mean {style.number(end[best])} {currency})")
    style.titled(fig, finding,
                 f"Lines: mean of {replications} replications; bands: 10th to 90th percentile of the replications "
                 f"(with few replications the band is only indicative). {context}",
                 f"Only {replications} replications: the bands are not reliable"
                 if replications < style.MIN_REPLICATIONS else None)
    style.save(fig, path)


LIFECYCLE = (("new", "#56B4E9"), ("active, not new", "#0072B2"), ("dormant", "#E69F00"), ("churned", "#bbbbbb"))


def lifecycle_areas(series: pd.DataFrame, names: list[str], replications: int, context: str, path: Path) -> None:
    """Per scenario, customers by lifecycle state over time (stacked, replication means), on one scale."""
    means = series.groupby(["scenario", "date"])[["new_state", "active_customers", "dormant_customers",
                                                  "churned_customers"]].mean()
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols + 1, 3.3 * rows + 1.2), layout="constrained",
                             squeeze=False, sharey=True, sharex=True)
    active_end = {}
    for ax, name in zip(axes.ravel(), names, strict=False):
        m = means.loc[name]
        stack = [m["new_state"], m["active_customers"] - m["new_state"], m["dormant_customers"], m["churned_customers"]]
        ax.stackplot(m.index, *stack, colors=[c for _, c in LIFECYCLE], labels=[s for s, _ in LIFECYCLE], alpha=0.9)
        active_end[name] = float(m["active_customers"].iloc[-1])
        ax.set_title(f"{name}: {style.number(active_end[name])} active (new included) at the end", fontsize=9,
                     color="black" if name == names[0] else style.text_colour(style.scenario_colours(names)[name]))
        style.dates(ax.xaxis)
        style.thousands(ax.yaxis)
        style.tidy(ax)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    axes[0, 0].legend(frameon=False, fontsize=8, loc="upper left")
    best = max(active_end, key=active_end.get)
    finding = (f"{best} ends with the most active customers ({style.number(active_end[best])} against "
               f"{style.number(active_end[names[0]])} in {names[0]})") if best != names[0] else \
        f"No scenario ends with more active customers than {names[0]}"
    style.titled(fig, finding, "Customers by lifecycle state (new: first order within the new-customer window; "
                 "active: bought within the dormancy window; dormant; churned: no order for the churn window), "
                 f"mean of {replications} replications. {context}")
    style.save(fig, path)


BRIDGE_MIN_MOVE = 0.05  # P&L lines moving platform profit by less than 5% of the largest line's move ...
BRIDGE_MIN_SHARE = 0.0005  # ... or by less than 0.05% of GMV are summed as "other lines"


def profit_bridge(pnl: pd.DataFrame, names: list[str], currency: str, context: str, path: Path) -> None:
    """Platform profit from the baseline to each scenario, P&L line by P&L line (a waterfall per scenario)."""
    platform = pnl[(pnl["party"] == "platform") & (pnl["kind"] != "profit")]
    table = platform.pivot_table(index="line", columns="scenario", values="amount", aggfunc="sum", sort=False)
    profit = table.sum()
    others = names[1:]
    cols = min(3, len(others))
    rows = -(-len(others) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 4.4 * rows), layout="constrained", squeeze=False)
    gmv = pnl[(pnl["party"] == "merchants") & (pnl["line"] == "sale")].set_index("scenario")["amount"]
    for ax, name in zip(axes.ravel(), others, strict=False):
        delta = (table[name] - table[names[0]]).fillna(0.0)
        # lines that move profit little (under 5% of the largest move, or 0.05% of GMV) are summed as "other"
        small = delta.abs() < max(BRIDGE_MIN_MOVE * float(delta.abs().max()),
                                  BRIDGE_MIN_SHARE * float(gmv.get(names[0], 1.0)))
        steps = [(line.replace("_", " "), v) for line, v in delta[~small].items() if v != 0]
        if delta[small].sum() != 0:
            steps.append(("other lines", float(delta[small].sum())))
        labels = [names[0], *[s for s, _ in steps], name]
        level = float(profit[names[0]])
        ax.bar(0, level, color=style.BASELINE)
        levels = [0.0, level]
        for i, (_, v) in enumerate(steps, start=1):
            ax.bar(i, v, bottom=level, color=style.GOOD if v > 0 else style.BAD)
            ax.annotate(style.number(v, True), (i, max(level, level + v)), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7)
            level += v
            levels.append(level)
        ax.bar(len(steps) + 1, float(profit[name]), color=style.scenario_colours(names)[name])
        low, high = min(levels), max(levels)  # set by hand: a step bar's base is a sticky edge for autoscaling
        pad = 0.15 * (high - low or 1.0)
        ax.set_ylim(low - (pad if low < 0 else 0), high + pad)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right", fontsize=8)
        ax.set_title(f"{name}: {style.number(float(profit[name] - profit[names[0]]), True)} {currency}", fontsize=10)
        ax.set_ylabel(currency)
        style.thousands(ax.yaxis)
        style.tidy(ax, "y")
    for ax in axes.ravel()[len(others):]:
        ax.set_visible(False)
    change = (profit[others] - profit[names[0]])
    best = change.idxmax()
    finding = (f"Platform profit: {best} gains most ({style.number(float(change[best]), True)} {currency} against "
               f"{names[0]})") if change[best] > 0 else (
        f"Every scenario lowers platform profit; {best} least ({style.number(float(change[best]), True)} {currency})")
    style.titled(fig, finding,
                 f"Each panel: {names[0]}'s platform profit (grey), each P&L line's change (green raises profit, red "
                 f"lowers it; lines moving it by under {BRIDGE_MIN_MOVE:.0%} of the largest line's move summed as "
                 f"other lines), the scenario's profit. Means over replications (pnl.csv). {context}")
    style.save(fig, path)


def trade_off(comparison: pd.DataFrame, names: list[str], currency: str, context: str, path: Path) -> None:
    """GMV and platform profit against carbon, with 95% intervals; the scenarios no other beats on both
    (more GMV or profit, less carbon) marked."""
    colours = style.scenario_colours(names)
    means = comparison.pivot_table(index="scenario", columns="kpi", values="mean", sort=False)
    low = comparison.pivot_table(index="scenario", columns="kpi", values="ci_low", sort=False)
    high = comparison.pivot_table(index="scenario", columns="kpi", values="ci_high", sort=False)
    delta = comparison.pivot_table(index="scenario", columns="kpi", values="delta_vs_baseline", sort=False)
    fig, axes = plt.subplots(1, 2, figsize=(15, 6), layout="constrained")
    efficient_all = {}
    for ax, kpi, label in ((axes[0], "gmv", "GMV"), (axes[1], "platform_profit", "platform profit")):
        points = means.loc[names, [kpi, "carbon_kg"]].to_numpy(dtype=float) * np.array([1.0, -1.0])
        efficient = pareto_flags(points)
        efficient_all[kpi] = [n for n, e in zip(names, efficient, strict=True) if e]
        for name, eff in zip(names, efficient, strict=True):
            x, y = means.loc[name, "carbon_kg"], means.loc[name, kpi]
            xerr = [[delta.loc[name, "carbon_kg"] - low.loc[name, "carbon_kg"]],
                    [high.loc[name, "carbon_kg"] - delta.loc[name, "carbon_kg"]]]
            yerr = [[delta.loc[name, kpi] - low.loc[name, kpi]], [high.loc[name, kpi] - delta.loc[name, kpi]]]
            ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", color=colours[name], ms=9 if eff else 6,
                        mec="black" if eff else colours[name], capsize=2, lw=0.8)
            ax.annotate(name + (" (efficient)" if eff else ""), (x, y), xytext=(6, 4), textcoords="offset points",
                        fontsize=8, fontweight="bold" if eff else "normal")
        ax.set_xlabel("carbon, kg CO2e (less is better)")
        ax.set_ylabel(f"{label}, {currency} (more is better)")
        style.thousands(ax.xaxis)
        style.thousands(ax.yaxis)
        style.tidy(ax)
    style.titled(fig, f"Efficient on GMV and carbon: {', '.join(efficient_all['gmv'])}; on platform profit and "
                      f"carbon: {', '.join(efficient_all['platform_profit'])}",
                 "Means over replications; bars: 95% paired interval of the change against the baseline; efficient: "
                 "no other scenario has both more GMV (or profit) and less carbon, judged on the means (where the "
                 f"bars overlap, the ranking is uncertain). {context}")
    style.save(fig, path)


def targets_panel(targets: pd.DataFrame, context: str, path: Path) -> None:
    """Each target of the scenarios: met, not met or inconclusive, with its estimate and 95% interval."""
    colour = {"met": style.GOOD, "not met": style.BAD, "inconclusive": "#E69F00"}
    fig, ax = plt.subplots(figsize=(12, 1.8 + 0.5 * len(targets)), layout="constrained")
    for i, t in enumerate(targets.itertuples()):
        c = colour.get(t.status, style.NEUTRAL)
        goal, estimate = style.target_texts(t.kpi, t.measure, t.goal, t.estimate, t.ci_low, t.ci_high)
        ax.text(0.0, i, f"{t.scenario}: {t.kpi}, {goal}", va="center", fontsize=10)
        ax.text(0.62, i, estimate, va="center", fontsize=10)
        ax.text(0.88, i, t.status.upper(), va="center", fontsize=10, fontweight="bold", color=c)
    ax.set_ylim(len(targets) - 0.5, -0.5)
    ax.set_xlim(0, 1)
    ax.axis("off")
    met = int((targets["status"] == "met").sum())
    style.titled(fig, f"{met} of {len(targets)} targets met", "Met: the whole 95% interval meets the goal; not met: "
                 f"the whole interval misses it; inconclusive: the interval straddles it. {context}")
    style.save(fig, path)


# --- sweeps (run.py analyze) ---------------------------------------------------------------------


def _kpi_label(kpi: str, currency: str = "currency") -> str:
    from sim.kpis import by_name
    unit = by_name().get(kpi)
    return f"{kpi} ({unit.unit.replace('currency', currency)})" if unit is not None else kpi


def setting_label(row: pd.Series, levers: list[str], short: bool = True) -> str:
    """'take_rate=0.12, ev_share=0.5' (short: the last part of each path)."""
    def value(v) -> str:
        return f"{v:g}" if isinstance(v, (int, float)) else str(v)
    return ", ".join(f"{p.split('.')[-1] if short else p}={value(row[p])}" for p in levers)


def sensitivity_bars(table: pd.DataFrame, kpi: str, design: str, n: int, title: str, path: Path,
                     currency: str = "currency", warning: str | None = None) -> None:
    """One KPI's sensitivity to each parameter: Sobol ST and S1, or Morris mu* and sigma, with 95% CIs;
    `warning` (e.g. the sample was too small) is printed in red under the title."""
    from matplotlib.patches import Patch
    sobol = design == "sobol"
    rows = table.sort_values("ST" if sobol else "mu_star", ascending=True)
    y = range(len(rows))
    fig, ax = plt.subplots(figsize=(11, 2.4 + 0.55 * len(rows)), layout="constrained")
    lever, uncertain = style.SCENARIOS[0], style.SCENARIOS[1]
    colours = [lever if k == "lever" else uncertain for k in rows["kind"]]
    kinds = [Patch(color=lever, label="lever"), Patch(color=uncertain, label="uncertainty")]
    if sobol:
        ax.barh([i + 0.2 for i in y], rows["ST"], height=0.4, color=colours)
        ax.errorbar(rows["ST"], [i + 0.2 for i in y], xerr=rows["ST_conf"], fmt="none", color="black", capsize=3, lw=1)
        ax.barh([i - 0.2 for i in y], rows["S1"], height=0.4, color=colours, alpha=0.4)
        ax.errorbar(rows["S1"], [i - 0.2 for i in y], xerr=rows["S1_conf"], fmt="none", color="black", capsize=3,
                    lw=1)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel("share of the KPI's variance (Sobol index)")
        ax.set_xlim(left=min(0.0, float((rows["S1"] - rows["S1_conf"]).min())))
        handles = [Patch(color="#555555", label="upper bar: total order ST (alone and with others)"),
                   Patch(color="#555555", alpha=0.4, label="lower bar: first order S1 (alone)"), *kinds]
        method = f"Sobol indices, N = {n} base samples"
    else:
        ax.barh(y, rows["mu_star"], color=colours)
        ax.errorbar(rows["mu_star"], y, xerr=rows["mu_star_conf"], fmt="none", color="black", capsize=3, lw=1)
        dots = ax.scatter(rows["sigma"], y, marker="D", color="black", zorder=3,
                          label="sigma (interactions, non-linearity)")
        ax.set_xlabel(f"change of {_kpi_label(kpi, currency)} across a parameter's whole range")
        ax.set_xlim(left=0)
        style.thousands(ax.xaxis)
        handles = [Patch(color="#555555", label="mu* (mean absolute effect)"), dots, *kinds]
        method = f"Morris elementary effects, {n} trajectories"
    ax.set_yticks(list(y), rows["parameter"])
    ax.legend(handles=handles, frameon=False, loc="lower right", fontsize=8)
    style.tidy(ax, "x")
    top = rows.iloc[-1]
    index = f"ST {top['ST']:.2f} ± {top['ST_conf']:.2f}" if sobol else \
        f"mu* {style.number(top['mu_star'])} ± {style.number(top['mu_star_conf'])}"
    style.titled(fig, f"{top['parameter']} moves {kpi} most ({index})",
                 f"{title}. {method}, replications averaged per point; bars show 95% bootstrap intervals.", warning)
    style.save(fig, path)


def pareto_scatter(settings: pd.DataFrame, levers: list[str], goals: dict[str, str], title: str,
                   path: Path, currency: str = "currency") -> None:
    """Each lever setting on the first two objectives; the Pareto-efficient ones (over all objectives) marked."""
    (x, gx), (y, gy) = list(goals.items())[:2]
    fig, ax = plt.subplots(figsize=(9, 6), constrained_layout=True)
    rest, best = settings[~settings["pareto"]], settings[settings["pareto"]]
    if len(rest):
        ax.scatter(rest[x], rest[y], color="#bbbbbb", s=30, label="dominated setting")
    ax.scatter(best[x], best[y], color=style.BAD, s=45, label="Pareto-efficient setting", zorder=3)
    labelled = settings if len(settings) <= 12 else best if len(best) <= 12 else best.iloc[:0]
    for _, row in labelled.iterrows():
        ax.annotate(setting_label(row, levers), (row[x], row[y]), fontsize=7, xytext=(4, 4),
                    textcoords="offset points", color="black" if row["pareto"] else "#888888")
    ax.set_xlabel(f"{_kpi_label(x, currency)}, {'higher' if gx == 'max' else 'lower'} is better")
    ax.set_ylabel(f"{_kpi_label(y, currency)}, {'higher' if gy == 'max' else 'lower'} is better")
    style.thousands(ax.xaxis)
    style.thousands(ax.yaxis)
    others = [k for k in goals if k not in (x, y)]
    note = f"efficient over all objectives ({', '.join(goals)})" if others else "efficient over both objectives"
    ax.legend(frameon=False, fontsize=9)
    style.tidy(ax)
    style.titled(fig, f"{len(best)} of {len(settings)} lever settings are Pareto-efficient", f"{title}. Mean over "
                 f"replications and uncertainties; {note}: no other setting is better on all of them at once.")
    style.save(fig, path)


def regret_bars(table: pd.DataFrame, levers: list[str], title: str, path: Path, currency: str = "currency") -> None:
    """Per objective: each lever setting's worst-case regret across the uncertainty sample; the most robust marked."""
    kpis = list(dict.fromkeys(table["kpi"]))
    settings = table[table["kpi"] == kpis[0]]
    fig, axes = plt.subplots(1, len(kpis), figsize=(4.5 * len(kpis) + 2.5, 2.4 + 0.35 * len(settings)),
                             layout="constrained", squeeze=False, sharey=True)
    for ax, kpi in zip(axes[0], kpis, strict=True):
        rows = table[table["kpi"] == kpi].reset_index(drop=True)
        colours = [style.GOOD if r else style.SCENARIOS[0] for r in rows["most_robust"]]
        ax.barh(range(len(rows)), rows["max_regret"], color=colours)
        for i, row in rows.iterrows():  # a zero-length bar is invisible: say it
            if row["most_robust"]:
                ax.annotate("most robust", (row["max_regret"], i), xytext=(4, 0), textcoords="offset points",
                            va="center", fontsize=8, color=style.GOOD)
        ax.set_yticks(range(len(rows)), [setting_label(r, levers) for _, r in rows.iterrows()])
        ax.set_xlim(left=0)
        ax.set_title(f"{kpi} ({rows['goal'].iloc[0]})", fontsize=10)
        ax.set_xlabel(f"worst-case shortfall from the best setting\n{_kpi_label(kpi, currency)}", fontsize=9)
        style.thousands(ax.xaxis)
        style.tidy(ax, "x")
    axes[0][0].invert_yaxis()
    first = table[(table["kpi"] == kpis[0]) & table["most_robust"]].iloc[0]
    style.titled(fig, f"Most robust for {kpis[0]}: {setting_label(first, levers)} (worst-case regret "
                      f"{style.number(first['max_regret'])})",
                 f"{title}. Regret: in each uncertainty scenario, the shortfall from the best lever setting there; "
                 "green: the setting with the smallest worst-case regret (minimax regret).")
    style.save(fig, path)


# --- calibration (run.py calibrate) ------------------------------------------------------------------


def calibration_tracking(tracking: pd.DataFrame, unit: str, holdout: dict | None, context: str, path: Path) -> None:
    """Cumulative repeat transactions per period: the log's and the fitted BG/NBD's, the calibration end
    marked; beside it, the same per period."""
    fig, (cum, per) = plt.subplots(1, 2, figsize=(15, 5.6), layout="constrained")
    dates = pd.to_datetime(tracking["period_end"])
    for ax, actual, model in ((cum, tracking["actual_cumulative"], tracking["model_cumulative"]),
                              (per, tracking["actual_cumulative"].diff().fillna(tracking["actual_cumulative"]),
                               tracking["model_cumulative"].diff().fillna(tracking["model_cumulative"]))):
        ax.plot(dates, actual, color="black", lw=1.8, label="actual (the log)")
        ax.plot(dates, model, color=style.SCENARIOS[0], lw=1.8, ls="--", label="BG/NBD fit")
        if holdout is not None:
            split = dates[~tracking["holdout"]].iloc[-1]
            ax.axvline(split, color=style.SUBTLE, lw=0.8, ls=":")
            ax.annotate("calibration | holdout", (split, 0.02), xycoords=("data", "axes fraction"), ha="center",
                        fontsize=8, color=style.SUBTLE, backgroundcolor="white")
        ax.set_ylim(bottom=0)
        style.dates(ax.xaxis)
        style.thousands(ax.yaxis)
        style.tidy(ax)
    cum.set_ylabel("repeat transactions, cumulative")
    per.set_ylabel(f"repeat transactions per {unit}")
    cum.legend(frameon=False, loc="upper left")
    cum.set_title("Cumulative", fontsize=10)
    per.set_title(f"Per {unit}", fontsize=10)
    if holdout is not None and holdout["error_percent"] is not None:
        finding = (f"The fit forecasts {style.number(holdout['forecast_repeat_transactions'])} repeat transactions in "
                   f"the holdout against {style.number(holdout['actual_repeat_transactions'])} actual "
                   f"({holdout['error_percent']:+.1f}%; cumulative "
                   f"{100 * (holdout['forecast_cumulative_end'] / holdout['actual_cumulative_end'] - 1):+.1f}% "
                   "by the end)")
    else:
        last = tracking.iloc[-1]
        finding = (f"The fit tracks {style.number(last['model_cumulative'])} repeat transactions against "
                   f"{style.number(last['actual_cumulative'])} in the log (no holdout: give --calibration-end to "
                   "test a forecast)")
    style.titled(fig, finding, f"Model: the sum over customers of the BG/NBD expected repeat transactions since each "
                 f"one's first purchase (Fader, Hardie & Lee 2005, eq. 9). {context}")
    style.save(fig, path)


def calibration_conditional(conditional: pd.DataFrame, unit: str, context: str, path: Path) -> None:
    """Mean holdout transactions by calibration-period repeat frequency: the log's and the model's."""
    fig, ax = plt.subplots(figsize=(11, 5.6), layout="constrained")
    x = np.arange(len(conditional))
    ax.plot(x, conditional["actual_mean"], color="black", marker="o", lw=1.8, label="actual (the log)")
    ax.plot(x, conditional["model_mean"], color=style.SCENARIOS[0], marker="s", lw=1.8, ls="--",
            label="BG/NBD conditional expectation")
    ax.set_xticks(x, [f"{f}\n({n:,})" for f, n in zip(conditional["frequency"], conditional["customers"], strict=True)])
    ax.set_xlabel("repeat transactions in the calibration period (customers)")
    ax.set_ylabel("mean repeat transactions in the holdout")
    ax.set_ylim(bottom=0)
    style.tidy(ax)
    ax.legend(frameon=False, loc="upper left")
    worst = (conditional["model_mean"] - conditional["actual_mean"]).abs().idxmax()
    row = conditional.loc[worst]
    gap = conditional["model_mean"] - conditional["actual_mean"]
    relative = (gap.abs() / conditional["actual_mean"].where(conditional["actual_mean"] > 0)).max()
    verdict = (f"Holdout forecasts within {relative:.0%} of the log at every calibration frequency"
               if relative <= 0.05 else
               "The fit under-forecasts the holdout at every calibration frequency" if (gap < 0).all() else
               "The fit over-forecasts the holdout at every calibration frequency" if (gap > 0).all() else
               "The fit's holdout forecasts fall on both sides of the log")
    style.titled(fig, f"{verdict}; largest gap at {row['frequency']} ({row['model_mean']:.2f} vs "
                 f"{row['actual_mean']:.2f})",
                 f"E[holdout transactions | calibration frequency, recency, age] (Fader, Hardie & Lee 2005, eq. 10), "
                 f"averaged over the customers of each frequency. {context}")
    style.save(fig, path)
