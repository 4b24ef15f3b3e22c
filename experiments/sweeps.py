"""`run.py sweep`: batch experiments over levers and uncertainties.

A sweep spec (YAML) names a base scenario, the levers the platform controls and the
uncertainties it does not (dotted scenario paths with a range or levels), a design that
places points in that space (full factorial; Latin hypercube as scipy.stats.qmc draws it; Sobol and
Morris samples from SALib; every lever point against a common uncertainty sample), and the
replications per point. Replication i of every point runs with the same seed (spawned from
the spec's seed with numpy's SeedSequence): common random numbers across points.

Runs go through the batch engine (experiments/batch.py): each finished run is written at once as
its own Parquet part, so a killed sweep loses at most the runs in flight, and running the same
command again resumes; a changed spec in the same folder is refused. A run the model rejects or
that fails is recorded with its error and the sweep goes on. At the end the parts are gathered
into runs.parquet, one row per run.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from experiments.batch import (
    BatchStats,
    Job,
    Outcome,
    changed_keys,
    gather,
    measured_kpis,
    provenance,
    read_spec,
    replication_seeds,
    run_batch,
    status_counts,
    write_spec,
)
from experiments.designs import DESIGNS, design_of
from sim.errors import Interrupted, ScenarioError
from sim.outputs import plain, replace_atomically
from sim.schema import Section

DAILY = "daily"  # the per-run table of the kept daily series: DIR/daily/point=P/replication=R/part.parquet
DEFAULT_OBJECTIVES = {"gmv": "max", "platform_profit": "max", "carbon_per_order_kg": "min"}


class ParameterConfig(Section):
    """One lever or uncertainty: a scenario path and the values it may take."""

    path: str = Field(min_length=1, description="Dotted scenario path, e.g. platform.take_rate")
    low: float | None = Field(None, description="Lowest value of a range")
    high: float | None = Field(None, description="Highest value of a range")
    integer: bool = Field(False, description="Whole numbers only (a range of integers)")
    levels: list[float | int | str | bool] | None = Field(
        None, min_length=1, description="The values to take, in place of a range (numbers or categories)")

    @model_validator(mode="after")
    def _range_or_levels(self) -> ParameterConfig:
        has_range = self.low is not None or self.high is not None
        if has_range == (self.levels is not None):
            raise ValueError(f"{self.path}: give either low and high, or levels")
        if has_range:
            if self.low is None or self.high is None:
                raise ValueError(f"{self.path}: a range needs both low and high")
            if not self.low < self.high:
                raise ValueError(f"{self.path}: empty range, low ({self.low:g}) must be below high ({self.high:g})")
        return self

    def value(self, u: float) -> Any:
        """The value at u in [0, 1): a point of the range, or one of the levels."""
        if self.levels is not None:
            return self.levels[min(int(u * len(self.levels)), len(self.levels) - 1)]
        if self.integer:
            return int(min(np.floor(self.low + u * (self.high - self.low + 1)), self.high))
        return float(self.low + u * (self.high - self.low))

    def grid(self, steps: int) -> list[Any]:
        """Full-factorial values: the levels, or `steps` evenly spaced values of the range."""
        if self.levels is not None:
            return list(self.levels)
        values = np.linspace(self.low, self.high, steps)
        return sorted({int(round(v)) for v in values}) if self.integer else [float(v) for v in values]


class DesignConfig(Section):
    kind: str = Field(description="How points are placed: " + "; ".join(f"{k}: {d.description}"
                                                                      for k, d in DESIGNS.items()))
    n: int = Field(8, ge=1, le=1_000_000, description="Points (latin_hypercube, the uncertainty sample of "
                   "lever_x_uncertainty), base samples (sobol: a power of two) or trajectories (morris)")
    steps: int = Field(3, ge=2, le=100, description="Values per range in a full factorial")
    second_order: bool = Field(False, description="sobol: also sample for second-order indices")
    morris_levels: int = Field(4, ge=2, le=100, description="morris: grid levels")
    seed: int = Field(0, ge=0, description="Seed of the sampler (the design, not the runs)")

    @field_validator("kind")
    @classmethod
    def _known(cls, kind: str) -> str:
        if kind not in DESIGNS:
            raise ValueError(f"unknown design {kind!r}; allowed: {', '.join(DESIGNS)}")
        return kind


class SweepSpec(Section):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Names the results folder")
    description: str = Field("", description="The question the sweep answers")
    base: str = Field(min_length=1, description="The base scenario file (relative to the spec)")
    sets: list[str] = Field(default_factory=list, description="Overrides (a.b=v) applied to every run")
    levers: list[ParameterConfig] = Field(default_factory=list, description="What the platform controls")
    uncertainties: list[ParameterConfig] = Field(default_factory=list, description="What it does not")
    design: DesignConfig
    replications: int = Field(1, ge=1, le=1000, description="Runs per point, each with its common seed")
    seed: int = Field(42, ge=0, description="Root of the runs' seeds (SeedSequence)")
    kpis: list[str] | None = Field(None, description="Summary KPIs to keep (default: every numeric one)")
    daily: list[str] | None = Field(None, description="Daily series to keep (columns of daily.csv), written "
                                    "as a Parquet dataset partitioned by point and replication")
    objectives: dict[str, Literal["max", "min"]] | None = Field(
        None, description="KPIs to optimise for the Pareto set and regret (`run.py analyze`), each max or min "
        "(default: gmv max, platform_profit max, carbon_per_order_kg min, those of them that are kept)")

    @model_validator(mode="after")
    def _parameters(self) -> SweepSpec:
        paths = [p.path for p in self.levers + self.uncertainties]
        if not paths:
            raise ValueError("a sweep needs at least one lever or uncertainty")
        both = sorted({p.path for p in self.levers} & {p.path for p in self.uncertainties})
        if both:
            raise ValueError(f"{', '.join(both)}: a path cannot be both a lever and an uncertainty")
        twice = sorted({p for p in paths if paths.count(p) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)}: a path can appear only once")
        DESIGNS[self.design.kind].check(self)
        if self.objectives is not None and not self.objectives:
            raise ValueError("objectives: name at least one KPI to optimise (e.g. gmv: max), or leave it out")
        if self.objectives is not None and self.kpis is not None:
            dropped = [k for k in self.objectives if k not in self.kpis]
            if dropped:
                raise ValueError(f"objectives {', '.join(dropped)} must also be among the kpis kept")
        return self

    @property
    def goals(self) -> dict[str, str]:
        """The objectives, or the default ones that are kept."""
        if self.objectives is not None:
            return dict(self.objectives)
        return {k: v for k, v in DEFAULT_OBJECTIVES.items() if self.kpis is None or k in self.kpis}

    @property
    def parameters(self) -> list[ParameterConfig]:
        return [*self.levers, *self.uncertainties]

    @property
    def lever_paths(self) -> list[str]:
        return [p.path for p in self.levers]


def load_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep spec; bad input raises ScenarioError naming the file and the field."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(str(path), None, "file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ScenarioError(str(path), None, f"cannot read the sweep spec: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(str(path), None, "a sweep spec must be a YAML mapping of fields")
    data.setdefault("name", path.stem)
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or None
        raise ScenarioError(str(path), field, err["msg"].removeprefix("Value error, ")) from None
    base = (path.parent / spec.base).resolve()
    spec = spec.model_copy(update={"base": str(base)})
    _check_paths(spec, str(path))
    return spec


def _set(path: str, value: Any) -> str:
    return f"{path}={json.dumps(value)}"


def _check_paths(spec: SweepSpec, source: str) -> None:
    """The base scenario loads and every parameter path is a scenario field (checked before any run;
    a value the model rejects is a failed run, recorded, not bad input)."""
    from sim.scenario_io import check_path, load_scenario
    load_scenario(spec.base, spec.sets)
    for i, p in enumerate(spec.parameters):
        try:
            check_path(p.path, source)
        except ScenarioError as exc:
            kind = "levers" if i < len(spec.levers) else "uncertainties"
            index = i if i < len(spec.levers) else i - len(spec.levers)
            raise ScenarioError(source, f"{kind}.{index}.path", exc.message) from None
    _check_names(spec, source)


def _check_names(spec: SweepSpec, source: str) -> None:
    """Kept KPIs and objectives are summary keys; kept daily series are daily columns."""
    import difflib

    from sim.kpis import CATALOGUE, CATEGORY_RETURNS_PREFIX, SEGMENT_ORDERS_PREFIX
    from sim.metrics import daily_columns
    from sim.policies import policy_kpis
    from sim.scenario import known_kpis
    known = known_kpis()

    def check(field: str, name: str, allowed: set[str] | tuple[str, ...], what: str, prefixes=()) -> None:
        if name in allowed or name.startswith(prefixes):
            return
        close = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ScenarioError(source, field, f"unknown {what} {name!r}{hint} Allowed: {', '.join(sorted(allowed))}")

    for i, name in enumerate(spec.kpis or []):
        check(f"kpis.{i}", name, known, "KPI", (SEGMENT_ORDERS_PREFIX, CATEGORY_RETURNS_PREFIX))
    for name in spec.objectives or {}:
        check(f"objectives.{name}", name, known, "KPI", (SEGMENT_ORDERS_PREFIX, CATEGORY_RETURNS_PREFIX))
    for i, name in enumerate(spec.daily or []):
        columns = daily_columns([*CATALOGUE, *policy_kpis()])  # a run's series has every policy's flow columns
        check(f"daily.{i}", name, tuple(c for c in columns if c not in ("day", "date")), "daily column")


# --- designs -----------------------------------------------------------------------------------


def design_points(spec: SweepSpec) -> pd.DataFrame:
    """The design's points: one row per point, one column per parameter path (values as the scenario takes them)."""
    rows = design_of(spec).rows(spec)
    points = pd.DataFrame(rows, columns=[p.path for p in spec.parameters])
    points.insert(0, "point", np.arange(len(points)))
    return points


