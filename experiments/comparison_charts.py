"""Charts of a comparison (`run.py compare`, `report`): each from the comparison folder's files alone;
the house style of sim/style.py. Computation lives beside the data (comparison.py, stats.py)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from experiments.stats import overlapping, pareto_flags  # noqa: E402
from sim import style  # noqa: E402
from sim.charts import weekly_mean  # noqa: E402
from sim.kpis import CATALOGUE  # noqa: E402


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
        largest = month1.loc[others, "change_pp"].idxmax() if others else None
        overlaps = overlapping(month1.loc[others], best, "ci_low_pp", "ci_high_pp", "change_pp") \
            if best is not None and len(others) > 1 else None
        if best is not None and best == largest and len(others) > 1 and not overlaps:
            finding = (f"{best} brings most new customers back the month after ({up.loc[best, 'change_pp']:+.1f} pp "
                       f"against {names[0]}'s {base:.1%})")
        elif best is not None and best == largest:
            finding = (f"{best} brings more new customers back the month after ({up.loc[best, 'change_pp']:+.1f} pp "
                       f"against {names[0]}'s {base:.1%})" + (f"; the most on the means, its interval overlapping "
                                                             f"{overlaps}'s" if overlaps else ""))
        elif best is not None:
            finding = (f"{best} brings clearly more new customers back the month after "
                       f"({up.loc[best, 'change_pp']:+.1f} pp against {names[0]}'s {base:.1%}); {largest}'s larger "
                       "change is not distinguishable from zero")
        else:
            finding = f"No scenario brings clearly more new customers back the month after than {names[0]} ({base:.1%})"
    style.titled(fig, finding, "Cohorts: customers by the calendar month of their first purchase in the measured "
                 f"period, all cohorts weighted by size. Lines: mean of {replications} replications; bands: lowest "
                 f"to highest replication; a later month averages only the cohorts old enough to reach it. Bars: "
                 f"mean change, whiskers: its 95% paired interval (faded where it includes 0). {context}",
                 f"Only {replications} replications: the intervals are not reliable"
                 if replications < style.MIN_REPLICATIONS else None)
    style.save(fig, path)


# the key KPIs of the comparison charts: the catalogue's marked `key`, in its order, with their labels
KEY_KPIS = tuple((k.name, k.title) for k in CATALOGUE if k.key)


def _significant(row: pd.Series) -> bool:
    """The 95% interval excludes zero (one replication has no interval: never significant)."""
    return bool(row.get("replications", 2) >= 2 and (row["ci_low"] > 0 or row["ci_high"] < 0))


def change_sentence(sub: pd.DataFrame, label: str, unit: str = "") -> str:
    """What the scenarios' changes of one KPI say, and no more: `sub` has one row per scenario (index) with
    delta_vs_baseline, ci_low, ci_high. "most" only for the largest change when its interval is clear of
    zero and of every other scenario's interval (overlapping intervals: the most on the means, said so);
    "every" only when every interval is clear of zero; otherwise how many are clear."""
    unit = f" {unit}" if unit else ""
    up = [n for n, r in sub.iterrows() if _significant(r) and r["delta_vs_baseline"] > 0]
    down = [n for n, r in sub.iterrows() if _significant(r) and r["delta_vs_baseline"] < 0]
    largest = sub["delta_vs_baseline"].idxmax()

    def said(name: str) -> str:
        r = sub.loc[name]
        return (f"{style.number(r['delta_vs_baseline'], True)}{unit} [{style.number(r['ci_low'], True)}, "
                f"{style.number(r['ci_high'], True)}]")
    if up and largest in up:
        overlaps = overlapping(sub, largest)
        if len(sub) == 1:
            return f"{largest} raises {label} for sure ({said(largest)})"
        if not overlaps:
            return f"{largest} raises {label} most ({said(largest)})"
        return (f"{largest} raises {label} for sure ({said(largest)}), the most on the means (its interval overlaps "
                f"{overlaps}'s)")
    if up:
        best = max(up, key=lambda n: sub.loc[n, "delta_vs_baseline"])
        return (f"{best} raises {label} for sure ({said(best)}); {largest}'s larger change is not distinguishable "
                "from zero")
    if len(down) == len(sub) and len(sub) > 1:
        overlaps = overlapping(sub, largest)  # the smallest fall, clearly smallest only clear of the others
        if overlaps:
            return (f"every scenario lowers {label} for sure; {largest} the least on the means ({said(largest)}; "
                    f"its interval overlaps {overlaps}'s)")
        return f"every scenario lowers {label} for sure; {largest} least ({said(largest)})"
    if len(sub) == 1:  # one scenario: said by name, with its interval
        (name,) = sub.index
        if down:
            return f"{name} lowers {label} for sure ({said(name)})"
        interval = sub.loc[name].get("replications", 2) >= 2  # one replication has no interval to show
        return f"{name} does not change {label} for sure" + (f" ({said(name)})" if interval else "")
    if len(down) == 1:
        return f"no scenario raises {label} for sure; {down[0]} lowers it for sure ({said(down[0])})"
    if down:
        return f"no scenario raises {label} for sure; {len(down)} of {len(sub)} lower it for sure"
    return f"no scenario changes {label} for sure"


def kpi_sentence(comparison: pd.DataFrame, names: list[str], kpi: str, label: str, unit: str = "") -> str:
    """change_sentence for one KPI of comparison.csv's table, over the scenarios other than the baseline."""
    sub = comparison[(comparison["kpi"] == kpi) & comparison["scenario"].isin(names[1:])]
    return change_sentence(sub.set_index("scenario"), label, unit)


