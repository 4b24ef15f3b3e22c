"""The one batch engine: many runs, each written as it ends, resumable, on any executor.

`compare` and `sweep` both hand it a list of jobs (a point, a replication, its seed and what the
model needs) and a function that runs one job in a worker. Each finished run is written at
once, atomically, as its own Parquet part (`parts/run-PPPPPP-RRRR.parquet`, one row: the job's
columns, status, error, timings, KPIs) with its per-run tables (daily series, P&L lines, cohorts)
in `<table>/point=P/replication=R/part.parquet` before it; the part comes last, so a run with its
part is finished. Running the same jobs into the same folder again skips finished runs (resume
after Ctrl-C, a kill or a crash); a run whose worker dies is kept as `lost-...parquet` and rerun
next time; a run the model rejects or that raises is recorded as failed and the batch goes on.
A job with a key is first looked up in the run cache (experiments/cache.py), and stored there once
it finishes, so the same run is never computed twice, whichever command or folder asks for it.

Results never depend on the executor or the number of workers: each job carries its own seed.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.cache import RunCache
from experiments.executors import local_executor
from sim.errors import Interrupted, ScenarioError
from sim.outputs import replace_atomically

PARTS = "parts"
STATUSES = ("ok", "failed", "lost")
# the columns the engine gives every run's row besides the job's own and the KPIs (JobResult.row)
RUN_COLUMNS = ("point", "replication", "seed", "status", "error", "wall_seconds", "sim_seconds")


def measured_kpis(summary: dict[str, Any]) -> dict[str, float]:
    """A run's numeric KPIs for its part, a KPI the run could not measure (None) as NaN."""
    return {k: float("nan") if v is None else v for k, v in summary.items()
            if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))}


def replication_seeds(seed: int, replications: int) -> list[int]:
    """Replication i's seed, the same at every point or scenario (common random numbers): spawned from
    `seed` with numpy's SeedSequence, so replications draw from independent streams."""
    children = np.random.SeedSequence(seed).spawn(replications)
    return [int(c.generate_state(1)[0] % (2**31)) for c in children]


@dataclass(frozen=True)
class Job:
    """One run to do: design point (or scenario index), replication, seed, the columns its row carries
    besides them (a sweep's parameter values) and the arguments of the evaluate function."""

    point: int
    replication: int
    seed: int
    columns: dict[str, Any] = field(default_factory=dict)
    args: tuple = ()
    key: str | None = None  # the run's key in the run cache (experiments/cache.py); None: not cached


@dataclass
class Outcome:
    """What one run gives back from its worker: KPIs, per-run tables, seconds of simulation."""

    kpis: dict[str, float]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    sim_seconds: float = float("nan")


@dataclass
class JobResult:
    """A finished (or failed, or lost) run as the engine returns and stores it."""

    point: int
    replication: int
    seed: int
    status: str
    error: str
    wall_seconds: float
    sim_seconds: float
    kpis: dict[str, float]
    tables: dict[str, pd.DataFrame]
    columns: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """The run's row in runs.parquet / its part: point, columns, replication, seed, status, ..., KPIs."""
        return {"point": self.point, **self.columns, "replication": self.replication, "seed": self.seed,
                "status": self.status, "error": self.error, "wall_seconds": self.wall_seconds,
                "sim_seconds": self.sim_seconds, **self.kpis}


@dataclass
class BatchStats:
    """What one invocation did: runs attempted, by status, wall and simulation seconds."""

    runs: int = 0
    ok: int = 0
    failed: int = 0
    lost: int = 0
    wall_seconds: float = 0.0
    sim_seconds: float = 0.0
    workers: int | None = None  # None: an external executor (a Dask cluster)
    cached: int = 0  # of `ok`: taken from the run cache, not computed


Evaluate = Callable[..., Outcome]


