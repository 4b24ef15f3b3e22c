"""Running one scenario and writing its results folder (the `run` command's work).

A run is simulated (`simulate`: the model's days, leaving a RunRecord of plain values and numpy arrays) and
then tabulated (`tabulate`: the daily series, summary, P&L and cohorts as pandas tables, a RunResult);
`run_scenario` does both. The `run` command hands the record to a second process that tabulates it and
writes the folder (write_run), so its own process never imports pandas (start-up, issue 23).
"""

from __future__ import annotations

import datetime as dt
import os
import platform as _platform
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim import __version__
from sim.invariants import check as check_conservation
from sim.metrics import RunEnd, daily_frame, pnl_table, summarize
from sim.model import MarketModel, orders_frame
from sim.network import describe
from sim.outputs import atomic_folder, git_commit, write_json
from sim.scenario import Scenario
from sim.scenario_io import dump_resolved

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RunRecord:
    """A finished run as the model leaves it: plain values and numpy arrays, no pandas (`tabulate`)."""

    scenario: Scenario
    daily_columns: list[str]
    daily_rows: list[dict[str, Any]]  # a row of the daily KPIs per measured day (sim/metrics.DailyRecorder)
    end: RunEnd
    policy_values: dict[str, float]  # the policies' summary values (sim/policies)
    policy_kpis: list[Any]  # the Kpi of every enabled policy (sim/kpis.py)
    unit_balance: dict[str, int]
    ledger_imbalance: float
    wall_seconds: float
    network: dict[str, Any]
    carbon_factors: dict[str, str]
    orders: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # served orders (MarketModel.served_orders)


@dataclass
class RunResult:
    scenario: Scenario
    daily: pd.DataFrame
    summary: dict[str, Any]
    pnl: pd.DataFrame
    unit_balance: dict[str, int]
    ledger_imbalance: float
    wall_seconds: float
    network: dict[str, Any]
    carbon_factors: dict[str, str]
    cohorts: pd.DataFrame  # monthly cohorts' buyers per month (sim/metrics.CohortRecorder)
    transactions: pd.DataFrame | None = None  # served orders, with run --transactions (MarketModel.transactions)


def run_scenario(scenario: Scenario, progress: bool = False, transactions: bool = False) -> RunResult:
    """Build the model, run every day, summarise (and keep every served order, on request)."""
    return tabulate(simulate(scenario, progress, transactions))


def simulate(scenario: Scenario, progress: bool = False, transactions: bool = False,
             built: Callable[[], Any] | None = None) -> RunRecord:
    """Build the model and run every day (and keep every served order, on request); `built` is called
    once the market is built, before its first day."""
    start = time.perf_counter()
    model = MarketModel(scenario, log_orders=transactions)
    try:
        if built is not None:
            built()
        model.run(progress=progress)
        check_conservation(model)
        network = {"kind": scenario.network.kind, "build_seconds": round(model.network_build_seconds, 3),
                   **describe(model.network, model.streams.generator("network_stats"),
                              scenario.network.clustering_sample)}
        return RunRecord(scenario, list(model.recorder.columns), model.recorder.rows, model.run_end(),
                         model.policies.summary(), model.policies.kpis(), model.unit_balance(),
                         model.ledger.imbalance(), time.perf_counter() - start, network,
                         {"file": str(model.factors.path), "sha256": model.factors.sha256},
                         model.served_orders() if transactions else None)
    finally:
        model.release()  # memory stays flat over many runs in one process


def tabulate(record: RunRecord) -> RunResult:
    """The record's daily series, summary, P&L and cohorts as tables."""
    import pandas as pd

    daily = daily_frame(record.daily_rows, record.daily_columns)
    end = record.end
    summary = summarize(daily, end, record.policy_values, record.policy_kpis)
    cohorts = pd.DataFrame(end.cohorts, columns=["cohort", "month", "months_since", "customers", "buyers"])
    orders = None if record.orders is None else orders_frame(record.scenario.simulation.start_date, *record.orders)
    return RunResult(record.scenario, daily, summary, pnl_table(end), record.unit_balance, record.ledger_imbalance,
                     record.wall_seconds, record.network, record.carbon_factors, cohorts, orders)


