"""`run.py sweep`: batch experiments over levers and uncertainties (issue 11, first part).

A sweep spec (YAML) names a base scenario, the levers the platform controls and the
uncertainties it does not (dotted scenario paths with a range or levels), a design that
places points in that space (full factorial; Latin hypercube from scipy.stats.qmc; Sobol and
Morris samples from SALib; every lever point against a common uncertainty sample), and the
replications per point. Replication i of every point runs with the same seed (spawned from
the spec's seed with numpy's SeedSequence): common random numbers across points.

Each finished run is written at once as its own Parquet part (atomically), so a killed sweep
loses at most the runs in flight, and running the same command again resumes: finished runs
are never recomputed; a changed spec in the same folder is refused. A run the model rejects
or that fails is recorded with its error and the sweep goes on. At the end the parts are
gathered into runs.parquet, one row per run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Executor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import Field, ValidationError, model_validator

from experiments.executors import local_executor
from sim.errors import ScenarioError
from sim.outputs import plain, replace_atomically
from sim.schema import Section

DESIGNS = ("full_factorial", "latin_hypercube", "sobol", "morris", "lever_x_uncertainty")
PARTS = "parts"
DAILY = "daily"
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
    kind: Literal["full_factorial", "latin_hypercube", "sobol", "morris", "lever_x_uncertainty"] = Field(
        description="How points are placed: " + ", ".join(DESIGNS))
    n: int = Field(8, ge=1, le=1_000_000, description="Points (latin_hypercube, the uncertainty sample of "
                   "lever_x_uncertainty), base samples (sobol: a power of two) or trajectories (morris)")
    steps: int = Field(3, ge=2, le=100, description="Values per range in a full factorial")
    second_order: bool = Field(False, description="sobol: also sample for second-order indices")
    morris_levels: int = Field(4, ge=2, le=100, description="morris: grid levels")
    seed: int = Field(0, ge=0, description="Seed of the sampler (the design, not the runs)")

    @model_validator(mode="after")
    def _sobol_power_of_two(self) -> DesignConfig:
        if self.kind == "sobol" and self.n & (self.n - 1):
            raise ValueError(f"sobol needs n a power of two (got {self.n}; e.g. {1 << self.n.bit_length()})")
        return self


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
        if self.design.kind == "lever_x_uncertainty" and not (self.levers and self.uncertainties):
            raise ValueError("lever_x_uncertainty needs both levers and uncertainties")
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

    from sim.kpis import CATEGORY_RETURNS_PREFIX, SEGMENT_ORDERS_PREFIX
    from sim.metrics import COLUMNS
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
        check(f"daily.{i}", name, tuple(c for c in COLUMNS if c not in ("day", "date")), "daily column")


# --- designs -----------------------------------------------------------------------------------


def salib_problem(params: list[ParameterConfig]) -> dict[str, Any]:
    """SALib's problem: every parameter on the unit interval (values are mapped from it)."""
    return {"num_vars": len(params), "names": [p.path for p in params], "bounds": [[0.0, 1.0]] * len(params)}


def _unit_sample(spec: SweepSpec, params: list[ParameterConfig], n: int) -> np.ndarray:
    """n points in [0, 1)^d for `params` by the design's sampler (Latin hypercube for lever_x_uncertainty)."""
    d, cfg = len(params), spec.design
    if cfg.kind in ("latin_hypercube", "lever_x_uncertainty"):
        from scipy.stats import qmc
        return qmc.LatinHypercube(d=d, seed=cfg.seed).random(n)
    problem = salib_problem(params)
    if cfg.kind == "sobol":
        from SALib.sample import sobol
        return np.minimum(sobol.sample(problem, n, calc_second_order=cfg.second_order, seed=cfg.seed), 1 - 1e-12)
    from SALib.sample import morris
    return np.minimum(morris.sample(problem, n, num_levels=cfg.morris_levels, seed=cfg.seed), 1 - 1e-12)