def run_seeds(spec: SweepSpec) -> list[int]:
    """Replication i's seed, the same at every point (common random numbers)."""
    return replication_seeds(spec.seed, spec.replications)


# --- running -------------------------------------------------------------------------------------

# evaluate(base, sets, seed, daily_columns) -> (summary, daily frame or None, seconds of simulation)
Evaluate = Callable[[str, list[str], int, "list[str] | None"], "tuple[dict[str, Any], pd.DataFrame | None, float]"]


def simulate(base: str, sets: list[str], seed: int, daily: list[str] | None
             ) -> tuple[dict[str, Any], pd.DataFrame | None, float]:
    """The model itself: the base scenario with `sets` and `seed`, run to its summary KPIs."""
    from sim.runner import run_scenario
    from sim.scenario_io import load_scenario
    result = run_scenario(load_scenario(base, [*sets, f"seed={seed}"]))
    series = result.daily[["day", *daily]].reset_index(drop=True) if daily else None
    return result.summary, series, result.wall_seconds


def run_point(evaluate: Evaluate, base: str, sets: list[str], kpis: list[str] | None, daily: list[str] | None,
              seed: int) -> Outcome:
    """One point's run in a worker (the batch engine's evaluate): its numeric KPIs and daily series."""
    summary, series, sim_seconds = evaluate(base, sets, seed, daily)
    measured = measured_kpis(summary)  # None (not measured) as NaN
    keep = kpis if kpis is not None else list(measured)
    tables = {DAILY: series} if series is not None else {}
    return Outcome({k: float(measured[k]) for k in keep if k in measured}, tables, sim_seconds)


