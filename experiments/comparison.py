"""`run.py compare`: scenarios against a baseline, with replications and common random numbers.

Replication i of every scenario runs with the same seed (spawned from the baseline's seed,
experiments/batch.py), and every KPI is compared on paired differences with a Student-t interval
(experiments/stats.py). Runs go through the batch engine, as a sweep's do: each is written to
DIR/parts/ as it ends, so an interrupted comparison resumes with the same command and `--out`.
From Python: `from experiments import compare; compare(baseline, scenarios, replications=5, out=...)`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.batch import (
    PARTS,
    RUN_COLUMNS,
    BatchStats,
    Job,
    Outcome,
    changed_keys,
    gather,
    measured_kpis,
    part_path,
    provenance,
    read_spec,
    read_table,
    replication_seeds,
    run_batch,
    write_spec,
)
from experiments.cache import RunCache, default_cache
from experiments.stats import CONFIDENCE, assess_targets, t_interval, welch_interval
from sim.errors import Interrupted, ScenarioError
from sim.kpis import SUMMARY_KEYS
from sim.scenario import Scenario

# daily series a comparison keeps for its charts
SERIES = ("gmv", "customers_total", "active_customers", "carbon_kg", "platform_profit", "new_state",
          "dormant_customers", "churned_customers")


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


def simulate(scenario: Scenario, seed: int) -> Outcome:
    """One run of a comparison (in a worker): its numeric KPIs, kept daily series, P&L lines and cohorts
    (per-run tables, kept in DIR/parts/<table>/point=P/replication=R/part.parquet, P: the scenario's index)."""
    from sim.runner import run_scenario

    result = run_scenario(scenario.model_copy(update={"seed": seed}))
    kpis = measured_kpis(result.summary)
    tables = {"series": result.daily[["day", *SERIES]].reset_index(drop=True),
              "pnl": result.pnl[["party", "kind", "line", "amount"]].reset_index(drop=True),
              "cohorts": result.cohorts.reset_index(drop=True)}
    return Outcome(kpis, tables, result.wall_seconds)


@dataclass
class Comparison:
    """A finished comparison: its tables (as written to its folder) and how it was run."""

    table: pd.DataFrame      # comparison.csv
    targets: pd.DataFrame    # targets.csv
    runs: pd.DataFrame       # runs.csv
    scenarios: list[Scenario]
    out: Path
    stats: BatchStats
    replications: int
    verdicts: pd.DataFrame | None = None  # verdicts.csv, with `robust` (experiments/robust.py)


class RunsFailed(ScenarioError):
    """Some runs failed or were lost: no comparison is written (the finished runs are kept)."""

    KEPT = ". Finished runs are kept: fix the cause and run the same command again"
    OVERWRITE = "; --overwrite keeps the earlier result as it was until a new comparison is complete"

    def __init__(self, source: str, field: str | None, what: str, after: str = KEPT) -> None:
        self.what = what  # what did not finish; `after`: what the user has now and does next
        super().__init__(source, field, what + after)


def fingerprint(scenarios: list[Scenario], replications: int) -> dict[str, Any]:
    """What a folder's runs depend on: each scenario as resolved and the files it reads, the
    replications, the ecomsim version and the code's commit (a resume with any changed is refused)."""
    return {"kind": "compare", "scenarios": [s.name for s in scenarios], "replications": replications,
            "scenario_sha256": [hashlib.sha256(s.model_dump_json().encode()).hexdigest() for s in scenarios],
            "seed": scenarios[0].seed, **provenance(scenarios)}


def _prepare(out: Path, mine: dict[str, Any], overwrite: bool) -> Path | None:
    """A new folder gets the comparison's fingerprint (spec.json); one with the same fingerprint resumes;
    with `overwrite` an earlier result (a comparison, or any ecomsim result with a manifest) is set aside
    (returned: removed once the new comparison is complete, put back if it is not) and the comparison
    starts afresh; anything else is refused."""
    source = f"--out {out}"
    if out.exists() and not out.is_dir():
        raise ScenarioError(source, None, "exists and is not a folder")
    theirs = read_spec(out, source) if out.is_dir() else None
    if theirs is not None and theirs.get("kind") != "compare":
        raise ScenarioError(source, None, f"holds a {theirs.get('kind')}, not a comparison; choose a new folder")
    if out.is_dir() and any(out.iterdir()):
        if overwrite and (theirs is not None or (out / "manifest.json").is_file()):
            aside = out.parent / f".{out.name}.replaced"
            shutil.rmtree(aside, ignore_errors=True)
            out.rename(aside)
            write_spec(out, mine)
            return aside
        elif theirs is not None and theirs != mine:
            raise ScenarioError(source, None, f"holds a comparison of other inputs (changed: "
                                f"{changed_keys(mine, theirs)}); pass --overwrite to replace it, or choose a new "
                                "folder")
        elif theirs is None:
            earlier = (out / "manifest.json").is_file()
            hint = ("it holds an earlier result: pass --overwrite to replace it" if earlier
                    else "it is not an ecomsim result folder and would be replaced")
            raise ScenarioError(source, None, f"folder exists and is not empty ({hint}); choose a new folder")
        else:
            return None  # the same inputs: resume, finished runs are kept
    write_spec(out, mine)
    return None


def _load(items: list[Scenario | str | Path], sets: list[str]) -> tuple[list[Scenario], list[str]]:
    from sim.scenario_io import load_scenario
    scenarios, files = [], []
    for item in items:
        if isinstance(item, Scenario):
            if sets:
                raise ValueError("sets apply to scenario files; apply them to a loaded Scenario before passing it")
            scenarios.append(item)
            files.append(f"({item.name})")
        else:
            scenarios.append(load_scenario(item, sets))
            files.append(str(item))
    return scenarios, files


def run_comparison(baseline: Scenario | str | Path, scenarios: list[Scenario | str | Path], replications: int = 5,
                   out: str | Path | None = None, *, sets: list[str] | None = None, workers: int = 1,
                   executor: Executor | None = None, progress: bool = False, overwrite: bool = False,
                   notes: bool = True, announce: Callable[[int], None] | None = None, robust: int = 0,
                   uncertainties: str | Path | None = None, cache: bool = True) -> Comparison:
    """Run (or resume) a comparison and write its folder; what `run.py compare` and `compare` call.
    `announce(runs)` is called once the inputs are checked, before any run. With `robust` N > 0 every
    scenario is then judged across N points of the uncertainty set (`uncertainties`, default the shipped
    scenarios/uncertainties.yaml; experiments/robust.py), written to DIR/verdicts.csv. With `cache` (the
    default) runs already in the run cache are reused and new ones stored there (experiments/cache.py)."""
    if not 1 <= replications <= 1000:
        raise ScenarioError("--replications", None, f"must be 1 to 1000 (got {replications})")
    if not 0 <= robust <= 1000:
        raise ScenarioError("--robust", None, f"must be 0 (off) to 1000 points (got {robust})")
    loaded, files = _load([baseline, *scenarios], list(sets or []))  # all checked before any run
    store = default_cache() if cache else None  # a bad $ECOMSIM_CACHE_LIMIT is said before anything is written
    points = None
    if robust:
        from experiments.robust import load_uncertainties, sample_points
        points = sample_points(load_uncertainties(uncertainties), robust, loaded[0].seed)
    for note in check_comparable(loaded, files):
        if notes:
            print(note, file=sys.stderr)
    folder = Path(out) if out is not None else Path("results") / f"compare-{dt.datetime.now():%Y%m%d-%H%M%S}"
    if points is not None and not overwrite:  # before any run: a robust sample of other inputs is refused
        from experiments.robust import FOLDER, check_folder
        from experiments.robust import fingerprint as robust_fingerprint
        check_folder(folder / FOLDER, robust_fingerprint(loaded, points, replications))
    aside = _prepare(folder, fingerprint(loaded, replications), overwrite)
    try:
        result = _run_and_write(folder, loaded, files, replications, list(sets or []), points, workers, executor,
                                progress, announce, store)
    except BaseException as exc:
        if aside is None:
            raise
        shutil.rmtree(folder, ignore_errors=True)  # the earlier result is replaced only by a complete one
        aside.rename(folder)
        if isinstance(exc, (Interrupted, KeyboardInterrupt)):  # nothing of the new comparison is written
            raise KeyboardInterrupt from None
        if isinstance(exc, RunsFailed):  # nothing of the new comparison is kept either
            raise RunsFailed(exc.source, exc.field, exc.what, RunsFailed.OVERWRITE) from None
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    return result


def _run_and_write(folder: Path, loaded: list[Scenario], files: list[str], replications: int, sets: list[str],
                   points: pd.DataFrame | None, workers: int, executor: Executor | None, progress: bool,
                   announce: Callable[[int], None] | None, cache: RunCache | None) -> Comparison:
    """The comparison's runs (resumed where finished), its tables and charts, and the verdicts with `points`."""
    jobs = comparison_jobs(loaded, replications)
    if announce is not None:
        announce(len(jobs))
    _forget_failures(folder)  # a run that failed before is tried again: its cause may be fixed
    stats = run_batch(jobs, simulate, folder, workers=workers, executor=executor, progress=progress, desc="runs",
                      tables_in=folder / PARTS, cache=cache)
    try:
        gathered = gather(folder)
        bad = gathered[gathered["status"] != "ok"] if len(gathered) else gathered
        missing = len(jobs) - len(gathered)
        if len(bad) or missing:
            lost = int((bad["status"] == "lost").sum()) if len(bad) else 0
            first = (f"; first: {bad.iloc[0]['scenario']} replication {bad.iloc[0]['replication']}: "
                     f"{bad.iloc[0]['error']}" if len(bad) else "")
            raise RunsFailed(f"--out {folder}", None, f"{len(bad) + missing} of {len(jobs)} runs did not finish "
                             f"({lost} lost with their worker, {missing} unreadable or missing){first}")
        runs = runs_table(gathered)
        table, targets = write_outputs(folder, loaded, files, runs, replications, stats, sets)
    except KeyboardInterrupt:  # while writing the tables: every run is kept, the same command writes them
        raise Interrupted(folder, len(jobs), len(jobs)) from None
    verdicts = None
    if points is not None:
        from experiments.robust import FOLDER, run_robust
        verdicts = run_robust(loaded, points, replications, folder / FOLDER, workers=workers, executor=executor,
                              progress=progress, announce=announce, cache=cache)
    return Comparison(table, targets, runs, loaded, folder, stats, replications, verdicts)


def comparison_jobs(scenarios: list[Scenario], replications: int) -> list[Job]:
    """The runs of a comparison, replication by replication (every scenario's replication r before any
    r + 1, so paired changes come early): point = the scenario's index, the same seed for replication r of
    every scenario (common random numbers), keyed for the run cache."""
    from experiments.cache import code_version, run_keys
    seeds = replication_seeds(scenarios[0].seed, replications)
    code = code_version()
    keys = [run_keys(sc, seeds, code=code) for sc in scenarios]
    return [Job(i, r, seeds[r], {"scenario": sc.name}, (sc,), keys[i][r]) for r in range(replications)
            for i, sc in enumerate(scenarios)]


def _forget_failures(folder: Path) -> None:
    """Remove the parts of runs that failed (a comparison needs every run; unlike a sweep's, a failure is
    not a result to keep), so that they run again."""
    runs = gather(folder)
    if len(runs):
        for row in runs[runs["status"] == "failed"].itertuples():
            part_path(folder, int(row.point), int(row.replication)).unlink(missing_ok=True)


def compare(baseline: Scenario | str | Path, scenarios: list[Scenario | str | Path], replications: int = 5,
            out: str | Path | None = None, **options: Any) -> pd.DataFrame:
    """Compare `scenarios` with `baseline` over `replications` common-seed runs each and return the
    comparison table (comparison.csv: scenario, kpi, mean, delta_vs_baseline, ci_low, ci_high, ...),
    writing the folder `run.py compare` writes. Scenarios are files or loaded `Scenario`s; options:
    sets (overrides for every scenario), workers, executor (e.g. a Dask client's get_executor()),
    progress, overwrite. Rerunning into the same `out` resumes and recomputes nothing."""
    return run_comparison(baseline, scenarios, replications, out, **options).table


def runs_table(gathered: pd.DataFrame) -> pd.DataFrame:
    """runs.csv: one row per run (scenario, replication, seed, every KPI); a policy's KPI in a scenario
    without the policy (e.g. coupons without the subsidy) is 0 there; a KPI a run could not measure (n/a, e.g.
    churn in a run shorter than its window) stays empty (NaN)."""
    from sim.policies import policy_kpis

    kpis = [c for c in gathered.columns if c not in (*RUN_COLUMNS, "scenario")]
    frame = gathered[["scenario", "replication", "seed", *kpis]].copy()
    own = [k.name for k in policy_kpis() if k.name in frame.columns]
    absent = frame[own].isna().groupby(frame["scenario"]).transform("all")  # the policy is off in that scenario
    frame[own] = frame[own].mask(absent, 0.0)
    frame = frame.sort_values(["scenario", "replication"], kind="stable").reset_index(drop=True)
    return frame[["scenario", "replication", "seed", *kpi_columns(frame)]]


def kpi_columns(runs: pd.DataFrame) -> list[str]:
    """DESIGN.md's KPIs first, then every other numeric summary key, alphabetically."""
    extra = sorted(c for c in runs.columns if c not in (*SUMMARY_KEYS, "scenario", "replication", "seed"))
    return [*SUMMARY_KEYS, *extra]


def comparison_table(runs: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """comparison.csv: per scenario and KPI, mean, delta vs baseline and its paired CI (+ unpaired)."""
    kpis = kpi_columns(runs)
    base = runs[runs["scenario"] == names[0]].set_index("replication")
    base_values = base[kpis].to_numpy(dtype=float)
    base_means = base_values.mean(axis=0)
    rows = []
    for name in names:
        runs_s = runs[runs["scenario"] == name].set_index("replication")
        values_s = runs_s[kpis].to_numpy(dtype=float)
        paired_base = base.loc[runs_s.index, kpis].to_numpy(dtype=float)  # the baseline's run of each replication
        for j, kpi in enumerate(kpis):
            values = values_s[:, j]
            mean_delta, low, high = t_interval(values - paired_base[:, j])
            base_mean = float(base_means[j])
            if runs_s.shape[0] > 1 and name != names[0]:
                u_low, u_high = welch_interval(values, base_values[:, j])
            else:
                u_low = u_high = mean_delta
            rows.append({
                "scenario": name, "kpi": kpi, "mean": float(values.mean()),
                "delta_vs_baseline": mean_delta, "ci_low": low, "ci_high": high,
                "sd": float(values.std(ddof=1)) if values.size > 1 else 0.0,
                "relative_delta": mean_delta / abs(base_mean) if base_mean else float("nan"),
                "unpaired_ci_low": u_low, "unpaired_ci_high": u_high, "replications": int(values.size),
            })
        if name != names[0]:
            rows += _carbon_split(base, runs_s, name)
    return pd.DataFrame(rows)


def _carbon_split(base: pd.DataFrame, runs_s: pd.DataFrame, name: str) -> list[dict]:
    """Rows of sim.tables.CARBON_SPLIT for one scenario (none for the baseline), with paired intervals over
    replications: the change of carbon_kg split so that lost sales never pass for a carbon saving, (orders -
    the baseline's orders) x the baseline's carbon per order, and orders x the change of carbon per order; the
    two add up to the change, replication by replication."""
    if not {"carbon_kg", "orders"} <= set(runs_s.columns):
        return []
    b = base.loc[runs_s.index]
    orders_b, orders_s = b["orders"].to_numpy(dtype=float), runs_s["orders"].to_numpy(dtype=float)
    per_order_b = b["carbon_kg"].to_numpy(dtype=float) / np.maximum(orders_b, 1.0)
    per_order_s = runs_s["carbon_kg"].to_numpy(dtype=float) / np.maximum(orders_s, 1.0)
    parts = {"carbon_change_from_orders_kg": (orders_s - orders_b) * per_order_b,
             "carbon_change_from_carbon_per_order_kg": orders_s * (per_order_s - per_order_b)}
    rows = []
    for kpi, delta in parts.items():
        mean_delta, low, high = t_interval(delta)
        rows.append({"scenario": name, "kpi": kpi, "mean": mean_delta, "delta_vs_baseline": mean_delta,
                     "ci_low": low, "ci_high": high, "sd": float(delta.std(ddof=1)) if delta.size > 1 else 0.0,
                     "relative_delta": float("nan"), "unpaired_ci_low": low, "unpaired_ci_high": high,
                     "replications": int(delta.size)})
    return rows


def _per_run(folder: Path, scenarios: list[Scenario], replications: int, table: str) -> pd.DataFrame:
    """One per-run table of every run, long: scenario, replication, then the table's columns."""
    frames = []
    for r in range(replications):
        for i, sc in enumerate(scenarios):
            frame = read_table(folder / PARTS, table, i, r)
            frame.insert(0, "replication", r)
            frame.insert(0, "scenario", sc.name)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def series_table(folder: Path, scenarios: list[Scenario], replications: int) -> pd.DataFrame:
    """series.parquet: every run's kept daily series, long (scenario, replication, day, date, series...)."""
    frame = _per_run(folder, scenarios, replications, "series")
    start = {sc.name: pd.Timestamp(sc.simulation.start_date) for sc in scenarios}
    frame.insert(3, "date", frame["scenario"].map(start) + pd.to_timedelta(frame["day"], unit="D"))
    return frame.sort_values(["scenario", "replication", "day"], kind="stable", ignore_index=True)


def pnl_means(folder: Path, scenarios: list[Scenario], replications: int) -> pd.DataFrame:
    """pnl.csv: each scenario's P&L lines, the mean over its replications (in the scenario's order)."""
    rows = _per_run(folder, scenarios, replications, "pnl")
    table = rows.groupby(["scenario", "party", "kind", "line"], sort=False)["amount"].mean()
    order = {sc.name: i for i, sc in enumerate(scenarios)}
    return table.reset_index().sort_values("scenario", key=lambda c: c.map(order), kind="stable")


def cohorts_table(folder: Path, scenarios: list[Scenario], replications: int) -> pd.DataFrame:
    """cohorts.csv: every run's monthly cohorts (customers, and buyers in each later month), long."""
    columns = ["scenario", "replication", "cohort", "month", "months_since", "customers", "buyers"]
    rows = _per_run(folder, scenarios, replications, "cohorts")
    return rows.reindex(columns=columns).sort_values(["scenario", "replication"], kind="stable")


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


def write_outputs(out: Path, scenarios: list[Scenario], sources: list[str], runs: pd.DataFrame, replications: int,
                  stats: BatchStats, overrides: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """comparison.csv, runs.csv, series.parquet, pnl.csv, cohorts.csv, retention.csv, targets.csv,
    scenarios/, manifest.json and charts/: written into a hidden folder first, then moved into `out`
    (the parts stay, so a rerun rewrites these from them without running anything)."""
    from sim.outputs import atomic_folder, write_json
    from sim.scenario_io import dump_resolved

    names = [s.name for s in scenarios]
    comparison = comparison_table(runs, names)
    targets = assess_targets(runs, names, [s.targets for s in scenarios])
    staging = out / ".outputs"
    with atomic_folder(staging) as tmp:
        comparison.to_csv(tmp / "comparison.csv", index=False)
        runs.to_csv(tmp / "runs.csv", index=False)
        series_table(out, scenarios, replications).to_parquet(tmp / "series.parquet", index=False)
        pnl_means(out, scenarios, replications).round({"amount": 2}).to_csv(tmp / "pnl.csv", index=False)
        cohorts = cohorts_table(out, scenarios, replications)
        cohorts.to_csv(tmp / "cohorts.csv", index=False)
        retention_table(cohorts, names).to_csv(tmp / "retention.csv", index=False)
        targets.to_csv(tmp / "targets.csv", index=False)
        (tmp / "scenarios").mkdir()
        for sc in scenarios:
            (tmp / "scenarios" / f"{sc.name}.resolved.yaml").write_text(dump_resolved(sc), encoding="utf-8")
        write_json(tmp / "manifest.json", {
            "baseline": names[0], "scenarios": names, "files": sources, "replications": replications,
            "seeds": sorted(int(s) for s in runs["seed"].unique()), "workers": stats.workers or "dask scheduler",
            "wall_seconds": round(stats.wall_seconds, 2), "runs_this_time": stats.runs,
            "confidence": CONFIDENCE, "method": "common random numbers (replication seeds spawned from the "
            "baseline's seed with numpy's SeedSequence); paired Student-t intervals",
            "command": sys.argv, "overrides": overrides,
        })
        try:
            draw_charts(tmp)
        except Exception as exc:  # noqa: BLE001 - the runs are worth more than a chart; `report` redraws them
            print(f"warning: charts not drawn ({type(exc).__name__}: {exc}); the results are written, "
                  "run.py report redraws the charts from them", file=sys.stderr)
    for entry in sorted(staging.iterdir(), key=lambda p: p.name == "manifest.json"):  # the manifest last
        target = out / entry.name
        if target.is_dir():
            shutil.rmtree(target)
        entry.replace(target)
    staging.rmdir()
    return comparison, targets


def draw_charts(folder: Path, charts: Path | None = None) -> list[Path]:
    """Every chart of a comparison folder, from its files alone (manifest.json, scenarios/, comparison.csv,
    targets.csv, pnl.csv, series.parquet, cohorts.csv), into folder/charts: `compare` draws them, `report`
    redraws them."""
    import yaml

    from experiments.comparison_charts import (
        comparison_deltas,
        comparison_series,
        leadership_charts,
        retention_comparison,
    )
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
    comparison_series(means, replications, charts / "series.png", str(sim_cfg["start_date"]), currency, context,
                      comparison)
    leadership_charts(charts, names, comparison, targets, pnl, series, replications, currency, context)
    if (folder / "cohorts.csv").exists():  # folders written before cohorts.csv existed have no retention chart
        retention = retention_table(pd.read_csv(folder / "cohorts.csv"), names)
        if len(retention):
            retention_comparison(retention, names, replications, context, charts / "retention.png")
    return sorted(charts.glob("*.png"))
