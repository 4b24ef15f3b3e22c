"""`run.py compare`: scenarios against a baseline, with replications and common random numbers.

Replication i of every scenario runs with the same seed (experiments/runs.py), and every KPI
is compared on paired differences with a Student-t interval (experiments/stats.py).
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.executors import local_executor
from experiments.runs import SERIES, RunSpec, run_one
from experiments.stats import CONFIDENCE, assess_targets, t_interval, welch_interval
from sim.errors import ScenarioError
from sim.kpis import SUMMARY_KEYS
from sim.scenario import Scenario


def check_comparable(scenarios: list[Scenario], files: list[str]) -> list[str]:
    """Scenarios to compare need distinct names (bad input otherwise); notes where sizes differ."""
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ScenarioError(", ".join(files), "name", f"scenario names must differ to be compared (repeated: {dup})")
    base, notes = scenarios[0], []
    for sc in scenarios[1:]:
        if (sc.simulation.days, sc.shoppers.count) != (base.simulation.days, base.shoppers.count):
            notes.append(f"note: {sc.name} runs {sc.simulation.days} days with {sc.shoppers.count:,} shoppers, the "
                         f"baseline {base.simulation.days} days with {base.shoppers.count:,}: its deltas mix the "
                         f"policy with the difference in size")
    return notes


def execute(scenarios: list[Scenario], specs: list[RunSpec], workers: int, progress: bool
            ) -> dict[tuple[int, int], tuple[dict[str, Any], dict[str, list[float]], list[dict[str, Any]],
                                             list[dict[str, Any]]]]:
    """Run every spec on `workers` (results never depend on them); keyed by (scenario, replication)."""
    from tqdm import tqdm

    results = {}
    with tqdm(total=len(specs), disable=not progress, desc="runs", unit="run", mininterval=0.5) as bar, \
            local_executor(workers) as pool:
        futures = {}
        for spec in specs:  # a serial executor runs each one here, so the bar moves as they finish
            future = pool.submit(run_one, scenarios[spec.scenario_index], spec.seed)
            future.add_done_callback(lambda _: bar.update())
            futures[future] = spec
        for future in as_completed(futures):
            spec = futures[future]
            results[(spec.scenario_index, spec.replication)] = future.result()
    return results


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


def series_table(scenarios: list[Scenario], specs: list[RunSpec], results: dict) -> pd.DataFrame:
    """series.parquet: every run's kept daily series, long (scenario, replication, day, date, series...)."""
    frames = []
    for spec in specs:
        sc = scenarios[spec.scenario_index]
        frame = pd.DataFrame(results[(spec.scenario_index, spec.replication)][1])
        frame.insert(0, "date", pd.date_range(sc.simulation.start_date, periods=len(frame), freq="D"))
        frame.insert(0, "day", np.arange(len(frame)))
        frame.insert(0, "replication", spec.replication)
        frame.insert(0, "scenario", sc.name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).sort_values(["scenario", "replication", "day"], kind="stable")


def pnl_means(scenarios: list[Scenario], specs: list[RunSpec], results: dict) -> pd.DataFrame:
    """pnl.csv: each scenario's P&L lines, the mean over its replications (in the scenario's order)."""
    rows = [{"scenario": scenarios[s.scenario_index].name, **line}
            for s in specs for line in results[(s.scenario_index, s.replication)][2]]
    table = pd.DataFrame(rows).groupby(["scenario", "party", "kind", "line"], sort=False)["amount"].mean()
    order = {sc.name: i for i, sc in enumerate(scenarios)}
    return table.reset_index().sort_values("scenario", key=lambda c: c.map(order), kind="stable")


def cohorts_table(scenarios: list[Scenario], specs: list[RunSpec], results: dict) -> pd.DataFrame:
    """cohorts.csv: every run's monthly cohorts (customers, and buyers in each later month), long."""
    rows = [{"scenario": scenarios[s.scenario_index].name, "replication": s.replication, **row}
            for s in specs for row in results[(s.scenario_index, s.replication)][3]]
    columns = ["scenario", "replication", "cohort", "month", "months_since", "customers", "buyers"]
    return pd.DataFrame(rows, columns=columns).sort_values(["scenario", "replication"], kind="stable")