def design_points(spec: SweepSpec) -> pd.DataFrame:
    """The design's points: one row per point, one column per parameter path (values as the scenario takes them)."""
    cfg, params = spec.design, spec.parameters
    if cfg.kind == "full_factorial":
        rows = list(itertools.product(*(p.grid(cfg.steps) for p in params)))
    elif cfg.kind == "lever_x_uncertainty":
        levers = list(itertools.product(*(p.grid(cfg.steps) for p in spec.levers)))
        unc = _unit_sample(spec, spec.uncertainties, cfg.n)
        sample = [tuple(p.value(u) for p, u in zip(spec.uncertainties, row)) for row in unc]
        rows = [lever + point for lever in levers for point in sample]
    else:
        rows = [tuple(p.value(u) for p, u in zip(params, row)) for row in _unit_sample(spec, params, cfg.n)]
    points = pd.DataFrame(rows, columns=[p.path for p in params])
    points.insert(0, "point", np.arange(len(points)))
    return points


def run_seeds(spec: SweepSpec) -> list[int]:
    """Replication i's seed, the same at every point (common random numbers)."""
    children = np.random.SeedSequence(spec.seed).spawn(spec.replications)
    return [int(c.generate_state(1)[0] % (2**31)) for c in children]


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


def run_point(evaluate: Evaluate, base: str, sets: list[str], seed: int, kpis: list[str] | None,
              daily: list[str] | None) -> dict[str, Any]:
    """One run in a worker: its numeric KPIs (and daily series), or the error that stopped it (never raises)."""
    start = time.perf_counter()
    try:
        summary, series, sim_seconds = evaluate(base, sets, seed, daily)
        keep = kpis if kpis is not None else [k for k, v in summary.items()
                                              if isinstance(v, (int, float)) and not isinstance(v, bool)]
        row = {k: float(summary[k]) for k in keep if k in summary}
        return {"status": "ok", "error": "", "wall_seconds": time.perf_counter() - start,
                "sim_seconds": sim_seconds, **row, DAILY: series}
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the sweep goes on
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                "wall_seconds": time.perf_counter() - start, "sim_seconds": float("nan"), DAILY: None}


def _fingerprint(spec: SweepSpec) -> dict[str, Any]:
    """What must not change between the runs of one folder: the spec, the base scenario as resolved
    (its file and every file it extends) and the ecomsim version."""
    from sim import __version__
    from sim.scenario_io import load_scenario
    try:
        resolved = load_scenario(spec.base, spec.sets).model_dump_json()
        digest = hashlib.sha256(resolved.encode()).hexdigest()
    except ScenarioError:  # not a scenario: a test function stands in for the model
        digest = None
    return {**json.loads(spec.model_dump_json()), "base_scenario_sha256": digest, "ecomsim_version": __version__}


def _prepare(out: Path, mine: dict[str, Any], source: str) -> None:
    """A new folder gets the spec's fingerprint; an old one must hold the same (then the sweep resumes)."""
    saved = out / "spec.json"
    if saved.exists():
        theirs = json.loads(saved.read_text(encoding="utf-8"))
        if theirs != mine:
            changed = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise ScenarioError(source, None, f"{out} holds a sweep with another spec (changed: {', '.join(changed)}); "
                                "use another --out folder, or the spec it was run with to resume it")
        for stale in out.rglob(".*.tmp"):  # a write cut short by a kill
            stale.unlink()
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ScenarioError(source, None, f"{out} exists and is not a sweep folder; choose a new --out")
    (out / PARTS).mkdir(parents=True, exist_ok=True)
    replace_atomically(saved, lambda tmp: tmp.write_text(json.dumps(mine, indent=2), encoding="utf-8"))


def _part(out: Path, point: int, replication: int, kind: str = "run") -> Path:
    """A finished run's row ("run"), or a run whose worker died ("lost": retried by the next resume)."""
    return out / PARTS / f"{kind}-{point:06d}-{replication:04d}.parquet"


