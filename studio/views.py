"""What the studio shows of a session's results, as plain HTML and PNG (no Panel here, so it is testable
and drawn off the page's thread): the paired changes with their intervals, the targets, the fan chart."""

from __future__ import annotations

import html
import io

import numpy as np
import pandas as pd

from experiments.robust import HEADLINE
from sim import style
from sim.kpis import by_name
from sim.tables import format_change, format_ci, format_value, kpi_applies, policy_owners, policy_rows, row

NO_CLEAR = "no clear change"


def kpi_rows(policies_on: set[str]) -> list[tuple[str, str, str]]:
    """(key, label, format): the headline KPIs, then the headline KPIs of each policy on in some column."""
    catalogue = by_name()
    return [row(catalogue[k]) for k in HEADLINE] + [r for r in policy_rows(sorted(policies_on)) if r[0] not in HEADLINE]


def reading(delta: float, low: float, high: float, better: str) -> tuple[str, str]:
    """What the interval says, in words the numbers support, and its colour: a change is 'higher' or 'lower'
    only when the whole 95% interval is on one side of zero."""
    if np.isnan(delta):
        return "not measured in these runs (e.g. a horizon shorter than the KPI's window)", style.SUBTLE
    if np.isnan(low) or np.isnan(high):
        return "an interval needs 2 replications", style.SUBTLE
    if low > 0:
        return "higher", style.change_colour(1.0, better)
    if high < 0:
        return "lower", style.change_colour(-1.0, better)
    return NO_CLEAR, style.SUBTLE


