"""`run.py compare`: scenarios against a baseline, with replications and common random numbers.

Replication i of every scenario runs with the same seed (the baseline's seed + i), so each
scenario meets the same shoppers, networks and daily draws as the baseline in that
replication (common random numbers). The comparison is then made on paired differences:
for each KPI, delta_i = scenario_i - baseline_i, and the 95% confidence interval is the
Student-t interval of the mean delta. Paired intervals are much narrower than unpaired ones
on the same runs, because the noise shared by both runs cancels.
"""

from __future__ import annotations

import math
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sim.config import Scenario, Target
from sim.metrics import SUMMARY_KEYS

CONFIDENCE = 0.95
SERIES = ("gmv", "customers_total", "active_customers", "carbon_kg")  # daily series kept for charts


@dataclass(frozen=True)
class RunSpec:
    scenario_index: int
    replication: int
    seed: int


def run_one(scenario: Scenario, seed: int) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """One run (in a worker process): its summary and a few daily series."""
    from sim.runner import run_scenario

    result = run_scenario(scenario.model_copy(update={"seed": seed}))
    series = {name: result.daily[name].astype(float).tolist() for name in SERIES}
    return result.summary, series


def plan(scenarios: list[Scenario], replications: int) -> list[RunSpec]:
    """Every (scenario, replication) with its common seed: the baseline's seed + replication."""
    base_seed = scenarios[0].seed
    return [RunSpec(s, r, base_seed + r) for r in range(replications) for s in range(len(scenarios))]


def execute(scenarios: list[Scenario], specs: list[RunSpec], workers: int, progress: bool
            ) -> dict[tuple[int, int], tuple[dict[str, Any], dict[str, list[float]]]]:
    """Run every spec, in parallel processes when workers > 1; results keyed by (scenario, replication)."""
    from tqdm import tqdm

    results = {}
    bar = tqdm(total=len(specs), disable=not progress, desc="runs", unit="run", mininterval=0.5)
    if workers <= 1:
        for spec in specs:
            results[(spec.scenario_index, spec.replication)] = run_one(scenarios[spec.scenario_index], spec.seed)
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(run_one, scenarios[s.scenario_index], s.seed): s for s in specs}
            for future in as_completed(futures):
                spec = futures[future]
                results[(spec.scenario_index, spec.replication)] = future.result()
                bar.update()
    bar.close()
    return results


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def runs_table(scenarios: list[Scenario], specs: list[RunSpec], results: dict) -> pd.DataFrame:
    rows = []
    for spec in specs:
        summary = results[(spec.scenario_index, spec.replication)][0]
        row = {"scenario": scenarios[spec.scenario_index].name, "replication": spec.replication, "seed": spec.seed}
        row.update({k: summary[k] for k in SUMMARY_KEYS})
        # policy and supply KPIs too; a KPI a scenario lacks (e.g. coupons without the subsidy) is 0 there
        row.update({k: v for k, v in summary.items()
                    if k not in row and isinstance(v, (int, float)) and not isinstance(v, bool)})
        rows.append(row)
    frame = pd.DataFrame(rows).sort_values(["scenario", "replication"], kind="stable").reset_index(drop=True)
    return frame.fillna(0.0)


def kpi_columns(runs: pd.DataFrame) -> list[str]:
    """DESIGN.md's KPIs first, then every other numeric summary key, alphabetically."""
    extra = sorted(c for c in runs.columns if c not in (*SUMMARY_KEYS, "scenario", "replication", "seed"))
    return [*SUMMARY_KEYS, *extra]


def t_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval (a point interval for one value or no spread)."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if values.size < 2:
        return mean, mean, mean
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size)
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


