"""`run.py analyze DIR`: what a finished sweep says.

Per kept KPI: Sobol indices S1, ST (S2 when sampled) with bootstrap confidence intervals, or
Morris mu*, sigma (both from SALib, on the design's own sample, re-drawn from the saved spec);
a convergence verdict with a suggested sample size; main effects; the Pareto-efficient lever
settings for the spec's objectives; and, for a lever x uncertainty design, each lever
setting's mean, worst case and regret across the uncertainty sample, and the most robust one.

Replications are averaged per point before any index is estimated: with common random numbers
every point meets the same draws, so the average removes noise without biasing comparisons.

What a design supports (indices, a fair Pareto set, regret) is the design's to say
(experiments/designs.py, which also holds the sensitivity estimators and the convergence rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.batch import PARTS, RUN_COLUMNS, read_spec
from experiments.designs import design_of
from experiments.stats import pareto_flags
from experiments.sweeps import SweepSpec, design_points
from sim.errors import ScenarioError


@dataclass
class Analysis:
    """The tables of one sweep's analysis (each also written as DIR/analysis/<name>.csv)."""

    spec: SweepSpec
    runs: int
    failed: int
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def load(folder: str | Path) -> tuple[SweepSpec, pd.DataFrame]:
    """The sweep's spec and runs (a folder that is not a finished sweep: ScenarioError)."""
    from pydantic import ValidationError
    folder = Path(folder)
    spec_file, runs_file = folder / "spec.json", folder / "runs.parquet"
    if not spec_file.is_file():
        raise ScenarioError(str(folder), None,
                            "not a sweep folder (no spec.json): give the --out folder of run.py sweep")
    saved = read_spec(folder, str(folder))  # a damaged spec.json: one line, exit 2
    if saved.get("kind") != "sweep":
        raise ScenarioError(str(folder), None, "a comparison folder, not a sweep: analyze takes the --out folder of "
                            "run.py sweep (run.py report writes a comparison's report)")
    if not runs_file.is_file():
        has_parts = any((folder / PARTS).glob("run-*.parquet"))
        hint = "rerun the same sweep command to finish it" if has_parts else "no run has finished yet"
        raise ScenarioError(str(folder), None, f"no runs.parquet: {hint}")
    try:
        spec = SweepSpec.model_validate({k: v for k, v in saved.items() if k in SweepSpec.model_fields})
        runs = pd.read_parquet(runs_file)
    except (OSError, ValueError, ValidationError) as exc:  # Parquet and schema errors are ValueErrors
        raise ScenarioError(str(folder), None, f"damaged sweep folder ({type(exc).__name__}: {exc}); "
                            "rerun the sweep into a new --out folder") from None
    design = folder / "design.parquet"
    if design.is_file() and not pd.read_parquet(design).equals(design_points(spec)):
        raise ScenarioError(str(design), None, "the design cannot be drawn again as it was run (another SALib or "
                            "scipy version?); analyze with the versions the sweep ran with")
    return spec, runs


def succeeded(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "ok"]


def kpi_columns(spec: SweepSpec, runs: pd.DataFrame) -> list[str]:
    params = {p.path for p in spec.parameters}
    return [c for c in runs.columns if c not in RUN_COLUMNS and c not in params
            and pd.api.types.is_numeric_dtype(runs[c])]


def point_means(spec: SweepSpec, runs: pd.DataFrame, kpis: list[str]) -> pd.DataFrame:
    """KPIs averaged over replications, one row per point of the design whose every replication
    succeeded (a partial average would break the common random numbers), in design order."""
    ok = succeeded(runs)
    complete = ok.groupby("point")["replication"].transform("size") == spec.replications
    return ok[complete].groupby("point")[kpis].mean()


def main_effects(spec: SweepSpec, runs: pd.DataFrame, kpis: list[str], bins: int = 5) -> pd.DataFrame:
    """Mean of each KPI over the successful runs at each value of each parameter (at each quantile
    bin, in order, for a numeric parameter with more than 10 values)."""
    ok = succeeded(runs)
    frames = []
    for p in spec.parameters:
        values = ok[p.path]
        many = pd.api.types.is_numeric_dtype(values) and values.nunique() > 10
        labels = pd.qcut(values, bins, duplicates="drop") if many else values
        table = ok.groupby(labels, sort=True, observed=True)[kpis].agg(["mean", "std", "count"])
        for kpi in kpis:
            part = table[kpi].reset_index()
            part.columns = ["value", "mean", "sd", "runs"]
            part["value"] = part["value"].astype(str)
            part.insert(0, "parameter", p.path)
            part.insert(0, "kpi", kpi)
            frames.append(part)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def lever_settings(spec: SweepSpec, runs: pd.DataFrame, goals: dict[str, str]) -> pd.DataFrame:
    """Each lever setting's objectives, averaged over replications (and the uncertainty sample),
    with the Pareto-efficient ones flagged; settings with a failed run are never efficient."""
    levers = spec.lever_paths
    status = runs.groupby(levers)["status"].agg(runs="size", failed_runs=lambda s: int((s != "ok").sum()))
    means = succeeded(runs).groupby(levers)[list(goals)].mean()
    table = status.join(means).reset_index()
    sign = np.array([1.0 if goals[k] == "max" else -1.0 for k in goals])
    usable = (table["failed_runs"] == 0) & table[list(goals)].notna().all(axis=1)
    flags = np.zeros(len(table), dtype=bool)
    flags[usable.to_numpy()] = pareto_flags(table.loc[usable, list(goals)].to_numpy(dtype=float) * sign)
    table["pareto"] = flags
    return table