def changes_table(paired: pd.DataFrame, names: list[str], policies: dict[str, set[str]],
                  verdicts: pd.DataFrame | None = None, points: int = 0) -> str:
    """The paired change of each KPI in each what-if column against the baseline, with its 95% interval and
    what the interval says, and the robust verdict across `points` points of the uncertainty set where there
    is one; a policy's KPI in a column without the policy shows a dash, and where the baseline lacks the policy
    the column's level (a change from nothing says nothing)."""
    if paired.empty:
        return "<p class='studio-empty'>No paired results yet: each what-if needs a replication finished together " \
               "with the baseline's.</p>"
    from sim.policies import policy_kpis
    owners, catalogue = policy_owners(), by_name([*by_name().values(), *policy_kpis()])
    on = set().union(*policies.values()) if policies else set()
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names[1:])
    body = []
    for key, label, fmt in kpi_rows(on):
        cells = []
        for col, name in enumerate(names[1:], start=1):
            hit = paired[(paired["scenario"] == name) & (paired["kpi"] == key)]
            if hit.empty or not kpi_applies(key, policies.get(name, set()) | policies.get(names[0], set()), owners):
                cells.append(f"<td data-kpi='{key}' data-column='{col}'>—</td>")
                continue
            r = hit.iloc[0]
            if not kpi_applies(key, policies.get(names[0], set()), owners):  # nothing to change from: its level
                cells.append(_level_cell(r, key, col, fmt))
                continue
            better = catalogue[key].better if key in catalogue else ""
            delta = float(r["delta_vs_baseline"])
            words, colour = reading(delta, float(r["ci_low"]), float(r["ci_high"]), better)
            measured = int(r["replications"]) > 1 and not np.isnan(delta)
            interval = format_ci(r["ci_low"], r["ci_high"], fmt) if measured else ""
            cells.append(f"<td data-kpi='{key}' data-column='{col}'><span class='studio-change'>"
                         f"{format_change(r['delta_vs_baseline'], fmt)}</span> <span class='studio-ci'>"
                         f"{interval}</span><br><span style='color:{colour}' class='studio-reading'>{words}"
                         f"</span> <span class='studio-n'>(n={int(r['replications'])})</span>"
                         f"{_verdict(verdicts, name, key, points)}</td>")
        body.append(f"<tr><th scope='row'>{html.escape(label)}</th>{''.join(cells)}</tr>")
    return ("<table class='studio-changes'><thead><tr><th>change vs the baseline (95% interval)</th>"
            f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _level_cell(r: pd.Series, key: str, col: int, fmt: str) -> str:
    """A KPI of a policy the baseline does not have: the column's level with the 95% interval of its mean."""
    from experiments.stats import t_interval_of
    n, mean, sd = int(r["replications"]), float(r["mean"]), float(r["sd"])
    interval = ""
    if n > 1:
        _, low, high = t_interval_of(mean, sd, n)
        interval = f"[{format_value(low, fmt)}, {format_value(high, fmt)}]"
    return (f"<td data-kpi='{key}' data-column='{col}'><span class='studio-level'>{format_value(mean, fmt)}</span> "
            f"<span class='studio-ci'>{interval}</span><br><span class='studio-reading' style='color:{style.SUBTLE}'>"
            f"level (the baseline has no such policy)</span> <span class='studio-n'>(n={n})</span></td>")


def _verdict(verdicts: pd.DataFrame | None, name: str, kpi: str, points: int) -> str:
    if verdicts is None or verdicts.empty:
        return ""
    hit = verdicts[(verdicts["scenario"] == name) & (verdicts["kpi"] == kpi)]
    if hit.empty:
        return ""
    r = hit.iloc[0]
    words = html.escape(str(r["verdict"]))
    held = f", sign held at {r['sign_share']:.0%} of them" if int(r["points"]) else ""
    return f"<br><span class='studio-verdict'>across {points} market points{held}: <b>{words}</b></span>"


def targets_table(targets: pd.DataFrame) -> str:
    """Each column's targets: goal, estimate with interval, met / not met / inconclusive."""
    if targets is None or targets.empty:
        return ""
    rows = []
    for t in targets.itertuples():
        goal, estimate = style.target_texts(t.kpi, t.measure, t.goal, t.estimate, t.ci_low, t.ci_high)
        colour = style.GOOD if t.status == "met" else style.BAD if t.status == "not met" else style.SUBTLE
        rows.append(f"<tr><td>{html.escape(t.scenario)}</td><td>{html.escape(t.kpi)}: {html.escape(goal)}</td>"
                    f"<td>{html.escape(estimate)}</td><td style='color:{colour}'>{html.escape(t.status)}</td></tr>")
    return ("<table class='studio-targets'><thead><tr><th>column</th><th>target</th><th>estimate [95%]</th>"
            f"<th>status</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def finding(paired: pd.DataFrame, names: list[str]) -> str:
    """The chart's title: what the paired intervals say of GMV and platform profit in each what-if."""
    if paired is None or paired.empty:
        return "GMV and platform profit over the horizon"
    parts = []
    for kpi, label in (("gmv", "GMV"), ("platform_profit", "Platform profit")):
        said: dict[str, list[str]] = {}
        for name in names[1:]:
            hit = paired[(paired["scenario"] == name) & (paired["kpi"] == kpi)]
            if hit.empty:
                continue
            r = hit.iloc[0]
            words, _ = reading(float(r["delta_vs_baseline"]), float(r["ci_low"]), float(r["ci_high"]), "")
            said.setdefault(words.split(" (")[0], []).append(name)
        if said:
            parts.append(f"{label}: " + "; ".join(f"{w} in {', '.join(n)}" for w, n in said.items()))
    return ". ".join(parts) + " (95% paired intervals)" if parts else "GMV and platform profit over the horizon"


def fan_chart(series: dict[str, list[pd.DataFrame]], start_date: str, currency: str, context: str,
              title: str = "GMV and platform profit over the horizon") -> bytes | None:
    """GMV per day (7-day mean) and cumulative platform profit over the horizon: per column the mean of its
    finished replications and a band from the lowest to the highest, as PNG bytes (None before any run);
    `title` says what the intervals find (`finding`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [n for n, runs in series.items() if runs]
    if not names:
        return None
    colours = style.scenario_colours(list(series))
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    start = pd.Timestamp(start_date)
    for name in names:
        runs = series[name]
        days = runs[0]["day"].to_numpy()
        dates = start + pd.to_timedelta(days, unit="D")
        gmv = np.vstack([pd.Series(r["gmv"].to_numpy()).rolling(7, min_periods=1).mean().to_numpy() for r in runs])
        profit = np.vstack([np.cumsum(r["platform_profit"].to_numpy()) for r in runs])
        for ax, values in ((axes[0], gmv), (axes[1], profit)):
            ax.plot(dates, values.mean(axis=0), color=colours[name], lw=1.8, label=f"{name} ({len(runs)})")
            if len(runs) > 1:
                ax.fill_between(dates, values.min(axis=0), values.max(axis=0), color=colours[name], alpha=0.18, lw=0)
    axes[0].set_title(f"GMV per day, 7-day mean [{currency}]", loc="left", fontsize=10)
    axes[1].set_title(f"Platform profit, cumulative [{currency}]", loc="left", fontsize=10)
    for ax in axes:
        style.tidy(ax)
        style.thousands(ax.yaxis)
        style.dates(ax.xaxis)
    axes[0].legend(fontsize=8, frameon=False, title="column (replications)", title_fontsize=8)
    import textwrap
    fig.suptitle(textwrap.fill(title, 130), fontsize=11, fontweight="bold")
    fig.supxlabel(f"Lines: mean over the column's finished replications; bands: lowest to highest of them. {context}",
                  fontsize=8.5, color=style.SUBTLE)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()