def comparison_finding(comparison: pd.DataFrame, names: list[str], currency: str) -> str:
    """The comparison in one sentence: what moves GMV and platform profit, as far as the intervals say."""
    rows = comparison[comparison["scenario"].isin(names[1:])].set_index(["kpi", "scenario"])
    if len(names) == 2:
        g, p = rows.loc[("gmv", names[1])], rows.loc[("platform_profit", names[1])]
        rel = f" ({g['relative_delta']:+.1%})" if np.isfinite(g["relative_delta"]) else ""
        def unsure(r: pd.Series) -> str:
            return "" if _significant(r) else " (interval includes zero)"
        return (f"{names[1]} vs {names[0]}: GMV {style.number(g['delta_vs_baseline'], True)} {currency}{rel}"
                f"{unsure(g)}, platform profit {style.number(p['delta_vs_baseline'], True)} {currency}{unsure(p)}")
    return "; ".join(kpi_sentence(comparison, names, kpi, label, currency)
                     for kpi, label in (("gmv", "GMV"), ("platform_profit", "platform profit")))


def comparison_deltas(comparison: pd.DataFrame, names: list[str], replications: int, path: Path,
                      currency: str = "currency", context: str = "") -> None:
    """Change vs baseline of the key KPIs in each KPI's own unit (percentage points for rates), with 95%
    paired intervals; green when good for that KPI, red when bad, faded when the interval includes 0."""
    from sim.kpis import by_name
    catalogue = by_name()
    others = names[1:]
    colours = style.scenario_colours(names)
    rows_of_panels = -(-len(KEY_KPIS) // 4)  # four panels a row, as many rows as the catalogue's key KPIs need
    fig, axes = plt.subplots(rows_of_panels, 4, figsize=(17, (1.8 + 0.35 * len(others)) * rows_of_panels),
                             layout="constrained", sharey=True, squeeze=False)
    for ax in axes.ravel()[len(KEY_KPIS):]:
        ax.set_visible(False)
    for ax, (kpi, label) in zip(axes.ravel(), KEY_KPIS, strict=False):
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
                 f"Change vs {names[0]}: mean of {replications} paired replications (common random numbers); bar: the "
                 f"mean change, whisker: its 95% interval; green good, red bad for that KPI, faded where the interval "
                 f"includes zero; labels: change relative to {names[0]}, where its value is positive and the change "
                 f"at most 100% (none for shares, in percentage points). {context}", warning)
    style.save(fig, path)


