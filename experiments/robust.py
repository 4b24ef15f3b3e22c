"""Robust verdicts: each scenario against the baseline across a sample of the uncertainty set.

A verdict such as "the referral programme loses platform profit" rests on assumptions nobody
has measured (how much of its shoppers' buying the platform has, what a reward buys, what
variety is worth...). `scenarios/uncertainties.yaml` declares each with its range. Here every
scenario and the baseline run at N Latin-hypercube points of that set (scipy.stats.qmc) with R
replications each, on the one batch engine, with common random numbers: replication r has the
same seed at every point and in every scenario, so each (point, replication) gives one paired
change. For each scenario and headline KPI:

- the pooled change: mean and Student-t 95% interval of the N x R paired changes;
- the sign share: the share of points whose mean change has the pooled mean's sign;
- the driver: the uncertainty whose sampled value moves the points' changes most (largest
  absolute Spearman rank correlation among those that apply to the scenario or the baseline);
- the verdict: "robust" when the sign holds at >= 90% of points and the pooled interval
  excludes zero; "depends on <driver>" when the sign flips at more than 10% of points and the
  driver's rank correlation with the points' changes is clear (p < 0.05); otherwise "no clear
  effect" (the change is not distinguishable from noise, or flips for no one reason).

An uncertainty under `policies.<name>` applies only to a scenario where that policy is on (it
would otherwise switch the policy on).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, model_validator

from experiments.batch import (
    Job,
    JobResult,
    Outcome,
    gather,
    measured_kpis,
    prepare,
    provenance,
    read_spec,
    replication_seeds,
    run_batch,
    write_spec,
)
from experiments.cache import RunCache, code_version, run_keys
from experiments.stats import t_interval
from sim.errors import ScenarioError
from sim.outputs import replace_atomically
from sim.scenario import Scenario
from sim.schema import Section

HEADLINE = ("gmv", "orders", "churn_rate_monthly", "platform_profit", "merchant_profit", "carbon_kg")
ROBUST_SHARE = 0.9  # the sign must hold at this share of the uncertainty points
DRIVER_P = 0.05  # a sign that flips "depends on" an uncertainty only if their rank correlation is this clear
FOLDER = "robust"
VERDICTS = "verdicts.csv"


class UncertaintyConfig(Section):
    """One assumption and the range a verdict must survive."""

    path: str = Field(min_length=1, description="Dotted scenario path, e.g. rivals.platform_share")
    low: float = Field(description="Lowest plausible value")
    high: float = Field(description="Highest plausible value")
    why: str = Field("", description="Why it is uncertain (its source, or that none was found)")

    @model_validator(mode="after")
    def _range(self) -> UncertaintyConfig:
        if not self.low < self.high:
            raise ValueError(f"{self.path}: empty range, low ({self.low:g}) must be below high ({self.high:g})")
        return self


class UncertaintySet(Section):
    uncertainties: list[UncertaintyConfig] = Field(min_length=1, description="The assumptions and their ranges")


def default_file() -> Path:
    from experiments.library import scenario_file
    return scenario_file("uncertainties.yaml")


def load_uncertainties(path: str | Path | None = None) -> list[UncertaintyConfig]:
    """The uncertainty set of a YAML file (default: the shipped scenarios/uncertainties.yaml), checked:
    each path must be a scenario field."""
    import yaml

    from sim.scenario_io import check_path

    path = Path(path) if path is not None else default_file()
    source = str(path)
    if not path.is_file():
        raise ScenarioError(source, None, "file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec = UncertaintySet.model_validate(data)
    except yaml.YAMLError as exc:
        raise ScenarioError(source, None, f"not valid YAML ({exc})") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise ScenarioError(source, field, err["msg"]) from None
    for i, u in enumerate(spec.uncertainties):
        try:
            check_path(u.path, source)
        except ScenarioError as exc:
            raise ScenarioError(source, f"uncertainties.{i}.path", str(exc)) from None
    paths = [u.path for u in spec.uncertainties]
    if len(set(paths)) != len(paths):
        raise ScenarioError(source, "uncertainties", f"each path at most once (got {paths})")
    return spec.uncertainties


def applies(scenario: Scenario, path: str) -> bool:
    """Whether an uncertainty bears on a scenario: always, unless it belongs to a policy that is off."""
    parts = path.split(".")
    if parts[0] != "policies":
        return True
    section = getattr(scenario.policies, parts[1], None)
    return section is not None and getattr(section, "enabled", True)


def sample_points(uncertainties: list[UncertaintyConfig], n: int, seed: int) -> pd.DataFrame:
    """N Latin-hypercube points of the uncertainty set (one column per path), reproducible from `seed`."""
    from scipy.stats import qmc

    u = qmc.LatinHypercube(d=len(uncertainties), seed=np.random.default_rng(seed)).random(n)
    return pd.DataFrame({x.path: x.low + u[:, j] * (x.high - x.low) for j, x in enumerate(uncertainties)})


def at_point(scenario: Scenario, point: pd.Series) -> Scenario:
    """The scenario with the point's values of the uncertainties that apply to it."""
    from sim.scenario_io import with_overrides

    sets = [f"{path}={value!r}" for path, value in point.items() if applies(scenario, path)]
    return with_overrides(scenario, sets, f"uncertainty point of {scenario.name}")