def run_in_worker(evaluate: Evaluate, job: Job) -> JobResult:
    """One run in a worker: its outcome, or the error that stopped it (never raises)."""
    start = time.perf_counter()
    try:
        outcome = evaluate(*job.args, job.seed)
        return JobResult(job.point, job.replication, job.seed, "ok", "", time.perf_counter() - start,
                         outcome.sim_seconds, dict(outcome.kpis), dict(outcome.tables), dict(job.columns))
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the batch goes on
        return JobResult(job.point, job.replication, job.seed, "failed", f"{type(exc).__name__}: {exc}",
                         time.perf_counter() - start, float("nan"), {}, {}, dict(job.columns))


def part_path(folder: Path, point: int, replication: int, kind: str = "run") -> Path:
    """A finished run's row ("run"), or a run whose worker died ("lost": rerun by the next resume)."""
    return folder / PARTS / f"{kind}-{point:06d}-{replication:04d}.parquet"


def table_path(folder: Path, table: str, point: int, replication: int) -> Path:
    return folder / table / f"point={point}" / f"replication={replication}" / "part.parquet"


def finished(folder: Path, jobs: Iterable[Job]) -> set[tuple[int, int]]:
    """(point, replication) of the jobs that already have their part."""
    return {(j.point, j.replication) for j in jobs if part_path(folder, j.point, j.replication).exists()}


def prepare(folder: Path) -> None:
    """The parts folder exists; writes cut short by a kill (hidden .tmp files and folders, and the
    .old-PID folders of an interrupted replacement) are removed."""
    import shutil
    (folder / PARTS).mkdir(parents=True, exist_ok=True)
    for stale in [*folder.rglob(".*.tmp"), *folder.glob(".*.old-*")]:
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


SPEC = "spec.json"


def read_spec(folder: Path, source: str) -> dict[str, Any] | None:
    """The inputs a folder's runs belong to (its spec.json; None if it has none); a damaged file is bad
    input. Folders written before spec.json said its kind are sweeps."""
    import json
    path = Path(folder) / SPEC
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ScenarioError(source, None, f"{path} cannot be read ({type(exc).__name__}: {exc}); use another "
                            "--out folder") from None
    if not isinstance(saved, dict):
        raise ScenarioError(source, None, f"{path} is not an ecomsim spec.json; use another --out folder")
    saved.setdefault("kind", "sweep")
    return saved


def write_spec(folder: Path, spec: dict[str, Any]) -> None:
    """A new batch folder: spec.json first (what the folder is), then parts/."""
    import json
    folder.mkdir(parents=True, exist_ok=True)
    replace_atomically(folder / SPEC, lambda tmp: tmp.write_text(json.dumps(spec, indent=2), encoding="utf-8"))
    (folder / PARTS).mkdir(exist_ok=True)


def provenance(scenarios: Iterable[Any]) -> dict[str, Any]:
    """What a folder's runs depend on besides the scenarios' settings: the sha256 of every file they
    read (MarketConfig.input_files), the ecomsim version and the code's commit."""
    from experiments.cache import files_sha256
    from sim import __version__
    from sim.outputs import git_commit
    from sim.runner import PROJECT_ROOT
    return {"files_sha256": files_sha256(scenarios), "ecomsim_version": __version__,
            "git_commit": git_commit(PROJECT_ROOT)}


def changed_keys(mine: dict[str, Any], theirs: dict[str, Any]) -> str:
    """The keys two spec.json dicts disagree on, for the message refusing a resume."""
    return ", ".join(sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k)))


def _write(folder: Path, record: JobResult, tables_in: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    for name, table in record.tables.items():
        path = table_path(tables_in, name, record.point, record.replication)
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(path, lambda tmp, t=table: t.to_parquet(tmp, index=False))
    kind = "lost" if record.status == "lost" else "run"
    row = pa.Table.from_pylist([record.row()])
    replace_atomically(part_path(folder, record.point, record.replication, kind), lambda tmp: pq.write_table(row, tmp))
    if kind == "run":
        part_path(folder, record.point, record.replication, "lost").unlink(missing_ok=True)


def _stop_pool(pool: Executor) -> None:
    """Stop a local pool now: pending runs cancelled, running workers terminated (their runs are
    simply not written; the next resume runs them)."""
    # the pool forgets its processes on shutdown: take them first (a private attribute, read defensively)
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)  # quick once the workers are gone; frees the pool's queues


