"""Charts of a sweep's analysis (`run.py analyze`): sensitivity, Pareto settings, regret."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.stats import overlapping  # noqa: E402
from sim import style  # noqa: E402


def _kpi_label(kpi: str, currency: str = "currency") -> str:
    """'platform profit (USD)': the catalogue's title and unit (a name it does not know: as given)."""
    from sim.kpis import by_name
    info = by_name().get(kpi)
    return f"{info.title} ({info.unit.replace('currency', currency)})" if info is not None else kpi


def setting_label(row: pd.Series, levers: list[str], short: bool = True) -> str:
    """'take_rate=0.12, ev_share=0.5' (short: the last part of each path)."""
    def value(v) -> str:
        return f"{v:g}" if isinstance(v, (int, float)) else str(v)
    return ", ".join(f"{p.split('.')[-1] if short else p}={value(row[p])}" for p in levers)


def sensitivity_bars(table: pd.DataFrame, kpi: str, n: int, title: str, path: Path,
                     currency: str = "currency", warning: str | None = None) -> None:
    """One KPI's sensitivity to each parameter: Sobol ST and S1, or Morris mu* and sigma, with 95% CIs;
    `warning` (e.g. the sample was too small) is printed in red under the title."""
    from matplotlib.patches import Patch
    sobol = "ST" in table.columns  # Sobol's indices; else Morris's
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
    value, conf = ("ST", "ST_conf") if sobol else ("mu_star", "mu_star_conf")
    index = f"ST {top['ST']:.2f} ± {top['ST_conf']:.2f}" if sobol else \
        f"mu* {style.number(top['mu_star'])} ± {style.number(top['mu_star_conf'])}"
    label = _kpi_label(kpi, currency).rsplit(" (", 1)[0]
    # "most" only when the top index's interval ends above every other's; else the estimates say so, no more
    intervals = rows.set_index("parameter").assign(low=lambda t: t[value] - t[conf], high=lambda t: t[value] + t[conf])
    overlaps = overlapping(intervals, top["parameter"], "low", "high", value)
    finding = (f"{top['parameter']} moves {label} most ({index})" if overlaps is None else
               f"{top['parameter']} moves {label} most on the estimates ({index}; its interval overlaps "
               f"{overlaps}'s)")
    style.titled(fig, finding,
                 f"{title}. {method}, replications averaged per point; whiskers: 95% bootstrap intervals.", warning)
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
    ax.legend(frameon=True, edgecolor="#cccccc", fontsize=9)  # framed: not read as one more setting
    style.tidy(ax)
    style.titled(fig, f"On the means, {len(best)} of {len(settings)} lever settings are Pareto-efficient",
                 f"{title}. Mean over replications and uncertainties, without intervals: a setting close to another "
                 f"may differ by chance; {note}: no other setting is better on all of them at once.")
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