def _versions() -> dict[str, str]:
    out = {"python": _platform.python_version()}
    for pkg in ("mesa", "numpy", "pandas", "simpy", "pydantic"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def folder_writer() -> Executor | None:
    """A process that writes a run's folder (`write_run`): it tabulates the run, writes the tables and
    draws the charts with two helpers it forks (`_write_folder`); or None where the run's own process
    writes it: one core, not Linux (the writer is forked, and follows this process out when it dies), or
    no fork to be had.
    Start it once the market is built (`simulate(built=...)`): it imports pandas and matplotlib (0.6 s)
    while the days run on the other core, and the run's process imports neither (issue 23). Its imports
    read a thousand files: beside the build, they slowed it by a third. It ignores Ctrl-C (the run waits
    for it, then removes the unfinished folder) and changes no result: every file is the same whichever
    process writes it."""
    import multiprocessing

    if not sys.platform.startswith("linux") or "fork" not in multiprocessing.get_all_start_methods():
        return None
    if usable_cores() < 2:
        return None
    from concurrent.futures import ProcessPoolExecutor

    writer = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_start_writer, initargs=(os.getpid(),))
    try:
        writer.submit(int)  # fork it now (a fork pool starts its worker on the first task)
    except OSError:  # no fork (out of memory, too many processes): the run's process writes the folder
        writer.shutdown(wait=False)
        return None
    return writer


CGROUP = Path("/sys/fs/cgroup")  # where a container sees its own cgroup's CPU quota
MEMBERSHIP = Path("/proc/self/cgroup")  # which cgroup this process is in, under that root


def usable_cores(cgroup: Path = CGROUP, membership: Path = MEMBERSHIP) -> int:
    """The cores this process may use: those it is allowed to run on (CPU affinity, where the platform
    tells), fewer under a CPU quota, rounded up (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` over
    `cpu.cfs_period_us`): a container on a large machine reports the machine's cores in os.cpu_count().
    The quota is looked for in the process's own cgroup (`membership`, /proc/self/cgroup) and in each
    cgroup above it up to `cgroup`, the root: a systemd service or a nested container limits it there, and
    the smallest limit on the path is the one that holds."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    for quota, period in _cpu_quotas(cgroup, membership):
        if quota > 0 and period > 0:  # else no limit (-1, "max") or one that makes no sense
            cores = min(cores, max(1, -(-quota // period)))
    return max(cores, 1)


def _on_the_path(top: Path, below: str) -> list[Path]:
    """`top`, and each folder from `top`/`below` up to it (`below` a cgroup path as /proc/self/cgroup gives
    it; one that would leave `top` is ignored)."""
    folders = [top]
    parts = [p for p in below.split("/") if p]
    if ".." in parts:
        return folders
    return folders + [top.joinpath(*parts[:k]) for k in range(len(parts), 0, -1)]


def _cpu_quotas(cgroup: Path, membership: Path = MEMBERSHIP) -> list[tuple[int, int]]:
    """(quota, period) in microseconds from the cgroup files that exist and read as whole numbers: v2's
    cpu.max and v1's cfs quota and period, in the root and in every cgroup from the process's own up."""
    def read(folder: Path, *names: str) -> list[str] | None:
        try:
            return [w for name in names for w in (folder / name).read_text(encoding="ascii").split()[:2]]
        except (OSError, UnicodeDecodeError):
            return None
    import re
    v2, v1 = "", ""
    try:
        lines = membership.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):  # no /proc (not Linux), or unreadable: the root only
        lines = []
    for line in lines:
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]  # a line not of three fields: skipped
        if hierarchy == "0" and not controllers:
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    found = [read(folder, "cpu.max") for folder in _on_the_path(cgroup, v2)]
    found += [read(folder, "cpu.cfs_quota_us", "cpu.cfs_period_us") for folder in _on_the_path(cgroup / "cpu", v1)]
    return [(int(words[0]), int(words[1])) for words in found
            if words is not None and len(words) >= 2 and all(re.fullmatch(r"-?\d+", w) for w in words[:2])]


class WriterOnDemand:
    """A `folder_writer` started when asked (`start`, e.g. as `simulate`'s `built` callback, so that its
    imports run beside the days) and shut down when the block ends. `executor` is None until started, and
    where the run's own process writes the folder."""

    def __init__(self) -> None:
        self.executor: Executor | None = None

    def start(self) -> None:
        self.executor = folder_writer()

    def __enter__(self) -> WriterOnDemand:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)