def _write_part(path: Path, row: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    replace_atomically(path, lambda tmp: pq.write_table(pa.Table.from_pylist([row]), tmp))


def _daily_part(out: Path, point: int, replication: int) -> Path:
    return out / DAILY / f"point={point}" / f"replication={replication}" / "part.parquet"


def _write_daily(path: Path, series: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, lambda tmp: series.to_parquet(tmp, index=False))


def sweep(spec: SweepSpec | str | Path, out: str | Path | None = None, workers: int = 1,
          executor: Executor | None = None, progress: bool = False, evaluate: Evaluate = simulate,
          window: int | None = None) -> pd.DataFrame:
    """Run (or resume) a sweep and return one row per run (the Python API behind `run.py sweep`).

    `out` defaults to results/sweep-<name>; `executor` (e.g. a Dask client's `get_executor()`)
    replaces the local pool of `workers` processes. Results never depend on either. At most
    `window` runs are in flight at once (default 4 per worker, 1 serially, 256 with an executor), so
    memory stays flat however many runs the sweep has; `evaluate` is the model (tests plug in
    functions with known answers). A run whose worker dies (killed, out of memory) is kept as
    status "lost" and retried by the next resume; a run the model rejects is "failed" for good."""
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
    todo = [(int(pt.point), r) for pt in points.itertuples() for r in range(spec.replications)
            if not _part(out, int(pt.point), r).exists()]
    values_at = [{p: plain(v) for p, v in row.items()} for row in points[params].to_dict("records")]
    started = time.perf_counter()
    own = executor is None
    workers = min(workers, max(len(todo), 1))
    pool = local_executor(workers) if own else executor
    window = window or ((1 if workers == 1 else 4 * workers) if own else 256)  # serial: write each run at once
    from tqdm import tqdm
    counts, sim_seconds = {"failed": 0, "lost": 0}, 0.0
    try:
        queue, pending = iter(todo), {}
        with tqdm(total=len(todo), disable=not progress, desc=spec.name, unit="run") as bar:
            while True:
                for point, rep in itertools.islice(queue, window - len(pending)):
                    values = values_at[point]
                    sets = [*spec.sets, *(_set(path, value) for path, value in values.items())]
                    job = (run_point, evaluate, spec.base, sets, seeds[rep], spec.kpis, spec.daily)
                    try:
                        future = pool.submit(*job)
                    except BrokenProcessPool:  # a worker died since the last wait: a new pool takes this run
                        if not own:
                            raise
                        pool = _replace_pool(pool, workers)
                        future = pool.submit(*job)
                    pending[future] = (point, rep, values, pool)
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    point, rep, values, owner = pending.pop(future)
                    try:
                        result = future.result()  # run_point never raises: this is the worker itself failing
                    except Exception as exc:  # noqa: BLE001 - e.g. BrokenProcessPool, Dask's KilledWorker
                        result = {"status": "lost", "error": f"worker lost: {type(exc).__name__}: {exc}",
                                  "wall_seconds": float("nan"), "sim_seconds": float("nan"), DAILY: None}
                        if own and isinstance(exc, BrokenProcessPool) and owner is pool:  # once per broken pool
                            pool = _replace_pool(pool, workers)
                    series = result.pop(DAILY)
                    if series is not None:
                        _write_daily(_daily_part(out, point, rep), series)
                    row = {"point": point, **values, "replication": rep, "seed": seeds[rep], **result}
                    kind = "lost" if row["status"] == "lost" else "run"
                    _write_part(_part(out, point, rep, kind), row)  # last: a run with its part is finished
                    if kind == "run":
                        _part(out, point, rep, "lost").unlink(missing_ok=True)
                    if row["status"] in counts:
                        counts[row["status"]] += 1
                    sim_seconds += 0.0 if np.isnan(row["sim_seconds"]) else row["sim_seconds"]
                    bar.update(1)
                    bar.set_postfix(counts)
    finally:
        if own:
            pool.shutdown(cancel_futures=True)
    runs = gather(out)
    timing = {"runs": len(todo), **counts, "wall_seconds": time.perf_counter() - started,
              "sim_seconds": sim_seconds, "workers": workers if own else None}
    _write_manifest(out, spec, fingerprint, timing, runs)
    return runs


def _replace_pool(broken: Executor, workers: int) -> Executor:
    """A new local pool for one whose worker died (its other runs are lost; the next resume reruns them)."""
    broken.shutdown(wait=False, cancel_futures=True)
    return local_executor(workers)


def _design(out: Path, spec: SweepSpec, source: str) -> pd.DataFrame:
    """The design's points, saved in DIR/design.parquet on the first run and checked on a resume
    (a sampler that draws differently, e.g. another SALib version, must not mix two designs)."""
    points = design_points(spec)
    saved = out / "design.parquet"
    if not saved.exists():
        replace_atomically(saved, lambda tmp: points.to_parquet(tmp, index=False))
    elif not pd.read_parquet(saved).equals(points):
        raise ScenarioError(source, "design", f"the design drawn now differs from the one in {saved} (another "
                            "SALib or scipy version?); resume with the versions it was started with, or use a new --out")
    return points


def gather(out: Path) -> pd.DataFrame:
    """Every run's row (finished, or lost with its worker and not yet rerun), in (point, replication)
    order; written to runs.parquet atomically. A part that cannot be read is removed, so the next
    resume runs it again."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    folder = Path(out) / PARTS
    finished = {p.name.removeprefix("run-") for p in folder.glob("run-*.parquet")}
    parts = sorted([*folder.glob("run-*.parquet"),
                    *(p for p in folder.glob("lost-*.parquet") if p.name.removeprefix("lost-") not in finished)])
    tables = []
    for part in parts:
        try:
            tables.append(pq.read_table(part))
        except (OSError, pa.ArrowException) as exc:
            print(f"warning: {part} cannot be read ({exc}); removed, the next resume runs it again", file=sys.stderr)
            part.unlink()
    # failed runs have no KPI columns; a parameter's levels may mix integers and reals: promote
    runs = pa.concat_tables(tables, promote_options="permissive").to_pandas() if tables else pd.DataFrame()
    if len(runs):
        runs = runs.sort_values(["point", "replication"], ignore_index=True)
        replace_atomically(Path(out) / "runs.parquet", lambda tmp: runs.to_parquet(tmp, index=False))
    return runs


def status_counts(runs: pd.DataFrame) -> dict[str, int]:
    """Runs by status: ok, failed (the model rejected it or raised), lost (its worker died)."""
    counts = runs["status"].value_counts() if len(runs) else pd.Series(dtype=int)
    return {k: int(counts.get(k, 0)) for k in ("ok", "failed", "lost")}


def _write_manifest(out: Path, spec: SweepSpec, fingerprint: dict[str, Any], timing: dict[str, Any],
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
    wall, busy = timing["wall_seconds"], timing["sim_seconds"]
    overhead = (wall * timing["workers"] - busy) / busy if timing["workers"] and busy > 0 else None
    this_time = {"runs": timing["runs"], "failed": timing["failed"], "lost": timing["lost"],
                 "workers": timing["workers"] or "dask scheduler", "wall_seconds": round(wall, 3),
                 "simulation_seconds": round(busy, 3), "overhead_share": None if overhead is None else round(overhead, 4),
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
    manifest = json.dumps({
        "ecomsim_version": __version__, "sweep": spec.name, "design": spec.design.kind,
        "points": int(runs["point"].nunique()) if len(runs) else 0, "runs": len(runs), **counts,
        "problems": problems, "this_time": this_time, "earlier": earlier, "spec": fingerprint,
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count()},
        "python": sys.version.split()[0], "versions": versions,
    }, indent=2)
    replace_atomically(path, lambda tmp: tmp.write_text(manifest, encoding="utf-8"))