def robustness(spec: SweepSpec, runs: pd.DataFrame, goals: dict[str, str]) -> tuple[pd.DataFrame, list[str]]:
    """lever_x_uncertainty: per objective and lever setting, the mean, the worst case and the regret
    (shortfall from the best setting in the same uncertainty scenario) across the uncertainty sample;
    the most robust setting has the smallest worst regret (minimax regret, Savage 1951). Scenarios
    where some setting has no successful run cannot rank the settings and are left out (noted)."""
    levers = spec.lever_paths
    ok = succeeded(runs).assign(scenario=lambda d: d["point"] % spec.design.n)
    rows, notes = [], []
    settings = runs.groupby(levers).size().index
    for kpi, goal in goals.items():
        per = ok.groupby([*levers, "scenario"])[kpi].mean().unstack("scenario").reindex(settings)
        complete = per.dropna(axis=1)
        if complete.shape[1] < per.shape[1]:
            notes.append(f"robustness of {kpi}: {per.shape[1] - complete.shape[1]} of {per.shape[1]} uncertainty "
                         "scenarios left out, some lever setting has no successful run in them")
        if complete.shape[1] == 0:
            continue
        best = complete.max() if goal == "max" else complete.min()
        regret = (best - complete) if goal == "max" else (complete - best)
        table = pd.DataFrame({"mean": complete.mean(axis=1),
                              "worst": complete.min(axis=1) if goal == "max" else complete.max(axis=1),
                              "max_regret": regret.max(axis=1), "mean_regret": regret.mean(axis=1),
                              "scenarios": complete.shape[1]}).reset_index()
        table["most_robust"] = table["max_regret"] == table["max_regret"].min()
        table.insert(0, "goal", goal)
        table.insert(0, "kpi", kpi)
        rows.append(table)
    return (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()), notes


def analyze(folder: str | Path) -> Analysis:
    """Every table the sweep supports (no files written: see `write`)."""
    spec, runs = load(folder)
    kpis = kpi_columns(spec, runs)
    counts = int((runs["status"] != "ok").sum())
    result = Analysis(spec, len(runs), counts)
    if not len(succeeded(runs)) or not kpis:
        result.notes.append("no successful run: nothing to analyze (see the error column of runs.parquet)")
        return result
    goals = {k: v for k, v in spec.goals.items() if k in kpis}
    kind, design = spec.design.kind, design_of(spec)
    if design.sensitivity:
        means = point_means(spec, runs, kpis)
        expected = len(design_points(spec))
        if len(means) < expected:
            result.notes.append(f"{kind} indices need every replication of every point of the design; "
                                f"{expected - len(means)} of {expected} points lack some (see the status and error "
                                "columns of runs.parquet)")
        else:
            tables, skipped = design.indices(spec, means, kpis)
            result.tables.update(tables)
            if skipped:
                result.notes.append(f"no sensitivity for KPIs that do not vary or lack a value: {', '.join(skipped)}")
    result.tables["main_effects"] = main_effects(spec, runs, kpis)
    if spec.levers and goals:
        result.tables["pareto"] = lever_settings(spec, runs, goals)
        if spec.uncertainties and not design.common_uncertainty:
            result.notes.append(f"in a {kind} design each lever setting meets its own uncertainty values, so the "
                                "Pareto set compares settings in different markets; use full_factorial or "
                                "lever_x_uncertainty to compare them on a common uncertainty sample")
    elif not spec.levers:
        result.notes.append("no levers in the spec: no Pareto set of lever settings")
    if design.robustness and goals:
        table, notes = robustness(spec, runs, goals)
        if len(table):
            result.tables["robustness"] = table
        result.notes.extend(notes)
    return result


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.4g}"