def run_batch(jobs: list[Job], evaluate: Evaluate, folder: Path, *, workers: int = 1,
              executor: Executor | None = None, progress: bool = False, desc: str = "runs",
              window: int | None = None, tables_in: Path | None = None,
              on_record: Callable[[JobResult], None] | None = None, cache: RunCache | None = None,
              stop: threading.Event | None = None, processes: bool = False,
              write_cached: bool = True) -> BatchStats:
    """Run every job of `jobs` that has no part in `folder` yet, writing each as it ends.

    `executor` (e.g. a Dask client's `get_executor()`) replaces the local pool of `workers`
    processes (one worker: in this process). Per-run tables go to `tables_in` (default `folder`)
    as <table>/point=P/replication=R/part.parquet. At most `window` runs are in flight (default 4 per
    worker, 1 serially, 256 on an executor), so memory stays flat however many runs there are.
    Jobs with a key found in `cache` are taken from it (in `on_record` too) instead of run; finished ones
    are stored in it. Ctrl-C, or setting `stop` (from another thread), stops within a moment: running
    workers are terminated and `Interrupted` says how many runs are kept (on an external executor, runs
    not started are cancelled; a Dask task already running finishes, its result unused). With `processes`
    even one worker is a process of its own (the studio: its page keeps the main process). With
    `write_cached` False, runs from the cache are only handed to `on_record`, not written into `folder` (a
    caller that keeps the records itself, and whose folder is scratch)."""
    from tqdm import tqdm

    prepare(folder)
    done_before = finished(folder, jobs)
    todo = [j for j in jobs if (j.point, j.replication) not in done_before]
    stats = BatchStats(runs=len(todo))
    started = time.perf_counter()
    if cache is not None:
        todo = _from_cache(todo, cache, folder if write_cached else None, tables_in or folder, stats, on_record)
    own = executor is None
    workers = min(workers, max(len(todo), 1))
    stats.workers = workers if own else None
    if not todo:
        return stats
    pool = local_executor(workers, processes) if own else executor
    window = window or ((1 if workers == 1 and not processes else 4 * workers) if own else 256)
    queue, pending = iter(todo), {}
    bar = tqdm(total=len(todo), disable=not progress, desc=desc, unit="run", mininterval=0.5)
    previous = _interruptible()
    try:
        while True:
            for job in itertools.islice(queue, window - len(pending)):
                try:
                    future: Future = pool.submit(run_in_worker, evaluate, job)
                except BrokenProcessPool:  # a worker died since the last wait: a new pool takes this run
                    if not own:
                        raise
                    pool = _replace_pool(pool, workers, processes)
                    future = pool.submit(run_in_worker, evaluate, job)
                pending[future] = (job, pool)
            if not pending:
                break
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt
            # a short timeout: Ctrl-C delivered to another thread is acted on here within a moment
            done, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            for future in done:
                job, owner = pending.pop(future)
                try:
                    record = future.result()  # run_in_worker never raises: this is the worker itself failing
                except Exception as exc:  # noqa: BLE001 - e.g. BrokenProcessPool, Dask's KilledWorker
                    record = JobResult(job.point, job.replication, job.seed, "lost",
                                       f"worker lost: {type(exc).__name__}: {exc}", float("nan"), float("nan"),
                                       {}, {}, dict(job.columns))
                    if own and isinstance(exc, BrokenProcessPool) and owner is pool:  # once per broken pool
                        pool = _replace_pool(pool, workers, processes)
                _write(folder, record, tables_in or folder)
                if cache is not None and job.key is not None and record.status == "ok":
                    cache.put(job.key, {"wall_seconds": record.wall_seconds, "sim_seconds": record.sim_seconds,
                                        **record.kpis}, record.tables)
                setattr(stats, record.status, getattr(stats, record.status) + 1)
                if not np.isnan(record.sim_seconds):
                    stats.sim_seconds += record.sim_seconds
                if on_record is not None:
                    on_record(record)
                bar.update(1)
                bar.set_postfix({"failed": stats.failed, "lost": stats.lost})
    except KeyboardInterrupt:
        if own:
            _stop_pool(pool)
        else:
            for future in pending:
                future.cancel()
        raise Interrupted(folder, len(finished(folder, jobs)), len(jobs)) from None
    except BaseException:
        if own:  # a write that failed (disk full), a bug in on_record: no worker is left behind
            _stop_pool(pool)
        raise
    finally:
        bar.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if own:
        pool.shutdown(cancel_futures=True)
    if cache is not None and stats.ok > stats.cached:  # runs were stored: the cache keeps to its size limit
        cache.prune()
    stats.wall_seconds = time.perf_counter() - started
    return stats