def comparison_series(series: dict[str, dict], replications: int, path: Path, start: str = "2025-01-01",
                      currency: str = "currency", context: str = "", comparison: pd.DataFrame | None = None) -> None:
    """GMV (7-day mean) and customers over time, replication means per scenario, on a date axis."""
    names = list(series)
    colours = style.scenario_colours(names)
    fig, axes = plt.subplots(1, 2, figsize=(15, 5.2), layout="constrained")
    for name, s in series.items():
        dates = pd.date_range(start, periods=len(s["gmv"]), freq="D")  # scenarios may differ in days
        base = name == names[0]  # drawn on top, dashed, so scenarios that match it do not hide it
        line = {"lw": 2.0 if base else 1.4, "ls": "--" if base else "-", "zorder": 5 if base else 2,
                "color": colours[name], "label": name}
        axes[0].plot(dates, weekly_mean(pd.Series(s["gmv"])), **line)
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
    if comparison is not None and len(names) > 1:  # the title says what the paired intervals say
        finding = "Customers at the end: " + kpi_sentence(comparison, names, "customers_total", "them")
    else:
        end = {name: s["customers_total"][-1] for name, s in series.items()}
        most = max(end, key=end.get)
        finding = (f"On the means, {most} ends with the most customers ({style.number(end[most])}, against "
                   f"{style.number(end[names[0]])} in {names[0]})") if most != names[0] else \
            f"On the means, {names[0]} ends with the most customers ({style.number(end[most])})"
    style.titled(fig, finding, f"Mean of {replications} replications per scenario. {context}")
    style.save(fig, path)


# --- the leadership deck of a comparison (each from the comparison folder's files alone) ------------


def leadership_charts(charts: Path, names: list[str], comparison: pd.DataFrame, targets: pd.DataFrame,
                      pnl: pd.DataFrame, series: pd.DataFrame, replications: int, currency: str,
                      context: str) -> None:
    """fan.png, bridge.png, tradeoff.png and (with targets) targets.png in the folder `charts`."""
    charts = Path(charts)
    fan_chart(series, names, replications, currency, context, charts / "fan.png", comparison)
    if {"new_state", "dormant_customers", "churned_customers"} <= set(series.columns):
        lifecycle_areas(series, names, replications, context, charts / "lifecycle.png", comparison)
    profit_bridge(pnl, names, currency, context, charts / "bridge.png", comparison)
    trade_off(comparison, names, currency, context, charts / "tradeoff.png")
    if len(targets):
        targets_panel(targets, context, charts / "targets.png")


def fan_chart(series: pd.DataFrame, names: list[str], replications: int, currency: str, context: str,
              path: Path, comparison: pd.DataFrame | None = None) -> None:
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
            for edge in (low, high):  # overlapping bands blend: their edges in the scenario's colour tell them apart
                ax.plot(edge.index, edge, color=colours[name], lw=0.6, ls=":", alpha=0.9)
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
    handles, labels = axes[2].get_legend_handles_labels()
    band = Line2D([], [], color="#777777", lw=0.6, ls=":")
    axes[2].legend([*handles, band], [*labels, "band edges: 10th and\n90th percentile"], frameon=False,
                   loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9)
    if comparison is not None and len(names) > 1:  # the title says what the paired intervals say
        finding = "Platform profit over the period: " + kpi_sentence(comparison, names, "platform_profit", "it",
                                                                        currency)
    else:
        end = frame[frame["day"] == frame["day"].max()].groupby("scenario")["profit_cum"].mean()
        best = end.idxmax()
        finding = (f"On the means, {best} ends the period with the highest platform profit "
                   f"({style.number(end[best])} {currency})" if end[best] >= 0 else
                   f"On the means, every scenario ends the period with a platform loss; {best} loses least "
                   f"({style.number(end[best])} {currency})")
    style.titled(fig, finding,
                 f"Lines: mean of {replications} replications; bands (dotted edges in the scenario's colour): 10th "
                 f"to 90th percentile of the replications "
                 f"(with few replications the band is only indicative). {context}",
                 f"Only {replications} replications: the bands are not reliable"
                 if replications < style.MIN_REPLICATIONS else None)
    style.save(fig, path)


LIFECYCLE = (("new", "#56B4E9"), ("active, not new", "#0072B2"), ("dormant", "#E69F00"), ("churned", "#bbbbbb"))