def _end_with(parent: int) -> None:
    """This forked process ends with `parent`, however the parent ends (killed, out of memory: no orphan
    holding the terminal's output open)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    if os.getppid() != parent:  # the parent ended before the line above
        os._exit(0)


def _start_writer(parent: int) -> None:
    _end_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import pyarrow.parquet  # noqa: F401 - what the tables and charts need, imported while the run goes on

    import sim.charts  # noqa: F401


def _draw(chart: str, *args: Any) -> None:
    import sim.charts
    getattr(sim.charts, chart)(*args)


def _chart_jobs(result: RunResult, charts: Path) -> list[tuple]:
    """The run's charts: (name in sim.charts, its arguments) each."""
    sc = result.scenario
    warmup = f" after a {sc.simulation.warmup_days}-day warm-up" if sc.simulation.warmup_days else ""
    context = (f"Scenario {sc.name}: {sc.shoppers.count:,} shoppers, {sc.simulation.days} days from "
               f"{sc.simulation.start_date}{warmup}, seed {sc.seed}; one run (compare gives intervals).")
    cur = sc.simulation.currency
    life = sc.shoppers.lifecycle
    jobs = [("supply_chain", result.daily, result.summary, sc.name, context, cur, charts / "supply_chain.png"),
            ("kpi_timeseries", result.daily, result.summary, sc.name, context, cur, charts / "kpis.png",
             (life.new_days, life.dormant_after_days, life.churned_after_days))]
    if len(result.cohorts):
        jobs.append(("retention_curves", result.cohorts, sc.name, context, charts / "retention.png"))
    return jobs


def write_run(record: RunRecord, out_dir: Path, source: str, writer: Executor | None = None) -> dict[str, Any]:
    """summary.json, kpis_daily.parquet/.csv, pnl.csv, cohorts.csv, scenario.resolved.yaml, manifest.json,
    charts/ (and transactions.parquet when kept), written by `writer` (folder_writer) or here; the folder
    appears whole, or not at all if anything fails. Returns the run's summary."""
    import pickle

    with atomic_folder(out_dir) as tmp:
        if writer is not None:
            from concurrent.futures import wait
            from concurrent.futures.process import BrokenProcessPool  # (imported with the writer)

            try:
                payload = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, TypeError, AttributeError):  # e.g. a policy KPI's lambda
                payload = None
            if payload is not None:
                writing = None
                try:
                    writing = writer.submit(_write_pickled, payload, tmp, source)
                    return writing.result()
                except BrokenProcessPool:  # the writer (or a helper) died: the folder is written here
                    for path in tmp.iterdir():
                        _remove(path)
                except BaseException:
                    if writing is not None:  # (Ctrl-C) the writer, which ignores it, finishes first
                        wait([writing])
                    raise
        return _write_folder(record, tmp, source, False)


