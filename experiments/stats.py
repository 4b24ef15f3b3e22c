"""Statistics of replicated runs: paired Student-t intervals and target assessment.

With common random numbers, the comparison is made on paired differences: for each KPI,
delta_i = scenario_i - baseline_i, and the 95% confidence interval is the Student-t interval
of the mean delta. Paired intervals are much narrower than unpaired ones on the same runs,
because the noise shared by both runs cancels.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
from scipy import stats

from sim.scenario import TargetConfig

CONFIDENCE = 0.95


@functools.lru_cache(maxsize=1024)
def t_quantile(dof: float) -> float:
    """The two-sided CONFIDENCE quantile of Student's t with `dof` degrees of freedom (looked up once)."""
    return float(stats.t.ppf(0.5 + CONFIDENCE / 2, dof))


def t_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval (a point interval for one value or no spread)."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if values.size < 2:
        return mean, mean, mean
    return t_interval_of(mean, values.std(ddof=1), values.size)


def t_interval_of(mean: float, sd: float, n: int) -> tuple[float, float, float]:
    """t_interval from the mean, standard deviation (ddof 1) and number of values (n >= 2)."""
    half = t_quantile(n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def welch_interval(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Unpaired (Welch) interval for mean(a) - mean(b): what the comparison would be without CRN."""
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        d = float(a.mean() - b.mean())
        return d, d
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, dof) * se
    d = float(a.mean() - b.mean())
    return d - half, d + half


def assess_targets(runs: pd.DataFrame, names: list[str], targets_by_scenario: list[list[TargetConfig]]) -> pd.DataFrame:
    """Each target: met (the whole CI satisfies it), not met (none of it does) or inconclusive; a minimum above
    what the KPI can reach by construction (its `<kpi>_ceiling`, e.g. merchant satisfaction) is unreachable."""
    base = runs[runs["scenario"] == names[0]].set_index("replication")
    rows = []
    for name, targets in zip(names, targets_by_scenario, strict=True):
        runs_s = runs[runs["scenario"] == name].set_index("replication")
        for t in targets:
            values = runs_s[t.kpi].to_numpy(dtype=float)
            if t.relative_change_min is not None or t.relative_change_max is not None:
                b = base.loc[runs_s.index, t.kpi].to_numpy(dtype=float)
                measure = "relative change vs baseline"
                est, low, high = t_interval(np.divide(values - b, np.abs(b), out=np.zeros_like(values), where=b != 0))
            else:
                measure = "level"
                est, low, high = t_interval(values)
            if t.relative_change_min is not None or t.min is not None:
                goal = t.relative_change_min if t.relative_change_min is not None else t.min
                kind = ">="
                status = "met" if low >= goal else "not met" if high < goal else "inconclusive"
                ceiling = f"{t.kpi}_ceiling"  # the most the KPI can be in these runs (sim/kpis.py), if it has one
                if t.min is not None and ceiling in runs_s and goal > runs_s[ceiling].max():
                    status = f"unreachable: at most {runs_s[ceiling].max():.3g} in these runs"
            else:
                goal = t.relative_change_max if t.relative_change_max is not None else t.max
                kind = "<="
                status = "met" if high <= goal else "not met" if low > goal else "inconclusive"
            if np.isnan(values).any() or measure != "level" and np.isnan(b).any():  # a KPI the runs could not
                # measure (e.g. a 90-day share in a shorter run)
                status = "not measured in these runs"
            rows.append({"scenario": name, "kpi": t.kpi, "measure": measure, "goal": f"{kind} {goal:g}",
                         "estimate": est, "ci_low": low, "ci_high": high, "status": status})
    return pd.DataFrame(rows, columns=["scenario", "kpi", "measure", "goal", "estimate", "ci_low", "ci_high", "status"])


def pareto_flags(values: np.ndarray) -> np.ndarray:
    """Rows no other row beats on every column (all columns: larger is better): the efficient points the
    Pareto charts mark, and the Pareto set of a sweep's analysis."""
    keep = np.ones(len(values), dtype=bool)
    for i in range(len(values)):
        others = np.delete(values, i, axis=0)
        beaten = np.all(others >= values[i], axis=1) & np.any(others > values[i], axis=1)
        keep[i] = not beaten.any()
    return keep


def overlapping(table: pd.DataFrame, name: str, low: str = "ci_low", high: str = "ci_high",
                value: str = "delta_vs_baseline") -> str | None:
    """Of the rows of `table` (indexed by name) other than `name`, the one with the largest `value` whose
    interval [low, high] reaches up to `name`'s lower end; None when every other interval ends below it, so
    that `name`'s value is clearly the largest ("most" in a chart's title needs that, not just the largest
    mean)."""
    others = table.drop(index=name)
    reaching = others[others[high] >= table.loc[name, low]]
    return str(reaching[value].idxmax()) if len(reaching) else None