def lifecycle_areas(series: pd.DataFrame, names: list[str], replications: int, context: str, path: Path,
                    comparison: pd.DataFrame | None = None) -> None:
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
    for ax in axes[:, 0]:
        ax.set_ylabel("customers")
    axes[0, 0].legend(frameon=False, fontsize=8, loc="upper left")
    if comparison is not None and len(names) > 1:  # the title says what the paired intervals say
        finding = "Active customers at the end: " + kpi_sentence(comparison, names, "active_customers_end", "them")
    else:
        best = max(active_end, key=active_end.get)
        finding = (f"On the means, {best} ends with the most active customers ({style.number(active_end[best])} "
                   f"against {style.number(active_end[names[0]])} in {names[0]})") if best != names[0] else \
            f"On the means, no scenario ends with more active customers than {names[0]}"
    style.titled(fig, finding, "Customers by lifecycle state (new: first order within the new-customer window; "
                 "active: bought within the dormancy window; dormant; churned: no order for the churn window), "
                 f"mean of {replications} replications. {context}")
    style.save(fig, path)


BRIDGE_MIN_MOVE = 0.05  # P&L lines moving platform profit by less than 5% of the largest line's move ...
BRIDGE_MIN_SHARE = 0.0005  # ... or by less than 0.05% of GMV are summed as "other lines"


def profit_bridge(pnl: pd.DataFrame, names: list[str], currency: str, context: str, path: Path,
                  comparison: pd.DataFrame | None = None) -> None:
    """Platform profit from the baseline to each scenario, P&L line by P&L line (a waterfall per scenario)."""
    platform = pnl[(pnl["party"] == "platform") & (pnl["kind"] != "profit")]
    table = platform.pivot_table(index="line", columns="scenario", values="amount", aggfunc="sum", sort=False)
    profit = table.sum()
    others = names[1:]
    gmv = pnl[(pnl["party"] == "merchants") & (pnl["line"] == "sale")].set_index("scenario")["amount"]
    all_steps = {}
    for name in others:
        delta = (table[name] - table[names[0]]).fillna(0.0)
        # lines that move profit little (under 5% of the largest move, or 0.05% of GMV) are summed as "other"
        small = delta.abs() < max(BRIDGE_MIN_MOVE * float(delta.abs().max()),
                                  BRIDGE_MIN_SHARE * float(gmv.get(names[0], 1.0)))
        steps = [(line.replace("_", " "), v) for line, v in delta[~small].items() if v != 0]
        if delta[small].sum() != 0:
            steps.append(("other lines", float(delta[small].sum())))
        all_steps[name] = steps
    # a horizontal waterfall per scenario, top to bottom: the line names sit on the y axis, where they cannot
    # overlap however many lines move, and each step's amount at its bar's end
    cols = min(3, len(others))
    rows = -(-len(others) // cols)
    bars = max(len(s) for s in all_steps.values()) + 2
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, (0.32 * bars + 1.2) * rows + 0.8), layout="constrained",
                             squeeze=False)
    for ax, name in zip(axes.ravel(), others, strict=False):
        steps = all_steps[name]
        labels = [names[0], *[s for s, _ in steps], name]
        level = float(profit[names[0]])
        ax.barh(0, level, color=style.BASELINE)
        levels = [0.0, level]
        for i, (_, v) in enumerate(steps, start=1):
            ax.barh(i, v, left=level, color=style.GOOD if v > 0 else style.BAD)
            ax.annotate(style.number(v, True), (max(level, level + v), i), xytext=(3, 0), textcoords="offset points",
                        ha="left", va="center", fontsize=7)
            level += v
            levels.append(level)
        ax.barh(len(steps) + 1, float(profit[name]), color=style.scenario_colours(names)[name])
        low, high = min(levels), max(levels)  # set by hand: a step bar's base is a sticky edge for autoscaling
        pad = 0.2 * (high - low or 1.0)
        ax.set_xlim(low - (pad if low < 0 else 0), high + pad)
        ax.axvline(0, color="black", lw=0.6)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_ylim(len(labels) - 0.5, -0.5)
        ci = ""  # the change's 95% paired interval, where the comparison's table is at hand
        if comparison is not None:
            row = comparison[(comparison["kpi"] == "platform_profit") & (comparison["scenario"] == name)]
            if len(row):
                ci = " [{}, {}]".format(*(style.number(float(row[c].iloc[0]), True) for c in ("ci_low", "ci_high")))
        ax.set_title(f"{name}: {style.number(float(profit[name] - profit[names[0]]), True)}{ci} {currency}",
                     fontsize=10)
        ax.set_xlabel(currency)
        style.thousands(ax.xaxis)
        style.tidy(ax, "x")
    for ax in axes.ravel()[len(others):]:
        ax.set_visible(False)
    if comparison is not None:
        finding = "Platform profit: " + kpi_sentence(comparison, names, "platform_profit", "it", currency)
    else:
        change = (profit[others] - profit[names[0]])
        best = change.idxmax()
        finding = (f"Platform profit, on the means: {best} changes it most favourably "
                   f"({style.number(float(change[best]), True)} {currency} against {names[0]})")
    style.titled(fig, finding,
                 f"Each panel: {names[0]}'s platform profit (grey), each P&L line's change (green raises profit, red "
                 f"lowers it; lines moving it by under {BRIDGE_MIN_MOVE:.0%} of the largest line's move summed as "
                 f"other lines), the scenario's profit. Means over replications (pnl.csv); in each title the change "
                 f"with its 95% paired interval where the comparison gives it. {context}")
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
                        mec="black" if eff else colours[name], capsize=2, lw=0.8, label=name)
        ax.set_xlabel("carbon, kg CO2e (less is better)")
        ax.set_ylabel(f"{label}, {currency} (more is better)")
        style.thousands(ax.xaxis)
        style.thousands(ax.yaxis)
        style.tidy(ax)
    # the same marker for a scenario in the legend whichever panel finds it efficient; what the large dot means
    handles = [Line2D([], [], ls="none", marker="o", ms=6, color=colours[n]) for n in names]
    handles.append(Line2D([], [], ls="none", marker="o", ms=9, mfc="white", mec="black"))
    axes[1].legend(handles, [*names, "efficient in that panel"], frameon=False, loc="upper left",
                   bbox_to_anchor=(1.01, 1), fontsize=8)
    style.titled(fig, f"On the means, {len(efficient_all['gmv'])} of {len(names)} scenarios are efficient on GMV and "
                      f"carbon, {len(efficient_all['platform_profit'])} on platform profit and carbon (where the "
                      "intervals overlap the ranking is uncertain)",
                 "Means over replications; whiskers: 95% paired interval of the change against the baseline; efficient "
                 "(large dot, black edge): no other scenario has both more GMV (or profit) and less carbon, judged on "
                 f"the means (where the intervals overlap, the ranking is uncertain). {context}")
    style.save(fig, path)