def retention_table(cohorts: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """retention.csv: per scenario and month k >= 1 after the first purchase's month, the share of all
    cohorts (weighted by size) buying in that month: mean, lowest and highest over replications, and the
    change against the baseline in percentage points with its paired 95% interval."""
    data = cohorts[cohorts["months_since"] > 0]
    sums = data.groupby(["scenario", "replication", "months_since"])[["buyers", "customers"]].sum()
    share = (sums["buyers"] / sums["customers"]).unstack("months_since")
    rows = []
    for name in names:
        if name not in share.index.get_level_values("scenario"):
            continue
        one = share.loc[name]
        for k in one.columns:
            paired = (one[k] - share.loc[names[0]][k].reindex(one.index)).dropna().to_numpy() * 100
            change, low, high = t_interval(paired) if paired.size else (np.nan, np.nan, np.nan)
            rows.append({"scenario": name, "months_since": int(k), "share": float(one[k].mean()),
                         "share_low": float(one[k].min()), "share_high": float(one[k].max()),
                         "change_pp": change, "ci_low_pp": low, "ci_high_pp": high,
                         "replications": int(one[k].notna().sum())})
    return pd.DataFrame(rows, columns=["scenario", "months_since", "share", "share_low", "share_high", "change_pp",
                                       "ci_low_pp", "ci_high_pp", "replications"])


def write_outputs(out: Path, scenarios: list[Scenario], sources: list[str], specs: list[RunSpec], results: dict,
                  replications: int, workers: int, wall: float, overrides: list[str] | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """comparison.csv, runs.csv, targets.csv, manifest.json and charts/, written atomically."""
    from sim.outputs import atomic_folder, write_json
    from sim.scenario_io import dump_resolved

    names = [s.name for s in scenarios]
    runs = runs_table(scenarios, specs, results)
    comparison = comparison_table(runs, names)
    targets = assess_targets(runs, names, [s.targets for s in scenarios])
    with atomic_folder(out) as tmp:
        comparison.to_csv(tmp / "comparison.csv", index=False)
        runs.to_csv(tmp / "runs.csv", index=False)
        series_table(scenarios, specs, results).to_parquet(tmp / "series.parquet", index=False)
        pnl = pnl_means(scenarios, specs, results)
        pnl.round({"amount": 2}).to_csv(tmp / "pnl.csv", index=False)
        cohorts = cohorts_table(scenarios, specs, results)
        cohorts.to_csv(tmp / "cohorts.csv", index=False)
        retention_table(cohorts, names).to_csv(tmp / "retention.csv", index=False)
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
        try:
            draw_charts(tmp)
        except Exception as exc:  # noqa: BLE001 - the runs are worth more than a chart; `report` redraws them
            print(f"warning: charts not drawn ({type(exc).__name__}: {exc}); the results are written, "
                  "run.py report redraws the charts from them", file=sys.stderr)
    return comparison, targets


def draw_charts(folder: Path, charts: Path | None = None) -> list[Path]:
    """Every chart of a comparison folder, from its files alone (manifest.json, scenarios/, comparison.csv,
    targets.csv, pnl.csv, series.parquet, cohorts.csv), into folder/charts: `compare` draws them, `report`
    redraws them."""
    import yaml

    from sim.charts import comparison_deltas, comparison_series, leadership_charts, retention_comparison
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    names, replications = manifest["scenarios"], manifest["replications"]
    base = yaml.safe_load((folder / "scenarios" / f"{names[0]}.resolved.yaml").read_text(encoding="utf-8"))
    sim_cfg, shoppers = base["simulation"], base["shoppers"]
    currency = sim_cfg.get("currency", "currency")
    warmup = sim_cfg.get("warmup_days", 0)
    context = (f"{shoppers['count']:,} shoppers, {sim_cfg['days']} days from {sim_cfg['start_date']}"
               + (f" after a {warmup}-day warm-up" if warmup else "")
               + f"; seeds {', '.join(str(s) for s in manifest['seeds'])}.")
    comparison = pd.read_csv(folder / "comparison.csv")
    targets = pd.read_csv(folder / "targets.csv")
    pnl = pd.read_csv(folder / "pnl.csv")
    series = pd.read_parquet(folder / "series.parquet")
    charts = Path(charts) if charts is not None else folder / "charts"
    charts.mkdir(exist_ok=True)
    means = {name: {k: one.groupby("day")[k].mean().to_numpy() for k in SERIES if k in one}  # older folders: fewer
             for name in names for one in [series[series["scenario"] == name]]}
    comparison_deltas(comparison, names, replications, charts / "deltas.png", currency, context)
    comparison_series(means, replications, charts / "series.png", str(sim_cfg["start_date"]), currency, context)
    leadership_charts(charts, names, comparison, targets, pnl, series, replications, currency, context)
    if (folder / "cohorts.csv").exists():  # folders written before cohorts.csv existed have no retention chart
        retention = retention_table(pd.read_csv(folder / "cohorts.csv"), names)
        if len(retention):
            retention_comparison(retention, names, replications, context, charts / "retention.png")
    return sorted(charts.glob("*.png"))
