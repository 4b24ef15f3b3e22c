"""The run cache: every finished run kept on disk under what it depends on, so nothing is computed twice.

A run is fully determined by its resolved scenario, its seed, the files the scenario reads and the
code (the ecomsim version, a digest of the source that simulates and keeps a run, sim/, agents/ and
experiments/, and the versions of the libraries that compute it). `run_keys` hashes exactly those;
`RunCache` keeps each finished run under its key in the batch engine's own format (the
run's row as `run.parquet`, each per-run table as `<table>.parquet`), written atomically. The batch
engine (experiments/batch.py) looks a job up before running it and stores it after, so `compare`,
the studio and a rerun of either reuse each other's runs, across restarts.

Where: $ECOMSIM_CACHE if set (`off` turns the cache off), else $XDG_CACHE_HOME/ecomsim/runs, else
~/.cache/ecomsim/runs. Deleting the folder is always safe: runs are simply computed again.

How much: every code change makes new keys, so old entries are never asked for again. After a batch
stores runs, the cache is cut to $ECOMSIM_CACHE_LIMIT (default 2 GB: about 20,000 runs of the bench's
size with their daily tables, 100 KB each) by removing the runs least recently used (written or read).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

CACHE_ENV = "ECOMSIM_CACHE"
LIMIT_ENV = "ECOMSIM_CACHE_LIMIT"
DEFAULT_LIMIT = 2 * 10**9  # bytes
KEEP_AFTER_PRUNING = 0.9  # a cut leaves room below the limit, so the next batches do not cut again at once
UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
         "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
UNUSED = {"name", "description", "targets"}  # scenario fields no number of a run depends on
ROW = "run.parquet"


def default_cache_dir() -> Path | None:
    """The cache folder of this user (None: the cache is off, ECOMSIM_CACHE=off)."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "none", "false") else Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ecomsim" / "runs"


LIBRARIES = ("numpy", "pandas", "scipy", "mesa", "simpy", "networkx", "pyarrow")


def code_version() -> str:
    """The ecomsim version, a digest of the source that simulates a run and decides what is kept of it (every
    .py file and shipped data file of sim/, agents/ and experiments/) and the versions of the libraries that
    compute it: an edit, committed or not, or another numpy is another code version. Read afresh at each call
    (under 10 ms), so a long-running studio sees an edit."""
    from importlib.metadata import PackageNotFoundError, version

    import agents
    import sim
    digest = hashlib.sha256()
    for library in LIBRARIES:
        try:
            digest.update(f"{library}=={version(library)}".encode())
        except PackageNotFoundError:
            digest.update(f"{library} absent".encode())
    here = Path(__file__).resolve().parent  # experiments/, found without importing its package (no cycle)
    for root in (Path(sim.__file__).resolve().parent, Path(agents.__file__).resolve().parent, here):
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".csv", ".yaml", ".json")
                           and "__pycache__" not in p.parts):
            digest.update(path.relative_to(root.parent).as_posix().encode())
            digest.update(path.read_bytes())
    return f"{sim.__version__}+{digest.hexdigest()[:16]}"


def files_sha256(scenarios: Any) -> dict[str, str]:
    """The sha256 of every file the scenarios read (MarketConfig.input_files), by path."""
    return {str(f): hashlib.sha256(Path(f).read_bytes()).hexdigest()
            for s in scenarios for f in s.input_files() if Path(f).is_file()}


def run_keys(scenario: Any, seeds: list[int], kind: str = "run", code: str | None = None) -> list[str]:
    """The key of each run of `scenario` with these seeds: sha256 of the resolved scenario with the seed, the
    files it reads, the code (`code_version()` unless given) and what the run keeps (`run`: KPIs and per-run
    tables, as compare keeps them; `kpis`: KPIs only). The scenario's name, description and targets change
    no number of the run and are left out, so a file named otherwise (or the studio's column) meets the same
    runs. The scenario and its files are read once for all the seeds."""
    resolved = scenario.model_dump(mode="json", exclude=UNUSED)
    common = {"files": files_sha256([scenario]), "code": code or code_version(), "kind": kind}
    keys = []
    for seed in seeds:
        stamp = json.dumps({**common, "scenario": {**resolved, "seed": int(seed)}}, sort_keys=True, default=str)
        keys.append(hashlib.sha256(stamp.encode()).hexdigest())
    return keys