def _fingerprint(spec: SweepSpec) -> dict[str, Any]:
    """What must not change between the runs of one folder: the spec, the base scenario as resolved
    (its file and every file it extends, and the files it reads), the ecomsim version and the code's
    commit."""
    from sim.scenario_io import load_scenario
    try:
        base = [load_scenario(spec.base, spec.sets)]
        digest = hashlib.sha256(base[0].model_dump_json().encode()).hexdigest()
    except ScenarioError:  # not a scenario: a test function stands in for the model
        base, digest = [], None
    return {"kind": "sweep", **json.loads(spec.model_dump_json()), "base_scenario_sha256": digest,
            **provenance(base)}


def _prepare(out: Path, mine: dict[str, Any], source: str) -> None:
    """A new folder gets the spec's fingerprint; an old one must hold the same (then the sweep resumes)."""
    theirs = read_spec(out, source) if out.is_dir() else None
    if theirs is not None:
        if theirs.get("kind") != "sweep":
            raise ScenarioError(source, None, f"{out} holds a {theirs.get('kind')}, not a sweep; choose a new --out")
        if theirs != mine:
            raise ScenarioError(source, None, f"{out} holds a sweep with another spec (changed: "
                                f"{changed_keys(mine, theirs)}); use another --out folder, or the spec it was run "
                                "with to resume it")
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ScenarioError(source, None, f"{out} exists and is not a sweep folder; choose a new --out")
    write_spec(out, mine)


