"""Running one scenario and writing its results folder (the `run` command's work)."""

from __future__ import annotations

import datetime as dt
import platform as _platform
import sys
import time
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


def write_run(result: RunResult, out_dir: Path, source: str) -> None:
    """summary.json, kpis_daily.parquet/.csv, pnl.csv, cohorts.csv, scenario.resolved.yaml, manifest.json,
    charts/ (and transactions.parquet when kept)."""
    sc = result.scenario
    with atomic_folder(out_dir) as tmp:
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
        from sim.charts import kpi_timeseries, retention_curves, supply_chain  # matplotlib only when drawing
        charts = tmp / "charts"
        charts.mkdir()
        warmup = f" after a {sc.simulation.warmup_days}-day warm-up" if sc.simulation.warmup_days else ""
        context = (f"Scenario {sc.name}: {sc.shoppers.count:,} shoppers, {sc.simulation.days} days from "
                   f"{sc.simulation.start_date}{warmup}, seed {sc.seed}; one run (compare gives intervals).")
        cur = sc.simulation.currency
        life = sc.shoppers.lifecycle
        kpi_timeseries(result.daily, result.summary, sc.name, context, cur, charts / "kpis.png",
                       (life.new_days, life.dormant_after_days, life.churned_after_days))
        supply_chain(result.daily, result.summary, sc.name, context, cur, charts / "supply_chain.png")
        if len(result.cohorts):
            retention_curves(result.cohorts, sc.name, context, charts / "retention.png")