def simulate_kpis(scenario: Scenario, seed: int) -> Outcome:
    """One run (in a worker): its numeric KPIs only."""
    from sim.runner import run_scenario

    result = run_scenario(scenario.model_copy(update={"seed": seed}))
    kpis = measured_kpis(result.summary)
    return Outcome(kpis, {}, result.wall_seconds)


def fingerprint(scenarios: list[Scenario], points: pd.DataFrame, replications: int) -> dict[str, Any]:
    return {"kind": "robust", "scenarios": [s.name for s in scenarios], "replications": replications,
            "points": int(len(points)),
            "scenario_sha256": [hashlib.sha256(s.model_dump_json().encode()).hexdigest() for s in scenarios],
            "uncertainty_sha256": hashlib.sha256(points.to_json().encode()).hexdigest(), **provenance(scenarios)}


def check_folder(folder: Path, mine: dict[str, Any]) -> None:
    """A robust sample of other inputs (another N, uncertainty set or scenarios) is never replaced quietly:
    refused, with what changed (--overwrite starts the whole comparison afresh)."""
    from experiments.batch import changed_keys

    theirs = read_spec(folder, f"{folder}") if folder.is_dir() else None
    if theirs is not None and theirs != mine:
        raise ScenarioError(f"--out {folder.parent}", None, f"holds robust verdicts of other inputs (changed: "
                            f"{changed_keys(mine, theirs)}); pass --overwrite to replace the comparison, or choose "
                            "a new folder")


