"""Running one scenario and writing its results folder (the `run` command's work)."""

from __future__ import annotations

import datetime as dt
import os
import platform as _platform
import signal
import sys
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from sim import __version__
from sim.invariants import check as check_conservation
from sim.metrics import pnl_table, summarize
from sim.model import MarketModel
from sim.network import describe
from sim.outputs import atomic_folder, git_commit, write_json
from sim.scenario import Scenario
from sim.scenario_io import dump_resolved

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
    start = time.perf_counter()
    model = MarketModel(scenario, log_orders=transactions)
    try:
        model.run(progress=progress)
        check_conservation(model)
        daily = model.recorder.frame()
        end = model.run_end()
        summary = summarize(daily, end, model.policies.summary(), model.policies.kpis())
        network = {"kind": scenario.network.kind, "build_seconds": round(model.network_build_seconds, 3),
                   **describe(model.network, model.streams.generator("network_stats"),
                              scenario.network.clustering_sample)}
        factors = {"file": str(model.factors.path), "sha256": model.factors.sha256}
        orders = model.transactions() if transactions else None
    finally:
        model.release()  # memory stays flat over many runs in one process
    cohorts = pd.DataFrame(end.cohorts, columns=["cohort", "month", "months_since", "customers", "buyers"])
    return RunResult(scenario, daily, summary, pnl_table(end), model.unit_balance(), model.ledger.imbalance(),
                     time.perf_counter() - start, network, factors, cohorts, orders)


def _versions() -> dict[str, str]:
    out = {"python": _platform.python_version()}
    for pkg in ("mesa", "numpy", "pandas", "simpy", "pydantic"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def chart_drawers() -> Executor | None:
    """A process that draws a run's charts while this one writes its tables (issue 23), two at once on two
    cores (`_draw_all`), or None where the charts are drawn here: one core, or not Linux (the drawer is
    forked, and follows this process out when it dies). Start it before the run: it imports matplotlib
    (0.3 s) while the simulation runs on the other core. It ignores Ctrl-C (this process stops it) and
    changes no result: a chart is the same file whichever process draws it."""
    import multiprocessing

    if not sys.platform.startswith("linux") or "fork" not in multiprocessing.get_all_start_methods():
        return None
    if len(os.sched_getaffinity(0)) < 2:
        return None
    from concurrent.futures import ProcessPoolExecutor

    drawers = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"),
                                  initializer=_start_drawer, initargs=(os.getpid(),))
    drawers.submit(int)  # fork it now (a fork pool starts its worker on the first task)
    return drawers


def _end_with(parent: int) -> None:
    """This forked process ends with `parent`, however the parent ends (killed, out of memory: no orphan
    holding the terminal's output open)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    if os.getppid() != parent:  # the parent ended before the line above
        os._exit(0)


def _start_drawer(parent: int) -> None:
    _end_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import sim.charts  # noqa: F401 - matplotlib's import, while the run goes on


def _draw(chart: str, *args: Any) -> None:
    import sim.charts
    getattr(sim.charts, chart)(*args)


def _draw_all(jobs: list[tuple]) -> None:
    """The drawer's task: the first chart of `jobs` (name and arguments each) in a process forked for it,
    with matplotlib imported already, the others here, at the same time. A chart's error is raised here;
    a helper that died raises BrokenProcessPool (the run then draws the charts itself)."""
    import pickle
    from concurrent.futures.process import BrokenProcessPool

    read, write = os.pipe()
    drawer = os.getpid()
    helper = os.fork()
    if helper == 0:
        status = 1
        try:
            os.close(read)
            _end_with(drawer)
            try:
                _draw(*jobs[0])
                message = b""
            except BaseException as exc:  # noqa: BLE001 - handed to the drawer
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
    try:
        for job in jobs[1:]:
            _draw(*job)
    finally:
        with os.fdopen(read, "rb") as incoming:
            message = incoming.read()
        _, status = os.waitpid(helper, 0)
    if status != 0:
        raise BrokenProcessPool("the drawer's helper process died")
    if message:
        raise pickle.loads(message)


def write_run(result: RunResult, out_dir: Path, source: str, drawers: Executor | None = None) -> None:
    """summary.json, kpis_daily.parquet/.csv, pnl.csv, cohorts.csv, scenario.resolved.yaml, manifest.json,
    charts/ (and transactions.parquet when kept). The charts are drawn by `drawers` (chart_drawers) while
    the tables are written, or here; the folder appears whole, or not at all if a chart fails."""
    sc = result.scenario
    with atomic_folder(out_dir) as tmp:
        charts = tmp / "charts"
        charts.mkdir()
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
        drawing = failed = None
        if drawers is not None:
            from concurrent.futures.process import BrokenProcessPool  # (imported with the drawers)

            try:
                drawing = drawers.submit(_draw_all, jobs)
            except BrokenProcessPool:  # the drawer died (or never started): the charts are drawn here
                drawing = None
        try:
            _write_tables(result, tmp, source)
        finally:
            if drawing is not None:  # the charts are finished (or failed) before the folder is kept or removed
                failed = drawing.exception()
        if failed is not None and not isinstance(failed, BrokenProcessPool):
            raise failed  # a chart's own error
        if drawing is None or failed is not None:
            for job in jobs:
                _draw(*job)


def _write_tables(result: RunResult, tmp: Path, source: str) -> None:
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