def comparison_table(runs: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """comparison.csv: per scenario and KPI, mean, delta vs baseline and its paired CI (+ unpaired)."""
    base = runs[runs["scenario"] == names[0]].set_index("replication")
    rows = []
    for name in names:
        runs_s = runs[runs["scenario"] == name].set_index("replication")
        for kpi in kpi_columns(runs):
            values = runs_s[kpi].to_numpy(dtype=float)
            delta = runs_s[kpi].to_numpy(dtype=float) - base.loc[runs_s.index, kpi].to_numpy(dtype=float)
            mean_delta, low, high = t_interval(delta)
            base_mean = float(base[kpi].mean())
            if runs_s.shape[0] > 1 and name != names[0]:
                u_low, u_high = welch_interval(values, base[kpi].to_numpy(dtype=float))
            else:
                u_low = u_high = mean_delta
            rows.append({
                "scenario": name, "kpi": kpi, "mean": float(values.mean()),
                "delta_vs_baseline": mean_delta, "ci_low": low, "ci_high": high,
                "sd": float(values.std(ddof=1)) if values.size > 1 else 0.0,
                "relative_delta": mean_delta / abs(base_mean) if base_mean else float("nan"),
                "unpaired_ci_low": u_low, "unpaired_ci_high": u_high, "replications": int(values.size),
            })
    return pd.DataFrame(rows)


def assess_targets(runs: pd.DataFrame, names: list[str], targets_by_scenario: list[list[Target]]) -> pd.DataFrame:
    """Each target: met (the whole CI satisfies it), not met (none of it does) or inconclusive."""
    base = runs[runs["scenario"] == names[0]].set_index("replication")
    rows = []
    for name, targets in zip(names, targets_by_scenario):
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
            else:
                goal = t.relative_change_max if t.relative_change_max is not None else t.max
                kind = "<="
                status = "met" if high <= goal else "not met" if low > goal else "inconclusive"
            rows.append({"scenario": name, "kpi": t.kpi, "measure": measure, "goal": f"{kind} {goal:g}",
                         "estimate": est, "ci_low": low, "ci_high": high, "status": status})
    return pd.DataFrame(rows, columns=["scenario", "kpi", "measure", "goal", "estimate", "ci_low", "ci_high", "status"])


def mean_series(scenarios: list[Scenario], specs: list[RunSpec], results: dict) -> dict[str, dict[str, np.ndarray]]:
    """Per scenario, the replication mean of each kept daily series."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for i, sc in enumerate(scenarios):
        reps = [results[(i, s.replication)][1] for s in specs if s.scenario_index == i]
        out[sc.name] = {k: np.mean([r[k] for r in reps], axis=0) for k in SERIES}
    return out


def write_outputs(out: Path, scenarios: list[Scenario], sources: list[str], specs: list[RunSpec], results: dict,
                  replications: int, workers: int, wall: float, overrides: list[str] | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """comparison.csv, runs.csv, targets.csv, manifest.json and charts/, written atomically."""
    from sim.charts import comparison_deltas, comparison_series
    from sim.outputs import atomic_folder, write_json
    from sim.scenario_io import dump_resolved

    names = [s.name for s in scenarios]
    runs = runs_table(scenarios, specs, results)
    comparison = comparison_table(runs, names)
    targets = assess_targets(runs, names, [s.targets for s in scenarios])
    with atomic_folder(out) as tmp:
        comparison.to_csv(tmp / "comparison.csv", index=False)
        runs.to_csv(tmp / "runs.csv", index=False)
        targets.to_csv(tmp / "targets.csv", index=False)
        (tmp / "scenarios").mkdir()
        for sc in scenarios:
            (tmp / "scenarios" / f"{sc.name}.resolved.yaml").write_text(dump_resolved(sc), encoding="utf-8")
        write_json(tmp / "manifest.json", {
            "baseline": names[0], "scenarios": names, "files": sources, "replications": replications,
            "seeds": sorted({s.seed for s in specs}), "workers": workers, "wall_seconds": round(wall, 2),
            "confidence": CONFIDENCE, "method": "common random numbers; paired Student-t intervals",
            "command": sys.argv, "overrides": overrides,
        })
        (tmp / "charts").mkdir()
        comparison_deltas(comparison, names, replications, tmp / "charts" / "deltas.png")
        comparison_series(mean_series(scenarios, specs, results), replications, tmp / "charts" / "series.png")
    return comparison, targets