def sweep(spec: SweepSpec | str | Path, out: str | Path | None = None, workers: int = 1,
          executor: Executor | None = None, progress: bool = False, evaluate: Evaluate = simulate,
          window: int | None = None) -> pd.DataFrame:
    """Run (or resume) a sweep and return one row per run (the Python API behind `run.py sweep`).

    `out` defaults to results/sweep-<name>; `executor` (e.g. a Dask client's `get_executor()`)
    replaces the local pool of `workers` processes. Results never depend on either. Runs go through
    the batch engine (experiments/batch.py: parts written as runs end, resume, lost workers, at most
    `window` runs in flight); `evaluate` is the model (tests plug in functions with known answers).
    A run the model rejects is "failed" for good; one whose worker dies is "lost" and rerun on resume."""
    source = str(spec) if not isinstance(spec, SweepSpec) else spec.name
    if isinstance(spec, SweepSpec):
        if evaluate is simulate:
            _check_paths(spec, source)
    else:
        spec = load_spec(spec)
    out = Path(out) if out is not None else Path("results") / f"sweep-{spec.name}"
    fingerprint = _fingerprint(spec)  # resolves the base scenario: once per sweep
    _prepare(out, fingerprint, source)
    points = _design(out, spec, source)
    seeds = run_seeds(spec)
    params = [p.path for p in spec.parameters]
    jobs = []
    for point, row in zip(points["point"], points[params].to_dict("records"), strict=True):
        values = {p: plain(v) for p, v in row.items()}
        sets = [*spec.sets, *(_set(path, value) for path, value in values.items())]
        jobs += [Job(int(point), r, seeds[r], values, (evaluate, spec.base, sets, spec.kpis, spec.daily))
                 for r in range(spec.replications)]
    stats = run_batch(jobs, run_point, out, workers=workers, executor=executor, progress=progress,
                      desc=spec.name, window=window)
    try:
        runs = gather(out)
        if len(runs):
            replace_atomically(out / "runs.parquet", lambda tmp: runs.to_parquet(tmp, index=False))
        _write_manifest(out, spec, fingerprint, stats, runs)
    except KeyboardInterrupt:  # while gathering: every run is kept, the same command gathers them
        raise Interrupted(out, len(jobs), len(jobs)) from None
    return runs


def _design(out: Path, spec: SweepSpec, source: str) -> pd.DataFrame:
    """The design's points, saved in DIR/design.parquet on the first run and checked on a resume
    (a sampler that draws differently, e.g. another SALib version, must not mix two designs)."""
    points = design_points(spec)
    saved = out / "design.parquet"
    if not saved.exists():
        replace_atomically(saved, lambda tmp: points.to_parquet(tmp, index=False))
    elif not pd.read_parquet(saved).equals(points):
        raise ScenarioError(source, "design", f"the design drawn now differs from the one in {saved} (another "
                            "SALib or scipy version?); resume with the versions it was started with, "
                            "or use a new --out")
    return points


def _write_manifest(out: Path, spec: SweepSpec, fingerprint: dict[str, Any], stats: BatchStats,
                    runs: pd.DataFrame) -> None:
    """What was run, with what, where and how long: the spec, versions, commit, machine, and the
    timings of this invocation and of the earlier ones (a resumed sweep keeps them all)."""
    import platform
    from importlib import metadata

    from sim import __version__
    from sim.outputs import git_commit
    from sim.runner import PROJECT_ROOT
    versions = {pkg: metadata.version(pkg) for pkg in ("mesa", "numpy", "pandas", "scipy", "pyarrow", "SALib",
                                                       "distributed")}
    counts = status_counts(runs)
    wall, busy = stats.wall_seconds, stats.sim_seconds
    overhead = (wall * stats.workers - busy) / busy if stats.workers and busy > 0 else None
    this_time = {"runs": stats.runs, "failed": stats.failed, "lost": stats.lost,
                 "workers": stats.workers or "dask scheduler", "wall_seconds": round(wall, 3),
                 "simulation_seconds": round(busy, 3),
                 "overhead_share": None if overhead is None else round(overhead, 4),
                 "git_commit": git_commit(PROJECT_ROOT)}
    path = out / "manifest.json"
    earlier = []
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        earlier = [*old.get("earlier", []), old["this_time"]]
    problems = []
    if counts["failed"]:
        problems.append(f"{counts['failed']} failed: runs.parquet rows with status 'failed', the error column says why")
    if counts["lost"]:
        problems.append(f"{counts['lost']} lost with their worker: rerun the same command to run them again")
    from sim.runner import usable_cores

    manifest = json.dumps({
        "ecomsim_version": __version__, "sweep": spec.name, "design": spec.design.kind,
        "points": int(runs["point"].nunique()) if len(runs) else 0, "runs": len(runs), **counts,
        "problems": problems, "this_time": this_time, "earlier": earlier, "spec": fingerprint,
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count(),
                    "usable_cores": usable_cores()},
        "python": sys.version.split()[0], "versions": versions,
    }, indent=2)
    replace_atomically(path, lambda tmp: tmp.write_text(manifest, encoding="utf-8"))
