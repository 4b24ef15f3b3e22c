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


# --- sweeps (run.py analyze) ---------------------------------------------------------------------


def _kpi_label(kpi: str, currency: str = "currency") -> str:
    from sim.kpis import by_name
    unit = by_name().get(kpi)
    return f"{kpi} ({unit.unit.replace('currency', currency)})" if unit is not None else kpi


def _thousands(axis) -> None:
    from matplotlib.ticker import FuncFormatter
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}"))


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
    fig, ax = plt.subplots(figsize=(11, 1.8 + 0.55 * len(rows)), constrained_layout=True)
    colours = ["#1f5f99" if k == "lever" else "#d9822b" for k in rows["kind"]]
    kinds = [Patch(color="#1f5f99", label="lever"), Patch(color="#d9822b", label="uncertainty")]
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
        _thousands(ax.xaxis)
        handles = [Patch(color="#555555", label="mu* (mean absolute effect)"), dots, *kinds]
        method = f"Morris elementary effects, {n} trajectories"
    ax.set_yticks(list(y), rows["parameter"])
    ax.legend(handles=handles, frameon=False, loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(f"{method}, replications averaged per point; bars show 95% bootstrap intervals", fontsize=9,
                 color="#444444")
    if warning:
        ax.text(0.5, 1.12, warning, transform=ax.transAxes, ha="center", fontsize=9, color="#c0392b")
    fig.suptitle(title, fontsize=13)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def pareto_scatter(settings: pd.DataFrame, levers: list[str], goals: dict[str, str], title: str,
                   path: Path, currency: str = "currency") -> None:
    """Each lever setting on the first two objectives; the Pareto-efficient ones (over all objectives) marked."""
    (x, gx), (y, gy) = list(goals.items())[:2]
    fig, ax = plt.subplots(figsize=(9, 6), constrained_layout=True)
    rest, best = settings[~settings["pareto"]], settings[settings["pareto"]]
    if len(rest):
        ax.scatter(rest[x], rest[y], color="#bbbbbb", s=30, label="dominated setting")
    ax.scatter(best[x], best[y], color="#c0392b", s=45, label="Pareto-efficient setting", zorder=3)
    labelled = settings if len(settings) <= 12 else best if len(best) <= 12 else best.iloc[:0]
    for _, row in labelled.iterrows():
        ax.annotate(setting_label(row, levers), (row[x], row[y]), fontsize=7, xytext=(4, 4),
                    textcoords="offset points", color="black" if row["pareto"] else "#888888")
    ax.set_xlabel(f"{_kpi_label(x, currency)}, {'higher' if gx == 'max' else 'lower'} is better")
    ax.set_ylabel(f"{_kpi_label(y, currency)}, {'higher' if gy == 'max' else 'lower'} is better")
    _thousands(ax.xaxis)
    _thousands(ax.yaxis)
    others = [k for k in goals if k not in (x, y)]
    note = f"efficient over all objectives ({', '.join(goals)})" if others else "efficient over both objectives"
    ax.set_title(f"mean over replications and uncertainties; {note}", fontsize=9, color="#444444")
    ax.legend(frameon=False, fontsize=9)
    ax.grid(alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title, fontsize=13)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def regret_bars(table: pd.DataFrame, levers: list[str], title: str, path: Path, currency: str = "currency") -> None:
    """Per objective: each lever setting's worst-case regret across the uncertainty sample; the most robust marked."""
    kpis = list(dict.fromkeys(table["kpi"]))
    settings = table[table["kpi"] == kpis[0]]
    fig, axes = plt.subplots(1, len(kpis), figsize=(4.5 * len(kpis) + 2.5, 1.5 + 0.35 * len(settings)),
                             constrained_layout=True, squeeze=False)
    for ax, kpi in zip(axes[0], kpis):
        rows = table[table["kpi"] == kpi].reset_index(drop=True)
        colours = ["#2b9a5a" if r else "#1f5f99" for r in rows["most_robust"]]
        ax.barh(range(len(rows)), rows["max_regret"], color=colours)
        for i, row in rows.iterrows():  # a zero-length bar is invisible: say it
            if row["most_robust"]:
                ax.annotate("most robust", (row["max_regret"], i), xytext=(4, 0), textcoords="offset points",
                            va="center", fontsize=8, color="#2b9a5a")
        ax.set_yticks(range(len(rows)), [setting_label(r, levers) for _, r in rows.iterrows()] if ax is axes[0][0]
                      else [""] * len(rows))
        ax.invert_yaxis()
        ax.set_xlim(left=0)
        ax.set_title(f"{kpi} ({rows['goal'].iloc[0]})", fontsize=10)
        ax.set_xlabel(f"worst-case shortfall from the best setting\n{_kpi_label(kpi, currency)}", fontsize=9)
        _thousands(ax.xaxis)
        ax.grid(axis="x", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(f"{title} (green: most robust, minimax regret)", fontsize=13)
    fig.savefig(path, dpi=110)
    plt.close(fig)