def run_robust(scenarios: list[Scenario], points: pd.DataFrame, replications: int, folder: Path, *,
               workers: int = 1, executor: Executor | None = None, progress: bool = False,
               announce: Callable[[int], None] | None = None, cache: RunCache | None = None,
               stop: threading.Event | None = None, on_record: Callable[[JobResult], None] | None = None,
               processes: bool = False) -> pd.DataFrame:
    """Run the baseline (scenarios[0]) and every scenario at every point (resumable in `folder`; with `cache`,
    runs seen before are reused) and return the verdicts (the table of `verdicts`). `stop`, `on_record` and
    `processes` are the batch engine's (experiments/batch.py)."""
    mine = fingerprint(scenarios, points, replications)
    check_folder(folder, mine)
    if not (folder / "spec.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_spec(folder, mine)
    prepare(folder)
    seeds = replication_seeds(scenarios[0].seed, replications)
    n_sc = len(scenarios)
    jobs = []
    code = code_version()
    for k, (_, point) in enumerate(points.iterrows()):
        placed = [at_point(sc, point) for sc in scenarios]
        keys = [run_keys(sc, seeds, kind="kpis", code=code) for sc in placed]
        jobs += [Job(k * n_sc + i, r, seeds[r], {"scenario": sc.name, "uncertainty_point": k}, (placed[i],),
                     keys[i][r])
                 for r in range(replications) for i, sc in enumerate(scenarios)]
    if announce is not None:
        announce(len(jobs))
    run_batch(jobs, simulate_kpis, folder, workers=workers, executor=executor, progress=progress,
              desc="robustness runs", cache=cache, stop=stop, on_record=on_record, processes=processes)
    runs = gather(folder)
    bad = runs[runs["status"] != "ok"] if len(runs) else runs
    if len(bad) or len(runs) < len(jobs):
        first = f"; first: {bad.iloc[0]['error']}" if len(bad) else ""
        raise ScenarioError(f"--out {folder}", None, f"{len(bad) + len(jobs) - len(runs)} of {len(jobs)} robustness "
                            f"runs did not finish{first}; finished runs are kept: run the same command again")
    table = verdicts(runs, points, [s.name for s in scenarios],
                     {s.name: [p for p in points.columns if applies(s, p) or applies(scenarios[0], p)]
                      for s in scenarios})
    replace_atomically(folder.parent / VERDICTS, lambda tmp: table.to_csv(tmp, index=False))
    return table


def verdicts(runs: pd.DataFrame, points: pd.DataFrame, names: list[str],
             relevant: dict[str, list[str]] | None = None, kpis: tuple[str, ...] = HEADLINE) -> pd.DataFrame:
    """Per scenario (not the baseline, names[0]) and KPI: the pooled paired change and interval, the share
    of points where its sign holds, the driver among the relevant uncertainties, the verdict.

    `runs` has columns scenario, uncertainty_point, replication and the KPIs."""
    from scipy.stats import spearmanr

    base = runs[runs["scenario"] == names[0]].set_index(["uncertainty_point", "replication"])
    rows = []
    for name in names[1:]:
        mine = runs[runs["scenario"] == name].set_index(["uncertainty_point", "replication"])
        for kpi in kpis:
            if kpi not in mine.columns or kpi not in base.columns:
                continue
            diff = (mine[kpi] - base[kpi]).dropna()
            if diff.empty:  # a KPI the runs could not measure (e.g. churn in a run shorter than its window)
                rows.append({"scenario": name, "kpi": kpi, "mean_change": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                             "sign_share": np.nan, "points": 0, "driver": "", "driver_rank_correlation": np.nan,
                             "verdict": "not measured"})
                continue
            low, mean, high = _pooled(diff.to_numpy(dtype=float))
            by_point = diff.groupby(level="uncertainty_point").mean()
            sign = np.sign(mean)
            share = float((np.sign(by_point) == sign).mean()) if sign != 0 else 0.0
            driver, rho, p_value = "", 0.0, 1.0
            for path in (relevant or {}).get(name, list(points.columns)):
                x = points[path].to_numpy()[by_point.index.to_numpy()]
                if np.ptp(x) == 0 or np.ptp(by_point.to_numpy()) == 0:
                    continue
                test = spearmanr(x, by_point.to_numpy())
                r = float(test.statistic)
                if np.isfinite(r) and abs(r) > abs(rho):
                    driver, rho, p_value = path, r, float(test.pvalue)
            excludes_zero = low > 0 or high < 0
            if share >= ROBUST_SHARE and excludes_zero:
                verdict = "robust"
            elif share < ROBUST_SHARE and driver and p_value < DRIVER_P:
                verdict = f"depends on {driver}"
            else:
                verdict = "no clear effect"
            rows.append({"scenario": name, "kpi": kpi, "mean_change": mean, "ci_low": low, "ci_high": high,
                         "sign_share": share, "points": int(by_point.size), "driver": driver,
                         "driver_rank_correlation": rho, "verdict": verdict})
    return pd.DataFrame(rows, columns=["scenario", "kpi", "mean_change", "ci_low", "ci_high", "sign_share", "points",
                                       "driver", "driver_rank_correlation", "verdict"])


def _pooled(values: np.ndarray) -> tuple[float, float, float]:
    """(low, mean, high) of the 95% Student-t interval of the mean."""
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean, low, high = t_interval(values)
    return low, mean, high


def format_verdicts(table: pd.DataFrame, points: int, replications: int) -> str:
    """The verdicts as the terminal prints them: one line per scenario and KPI."""
    lines = [f"robust verdicts: {points} points of the uncertainty set x {replications} replications "
             "(a verdict is robust when the sign holds at 90% of the points and the pooled 95% interval "
             "excludes zero)"]
    from sim.kpis import by_name
    from sim.tables import format_change, format_ci, row

    kpis = by_name()
    for name, rows in table.groupby("scenario", sort=False):
        lines.append(f"  {name}")
        for r in rows.itertuples():
            _, label, fmt = row(kpis[r.kpi])
            change = f"{format_change(r.mean_change, fmt):>14} {format_ci(r.ci_low, r.ci_high, fmt)}"
            lines.append(f"    {label:<28} {change}  sign holds at {r.sign_share:.0%} of points  -> {r.verdict}"
                         if r.points else f"    {label:<28} n/a (not measured in these runs)")
    return "\n".join(lines)


def describe(points: pd.DataFrame) -> str:
    """The sample for a manifest: each path's range as sampled."""
    return json.dumps({p: [float(points[p].min()), float(points[p].max())] for p in points.columns})