def _from_cache(todo: list[Job], cache: RunCache, folder: Path | None, tables_in: Path, stats: BatchStats,
                on_record: Callable[[JobResult], None] | None) -> list[Job]:
    """Write the jobs found in the run cache into `folder` (None: do not) as finished runs; return the others."""
    left = []
    for job in todo:
        hit = cache.get(job.key) if job.key is not None else None
        if hit is None:
            left.append(job)
            continue
        row, tables = hit
        seconds = row.pop("wall_seconds"), row.pop("sim_seconds")
        record = JobResult(job.point, job.replication, job.seed, "ok", "", float(seconds[0]), float(seconds[1]),
                           row, tables, dict(job.columns))
        if folder is not None:
            _write(folder, record, tables_in)
        stats.ok += 1
        stats.cached += 1
        if on_record is not None:
            on_record(record)
    return left


def _interruptible():
    """Ctrl-C raises KeyboardInterrupt while a batch runs, whatever handler or disposition the process
    inherited (a launcher may start it with SIGINT ignored); returns the handler to put back (None off
    the main thread, where handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, signal.default_int_handler)


def _replace_pool(broken: Executor, workers: int, processes: bool = False) -> Executor:
    """A new local pool for one whose worker died (its other runs are lost; the next resume reruns them)."""
    broken.shutdown(wait=False, cancel_futures=True)
    return local_executor(workers, processes)


def gather(folder: Path) -> pd.DataFrame:
    """Every run's row (finished, or lost with its worker and not yet rerun), in (point, replication)
    order. A part that cannot be read is removed, so the next resume runs it again."""
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq
    parts_dir = Path(folder) / PARTS
    done = {p.name.removeprefix("run-") for p in parts_dir.glob("run-*.parquet")}
    parts = sorted([*parts_dir.glob("run-*.parquet"),
                    *(p for p in parts_dir.glob("lost-*.parquet") if p.name.removeprefix("lost-") not in done)])
    tables = []
    for part in parts:
        try:
            tables.append(pq.read_table(part))
        except (OSError, pa.ArrowException) as exc:
            print(f"warning: {part} cannot be read ({exc}); removed, the next resume runs it again", file=sys.stderr)
            part.unlink()
    # failed runs have no KPI columns; a parameter's levels may mix integers and reals: promote
    runs = pa.concat_tables(tables, promote_options="permissive").to_pandas() if tables else pd.DataFrame()
    return runs.sort_values(["point", "replication"], ignore_index=True) if len(runs) else runs


def read_table(folder: Path, table: str, point: int, replication: int) -> pd.DataFrame:
    """A finished run's per-run table."""
    return pd.read_parquet(table_path(folder, table, point, replication))


def status_counts(runs: pd.DataFrame) -> dict[str, int]:
    """Runs by status: ok, failed (the model rejected it or raised), lost (its worker died)."""
    counts = runs["status"].value_counts() if len(runs) else pd.Series(dtype=int)
    return {k: int(counts.get(k, 0)) for k in STATUSES}