def cache_limit() -> int | None:
    """The most the cache may hold, in bytes, from $ECOMSIM_CACHE_LIMIT (e.g. `2GB`, `500MB`, `1.5GiB`, a
    number of bytes; `none` for no limit); bad input is a ScenarioError naming the variable."""
    import re

    from sim.errors import ScenarioError
    text = os.environ.get(LIMIT_ENV)
    if text is None or not text.strip():
        return DEFAULT_LIMIT
    if text.strip().lower() in ("none", "off", "unlimited"):
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if match is None or match.group(2).lower() not in UNITS:
        raise ScenarioError(f"${LIMIT_ENV}", None, f"is {text!r}: give a size such as 2GB, 500MB or 1.5GiB (units "
                            "B, KB, MB, GB, TB or KiB, MiB, GiB, TiB), or none for no limit")
    return int(float(match.group(1)) * UNITS[match.group(2).lower()])


class RunCache:
    """Finished runs by key: `get` gives (row, tables) or None, `put` stores one (first writer wins). A row
    holds the run's KPIs and its wall_seconds and sim_seconds; nothing of the batch it ran in. `prune` cuts
    the cache to `limit` bytes (None: no limit), the least recently used runs first."""

    def __init__(self, root: str | Path, limit: int | None = None) -> None:
        self.root = Path(root)
        self.limit = limit

    def folder(self, key: str) -> Path:
        return self.root / key[:2] / key

    def __contains__(self, key: str) -> bool:
        return (self.folder(key) / ROW).is_file()

    def get(self, key: str) -> tuple[dict[str, Any], dict[str, pd.DataFrame]] | None:
        """The run's row (KPIs, wall and simulation seconds) and its per-run tables; None if not cached or
        unreadable (an unreadable entry is removed, so the run is computed again)."""
        folder = self.folder(key)
        if not (folder / ROW).is_file():
            return None
        import pyarrow.parquet as pq
        try:
            row = pq.read_table(folder / ROW).to_pylist()[0]  # integers stay integers
            tables = {p.stem: pq.read_table(p).to_pandas() for p in sorted(folder.glob("*.parquet")) if p.name != ROW}
        except Exception:  # noqa: BLE001 - a damaged entry is a miss, never an error
            shutil.rmtree(folder, ignore_errors=True)
            return None
        try:
            os.utime(folder / ROW)  # used now: the last to go when the cache is cut
        except OSError:
            pass
        return row, tables

    def put(self, key: str, row: dict[str, Any], tables: dict[str, pd.DataFrame]) -> None:
        """Store a finished run; its folder appears whole (written aside, then renamed) or not at all."""
        from sim.outputs import atomic_folder
        if key in self:
            return
        try:
            with atomic_folder(self.folder(key)) as tmp:
                for name, table in tables.items():
                    table.to_parquet(tmp / f"{name}.parquet", index=False)
                pd.DataFrame([row]).to_parquet(tmp / ROW, index=False)  # the row last: its presence means whole
        except OSError:  # a full or read-only disk costs the reuse, not the run
            return

    def prune(self) -> int:
        """Remove the least recently used runs (by their row's time: written, or last read) until the cache
        holds at most 90% of its limit, when it holds more than the limit; the number removed. Runs being
        written (hidden folders) are left alone; a run removed by another process meanwhile is skipped."""
        if self.limit is None or not self.root.is_dir():
            return 0
        entries, total = [], 0
        for shard in os.scandir(self.root):
            if shard.name.startswith(".") or not shard.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(shard.path):
                if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                    continue
                try:
                    files = [f.stat(follow_symlinks=False) for f in os.scandir(entry.path) if f.is_file()]
                    used = os.stat(os.path.join(entry.path, ROW)).st_mtime
                except OSError:  # being removed, or a row not written yet: not a finished run to count
                    continue
                size = sum(f.st_size for f in files)
                entries.append((used, size, entry.path))
                total += size
        if total <= self.limit:
            return 0
        removed = 0
        for _, size, path in sorted(entries):
            if total <= KEEP_AFTER_PRUNING * self.limit:
                break
            shutil.rmtree(path, ignore_errors=True)
            total -= size
            removed += 1
        return removed


def default_cache() -> RunCache | None:
    """The user's run cache (with its size limit, $ECOMSIM_CACHE_LIMIT), or None when it is off."""
    folder = default_cache_dir()
    return RunCache(folder, cache_limit()) if folder is not None else None