def _write_pickled(payload: bytes, tmp: Path, source: str) -> dict[str, Any]:
    """The writer's task: `_write_folder` of a record pickled by the run's process (which checks there that
    it can be pickled, and writes the folder itself if not)."""
    import pickle

    try:
        return _write_folder(pickle.loads(payload), tmp, source, True)
    finally:
        import matplotlib.pyplot as plt
        plt.close("all")  # a chart that failed leaves its figure open; the writer draws again for the next run


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def _write_folder(record: RunRecord, tmp: Path, source: str, helpers: bool) -> dict[str, Any]:
    """Tabulate the run and write its folder into `tmp`; with `helpers`, processes forked here (pandas and
    matplotlib imported) draw the KPIs and retention charts, one each, while this one writes the tables
    and draws the supply chain's (a chart's error is raised here; a helper that died raises
    BrokenProcessPool)."""
    result = tabulate(record)
    charts = tmp / "charts"
    charts.mkdir()
    jobs = _chart_jobs(result, charts)
    if not helpers:
        _write_tables(result, tmp, source)
        for job in jobs:
            _draw(*job)
        return result.summary
    import pickle
    from concurrent.futures.process import BrokenProcessPool

    forked: list[tuple[int, int]] = []
    try:
        try:
            for job in jobs[1:]:
                forked.append(_fork_drawing(job))
        except OSError as exc:  # no fork (out of memory, too many processes): the run writes the folder
            raise BrokenProcessPool(f"the writer could not fork a helper ({exc})") from exc
        _write_tables(result, tmp, source)
        _draw(*jobs[0])
    finally:
        answers = [_answer(*f) for f in forked]  # every helper started has ended before the folder is kept
    for status, message in answers:
        if status != 0:
            raise BrokenProcessPool("a helper of the writer died")
        if message:
            raise pickle.loads(message)
    return result.summary


def _fork_drawing(job: tuple) -> tuple[int, int]:
    """A process forked to draw one chart; its pid and the pipe it answers on (empty: drawn; else the
    pickled exception)."""
    import pickle

    read, write = os.pipe()
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        os.close(read)
        os.close(write)
        raise
    if pid == 0:
        status = 1
        try:
            os.close(read)
            _end_with(parent)
            try:
                _draw(*job)
                message = b""
            except BaseException as exc:  # noqa: BLE001 - handed to the writer
                try:
                    message = pickle.dumps(exc)
                except Exception:  # noqa: BLE001 - an exception that cannot be pickled, by its text
                    message = pickle.dumps(RuntimeError(repr(exc)))
            with os.fdopen(write, "wb") as out:
                out.write(message)
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    return pid, read


def _answer(pid: int, read: int) -> tuple[int, bytes]:
    """A forked drawing's exit status and answer, once it has ended."""
    with os.fdopen(read, "rb") as incoming:
        message = incoming.read()
    _, status = os.waitpid(pid, 0)
    return status, message


def _write_tables(result: RunResult, tmp: Path, source: str) -> None:
    import pandas as pd

    sc = result.scenario
    write_json(tmp / "summary.json", result.summary)
    daily = result.daily.copy()
    daily["date"] = pd.to_datetime(daily["date"])
    daily.to_parquet(tmp / "kpis_daily.parquet", index=False)
    daily.to_csv(tmp / "kpis_daily.csv", index=False, date_format="%Y-%m-%d")
    result.pnl.round({"amount": 2, "share_of_gmv": 4}).to_csv(tmp / "pnl.csv", index=False)
    result.cohorts.to_csv(tmp / "cohorts.csv", index=False)
    if result.transactions is not None:
        result.transactions.to_parquet(tmp / "transactions.parquet", index=False)
    (tmp / "scenario.resolved.yaml").write_text(dump_resolved(sc), encoding="utf-8")
    write_json(tmp / "manifest.json", {
        "ecomsim_version": __version__,
        "git_commit": git_commit(PROJECT_ROOT),
        "scenario": sc.name,
        "scenario_file": source,
        "seed": sc.seed,
        "days": sc.simulation.days,
        "shoppers": sc.shoppers.count,
        "wall_seconds": round(result.wall_seconds, 3),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
        "versions": _versions(),
        "unit_balance": result.unit_balance,
        "ledger_imbalance": result.ledger_imbalance,
        "network": result.network,
        "carbon_factors": result.carbon_factors,
    })