def targets_panel(targets: pd.DataFrame, context: str, path: Path) -> None:
    """Each target of the scenarios: met, not met or inconclusive, with its estimate and 95% interval."""
    colour = {"met": style.GOOD, "not met": style.BAD, "inconclusive": "#E69F00"}
    colour.update({s: style.BAD for s in targets["status"] if s.startswith("unreachable")})
    fig, ax = plt.subplots(figsize=(12, 1.8 + 0.5 * len(targets)), layout="constrained")
    for i, t in enumerate(targets.itertuples()):
        c = colour.get(t.status, style.NEUTRAL)
        goal, estimate = style.target_texts(t.kpi, t.measure, t.goal, t.estimate, t.ci_low, t.ci_high)
        status, _, why = t.status.partition(": ")  # "unreachable: at most ..." keeps its reason beside the estimate
        ax.text(0.0, i, f"{t.scenario}: {t.kpi}, {goal}", va="center", fontsize=10)
        ax.text(0.55, i, estimate + (f" ({why})" if why else ""), va="center", fontsize=10)
        ax.text(0.88, i, status.upper(), va="center", fontsize=10, fontweight="bold", color=c)
    ax.set_ylim(len(targets) - 0.5, -0.5)
    ax.set_xlim(0, 1)
    ax.axis("off")
    met = int((targets["status"] == "met").sum())
    style.titled(fig, f"{met} of {len(targets)} targets met", "Met: the whole 95% interval meets the goal; not met: "
                 "the whole interval misses it; inconclusive: the interval straddles it; unreachable: the goal is "
                 f"above what the KPI can be by construction in these runs. {context}")
    style.save(fig, path)


# --- sweeps (run.py analyze) ---------------------------------------------------------------------