def format_summary(result: Analysis) -> str:
    """What a planner reads first: the ranking of parameters, whether N was enough, the good settings."""
    from experiments.sweep_charts import setting_label
    spec, t = result.spec, result.tables
    goals = list(spec.goals)
    lines = [f"sweep {spec.name}: {spec.design.kind}, {result.runs} runs ({result.failed} failed), "
             f"{spec.replications} replication(s) per point"]
    if "sensitivity" in t and len(t["sensitivity"]):
        sens, conv = t["sensitivity"], t["convergence"].set_index("kpi")
        sobol = design_of(spec).sensitivity == "ST"
        what = "total-order Sobol index ST" if sobol else "Morris mu* (KPI change per whole range)"
        lines.append(f"\nsensitivity, {what}, 95% bootstrap half-width:")
        for kpi in [k for k in goals if k in conv.index]:
            rows = sens[sens["kpi"] == kpi].sort_values("ST" if sobol else "mu_star", ascending=False)
            ranked = "; ".join(f"{r.parameter} {_fmt(r.ST if sobol else r.mu_star)} "
                               f"± {_fmt(r.ST_conf if sobol else r.mu_star_conf)}" for r in rows.itertuples())
            v = conv.loc[kpi]
            verdict = "N enough" if v["converged"] else f"N not enough, try n: {int(v['suggested_n'])}"
            lines.append(f"  {kpi}: {ranked}  [{verdict}]")
    if "pareto" in t:
        table = t["pareto"]
        levers = spec.lever_paths
        best = table[table["pareto"]]
        aims = ", ".join(f"{k} {g}" for k, g in spec.goals.items() if k in table)
        lines.append(f"\nPareto-efficient lever settings ({aims}):"
                     f" {len(best)} of {len(table)}")
        for _, row in best.head(10).iterrows():
            values = ", ".join(f"{k} {_fmt(row[k])}" for k in goals if k in row)
            lines.append(f"  {setting_label(row, levers, short=False)}: {values}")
        if len(best) > 10:
            lines.append(f"  ... and {len(best) - 10} more in analysis/pareto.csv")
    if "robustness" in t:
        levers = spec.lever_paths
        lines.append("\nmost robust lever setting (smallest worst-case regret across the uncertainty sample):")
        for kpi, rows in t["robustness"].groupby("kpi", sort=False):
            row = rows[rows["most_robust"]].iloc[0]
            lines.append(f"  {kpi} ({row['goal']}): {setting_label(row, levers, short=False)}: "
                         f"mean {_fmt(row['mean'])}, worst "
                         f"{_fmt(row['worst'])}, worst regret {_fmt(row['max_regret'])}")
    lines.extend(f"\nnote: {n}" for n in result.notes)
    return "\n".join(lines)


def _currency(spec: SweepSpec) -> str:
    """The base scenario's currency, for chart labels ('currency' when the base is not a scenario)."""
    try:
        from sim.scenario_io import load_scenario
        return load_scenario(spec.base, spec.sets).simulation.currency
    except ScenarioError:
        return "currency"


def write(result: Analysis, folder: str | Path) -> Path:
    """DIR/analysis/: one CSV per table, summary.txt and the charts, replaced as a whole (atomically)."""
    from experiments import sweep_charts as charts
    from sim.outputs import atomic_folder
    spec, t = result.spec, result.tables
    out = Path(folder) / "analysis"
    currency = _currency(spec)
    with atomic_folder(out) as tmp:
        for name, table in t.items():
            table.to_csv(tmp / f"{name}.csv", index=False)
        (tmp / "summary.txt").write_text(format_summary(result) + "\n", encoding="utf-8")
        if "sensitivity" in t and len(t["sensitivity"]):
            verdicts = t["convergence"].set_index("kpi")
            for kpi in [k for k in spec.goals if k in verdicts.index]:
                v = verdicts.loc[kpi]
                warning = None if v["converged"] else (
                    f"Too few samples to trust these intervals: n = {int(v['n'])}, try n = {int(v['suggested_n'])} "
                    "(docs/experiments.md, convergence)")
                charts.sensitivity_bars(t["sensitivity"][t["sensitivity"]["kpi"] == kpi], kpi, spec.design.n,
                                        f"Sweep {spec.name} ({spec.design.kind})", tmp / f"sensitivity-{kpi}.png",
                                        currency, warning)
        goals = {k: v for k, v in spec.goals.items() if "pareto" in t and k in t["pareto"]}
        if len(goals) >= 2:
            charts.pareto_scatter(t["pareto"], spec.lever_paths, goals,
                                  f"Sweep {spec.name}: each lever setting on the first two objectives",
                                  tmp / "pareto.png",
                                  currency)
        if "robustness" in t:
            charts.regret_bars(t["robustness"], spec.lever_paths,
                               f"Sweep {spec.name}: each lever setting against {spec.design.n} uncertainty scenarios",
                               tmp / "regret.png",
                               currency)
    return out
