"""Sweeps (issue 11, first part): designs, common seeds, same bits with any number of workers,
resume without recomputing, failed runs recorded, bad specs refused before anything is written."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, cli
from experiments.sweeps import design_points, load_spec, run_seeds, sweep
from sim.errors import ScenarioError

TINY = '["shoppers.count=1000", "merchants.count=5", "suppliers.count=4", "simulation.days=20", ' \
       '"simulation.warmup_days=0"]'


def write_spec(folder, body: str, name: str = "s") -> str:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\nbase: {ROOT / 'scenarios' / 'baseline.yaml'}\nsets: {TINY}\n{body}",
                    encoding="utf-8")
    return str(path)


FACTORIAL = """levers: [{path: platform.fixed_cost_per_day, levels: [100, 300]}]
uncertainties: [{path: shoppers.purchase_rate_multiplier, low: 0.8, high: 1.2}]
design: {kind: full_factorial, steps: 2}
replications: 2
kpis: [gmv, orders, platform_profit]
"""


def test_same_bits_with_one_or_two_workers_and_common_seeds(tmp_path):
    spec = write_spec(tmp_path, FACTORIAL)
    one = sweep(spec, tmp_path / "one", workers=1)
    two = sweep(spec, tmp_path / "two", workers=2)
    cols = ["point", "replication", "seed", "gmv", "orders", "platform_profit"]
    pd.testing.assert_frame_equal(one[cols], two[cols])
    assert len(one) == 8 and (one["status"] == "ok").all()
    # replication i meets the same draws at every point: same seed, and the fixed cost moves no orders
    assert one.groupby("replication")["seed"].nunique().eq(1).all()
    same_demand = one.groupby(["replication", "shoppers.purchase_rate_multiplier"])["orders"].nunique()
    assert same_demand.eq(1).all()


def test_a_rerun_resumes_and_never_recomputes(tmp_path):
    spec = write_spec(tmp_path, FACTORIAL)
    first = sweep(spec, tmp_path / "out")
    parts = sorted((tmp_path / "out" / "parts").glob("run-*.parquet"))
    parts[3].unlink()  # as if the sweep had been killed with that run in flight
    again = sweep(spec, tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["this_time"]["runs"] == 1 and manifest["runs"] == 8
    timing = ["wall_seconds", "sim_seconds"]
    pd.testing.assert_frame_equal(first.drop(columns=timing), again.drop(columns=timing))
    assert len(pd.read_parquet(tmp_path / "out" / "runs.parquet")) == 8


def test_a_changed_spec_in_the_same_folder_is_refused(tmp_path):
    sweep(write_spec(tmp_path, FACTORIAL), tmp_path / "out")
    changed = write_spec(tmp_path, FACTORIAL.replace("replications: 2", "replications: 3"))
    with pytest.raises(ScenarioError, match="changed: replications"):
        sweep(changed, tmp_path / "out")


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    spec = write_spec(tmp_path, """levers: [{path: platform.take_rate, levels: [0.1, 1.5]}]
design: {kind: full_factorial}
""")
    runs = sweep(spec, tmp_path / "out")
    assert list(runs["status"]) == ["ok", "failed"]
    assert "take_rate" in runs.loc[1, "error"] and runs.loc[0, "gmv"] > 0


@pytest.mark.parametrize("kind, n, rows", [("latin_hypercube", 5, 5), ("sobol", 4, 4 * (2 + 2)),
                                           ("morris", 3, 3 * (2 + 1))])
def test_designs_place_the_points_their_samplers_give(tmp_path, kind, n, rows):
    spec = load_spec(write_spec(tmp_path, f"""levers: [{{path: platform.take_rate, low: 0.05, high: 0.2}}]
uncertainties: [{{path: merchants.categories_per_merchant, low: 1, high: 4, integer: true}}]
design: {{kind: {kind}, n: {n}, seed: 3}}
"""))
    points = design_points(spec)
    assert len(points) == rows
    assert points["platform.take_rate"].between(0.05, 0.2).all()
    assert set(points["merchants.categories_per_merchant"]) <= {1, 2, 3, 4}
    assert points.equals(design_points(spec))  # seeded
    assert len(set(run_seeds(spec))) == 1


@pytest.mark.parametrize("d, n, seed", [(1, 10, 1), (2, 5, 3), (3, 40, 0), (6, 1, 12345), (4, 7, 2**31 - 1)])
def test_the_latin_hypercube_is_scipys_bit_for_bit(d, n, seed):
    """The sampler skips importing scipy.stats (0.8 s of a sweep's start-up) and must still place the points
    scipy.stats.qmc places: a saved design.parquet, a resumed sweep and the library's studies depend on it."""
    from scipy.stats import qmc

    from experiments.designs import _latin_hypercube
    mine = _latin_hypercube(d, n, seed)
    assert mine.shape == (n, d) and np.array_equal(mine, qmc.LatinHypercube(d=d, seed=seed).random(n))
    assert (np.sort(np.floor(mine * n), axis=0) == np.arange(n)[:, None]).all()  # one point per stratum


def test_lever_x_uncertainty_crosses_every_lever_point_with_one_sample(tmp_path):
    spec = load_spec(write_spec(tmp_path, """levers: [{path: platform.take_rate, levels: [0.1, 0.15, 0.2]}]
uncertainties: [{path: shoppers.purchase_rate_multiplier, low: 0.7, high: 1.3}]
design: {kind: lever_x_uncertainty, n: 4}
"""))
    points = design_points(spec)
    assert len(points) == 12
    samples = points.groupby("platform.take_rate")["shoppers.purchase_rate_multiplier"].apply(tuple)
    assert samples.nunique() == 1  # the same uncertainty points for every lever setting


@pytest.mark.parametrize("body, message", [
    ("levers: [{path: platform.take_rat, low: 0.1, high: 0.2}]\ndesign: {kind: full_factorial}\n",
     "levers.0.path"),
    ("levers: [{path: platform.take_rate, low: 0.3, high: 0.2}]\ndesign: {kind: full_factorial}\n",
     "empty range"),
    ("levers: [{path: platform.take_rate, low: 0.1, high: 0.2}]\ndesign: {kind: sobol, n: 6}\n",
     "power of two"),
    ("levers: [{path: platform.take_rate, low: 0.1, high: 0.2}]\n"
     "uncertainties: [{path: platform.take_rate, low: 0.1, high: 0.2}]\ndesign: {kind: full_factorial}\n",
     "both a lever and an uncertainty"),
    ("levers: [{path: platform.take_rate, low: 0.1, high: 0.2}]\ndesign: {kind: grid}\n", "design.kind"),
    ("levers: [{path: platform.take_rate, levels: []}]\ndesign: {kind: full_factorial}\n", "levers.0.levels"),
    ("levers: [{path: platform.take_rate, low: 0.1}]\ndesign: {kind: full_factorial}\n", "needs both low and high"),
    ("levers: [{path: platform.take_rate, low: 0.1, high: 0.2}]\ndesign: {kind: full_factorial}\n"
     "kpis: [gmv, platform_proft]\n", "did you mean 'platform_profit'"),
    ("levers: [{path: platform.take_rate, low: 0.1, high: 0.2}]\ndesign: {kind: full_factorial}\n"
     "daily: [gmv, gvm]\n", "daily.1"),
    ("levers: [{path: platform.take_rate, low: 0.1, high: 0.2}]\ndesign: {kind: full_factorial}\n"
     "kpis: [gmv]\nobjectives: {orders: max}\n", "must also be among the kpis kept"),
])
def test_bad_specs_exit_2_and_write_nothing(tmp_path, body, message):
    spec = write_spec(tmp_path, body)
    out = tmp_path / "out"
    proc = cli("sweep", spec, "--out", str(out), cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert message in proc.stderr and not out.exists()


@pytest.mark.slow
def test_a_dask_cluster_gives_the_same_bits(tmp_path):
    from distributed import Client, LocalCluster

    spec = write_spec(tmp_path, FACTORIAL)
    serial = sweep(spec, tmp_path / "serial", workers=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        on_dask = sweep(spec, tmp_path / "dask", executor=client.get_executor())
    cols = ["point", "replication", "seed", "gmv", "orders", "platform_profit"]
    pd.testing.assert_frame_equal(serial[cols], on_dask[cols])


def test_daily_series_are_kept_as_a_partitioned_dataset(tmp_path):
    spec = write_spec(tmp_path, FACTORIAL.replace("kpis:", "daily: [gmv, orders]\nkpis:"))
    runs = sweep(spec, tmp_path / "out")
    daily = pd.read_parquet(tmp_path / "out" / "daily")  # point=P/replication=R/part.parquet
    assert len(daily) == len(runs) * 20 and {"day", "gmv", "orders", "point", "replication"} <= set(daily.columns)
    one = daily[(daily["point"].astype(int) == 2) & (daily["replication"].astype(int) == 1)]
    row = runs[(runs["point"] == 2) & (runs["replication"] == 1)].iloc[0]
    assert one["gmv"].sum() == pytest.approx(row["gmv"]) and one["orders"].sum() == row["orders"]


KILLABLE = """levers: [{path: platform.take_rate, levels: [0.08, 0.12, 0.16]}]
uncertainties: [{path: shoppers.purchase_rate_multiplier, levels: [0.9, 1.1]}]
design: {kind: full_factorial}
replications: 2
kpis: [gmv, orders, platform_profit]
"""


@pytest.mark.slow
def test_a_sweep_killed_mid_way_resumes_and_ends_with_every_run_exactly_once(tmp_path):
    spec, out = write_spec(tmp_path, KILLABLE), tmp_path / "out"
    cmd = [sys.executable, str(ROOT / "run.py"), "sweep", spec, "--out", str(out), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list((out / "parts").glob("run-*.parquet"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker processes, mid-way
    proc.wait()
    finished = len(list((out / "parts").glob("run-*.parquet")))
    assert 3 <= finished < 12 and not (out / "runs.parquet").exists()
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["this_time"]["runs"] == 12 - finished  # finished runs were not recomputed
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 12 and not runs.duplicated(["point", "replication"]).any()
    clean = sweep(spec, tmp_path / "clean")
    cols = ["point", "replication", "seed", "status", "gmv", "orders", "platform_profit"]
    pd.testing.assert_frame_equal(runs[cols], clean[cols])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_real_dask_scheduler_and_worker_commands_run_a_sweep(tmp_path):
    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    scheduler = subprocess.Popen([str(Path(sys.executable).parent / "dask"), "scheduler", "--host", "127.0.0.1",
                                  "--port", port, "--no-dashboard"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, cwd=tmp_path)
    worker = subprocess.Popen([str(Path(sys.executable).parent / "dask"), "worker", address, "--nworkers", "2",
                               "--nthreads", "1", "--no-dashboard"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        spec = write_spec(tmp_path, FACTORIAL)
        proc = cli("sweep", spec, "--out", str(tmp_path / "dask"), "--scheduler", address, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        on_dask = pd.read_parquet(tmp_path / "dask" / "runs.parquet")
        manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
        assert manifest["this_time"]["workers"] == "dask scheduler"
    finally:
        for p in (worker, scheduler):
            p.terminate()
            p.wait(timeout=60)
    serial = sweep(spec, tmp_path / "serial")
    cols = ["point", "replication", "seed", "status", "gmv", "orders", "platform_profit"]
    pd.testing.assert_frame_equal(on_dask[cols], serial[cols])


@pytest.mark.parametrize("name, runs", [("smoke", 16), ("subsidy_study", 80), ("referral_study", 40),
                                        ("green_study", 40), ("timing", 200)])
def test_the_example_specs_load_with_the_runs_they_promise(name, runs):
    spec = load_spec(ROOT / "experiments" / f"{name}.yaml")
    assert len(design_points(spec)) * spec.replications == runs


def test_a_finished_run_leaves_no_model_behind():
    """A sweep worker runs model after model: memory stays flat only if each is freed (mesa 3.3 keeps
    models in Agent._ids unless released)."""
    import gc

    from conftest import small_scenario
    from sim.model import MarketModel
    from sim.runner import run_scenario

    def models() -> int:
        gc.collect()
        return sum(isinstance(o, MarketModel) for o in gc.get_objects())

    before = models()
    for seed in (1, 2):
        run_scenario(small_scenario("simulation.days=5", f"seed={seed}"))
    assert models() == before


def test_an_edited_base_scenario_is_refused_on_resume(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(f"extends: {ROOT / 'scenarios' / 'baseline.yaml'}\nplatform: {{take_rate: 0.12}}\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(f"name: s\nbase: base.yaml\nsets: {TINY}\n" + FACTORIAL.replace("replications: 2",
                                                                                    "replications: 1"))
    sweep(str(spec), tmp_path / "out")
    base.write_text(f"extends: {ROOT / 'scenarios' / 'baseline.yaml'}\nplatform: {{take_rate: 0.12, "
                    "marketing_spend_per_day: 500}\n")
    with pytest.raises(ScenarioError, match="base_scenario_sha256"):
        sweep(str(spec), tmp_path / "out")


@pytest.mark.parametrize("extra, message", [(["--scheduler", "tcp://127.0.0.1:9"], "cannot reach a Dask scheduler"),
                                            (["--workers", "0"], "--workers")])
def test_bad_options_exit_2(tmp_path, extra, message):
    spec = write_spec(tmp_path, FACTORIAL)
    import dask
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):  # give up on the scheduler soon
        proc = cli("sweep", spec, "--out", str(tmp_path / "out"), *extra, cwd=ROOT)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()


def test_an_out_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "taken").write_text("x")
    proc = cli("sweep", write_spec(tmp_path, FACTORIAL), "--out", str(tmp_path / "taken"), cwd=ROOT)
    assert proc.returncode == 2 and "not a sweep folder" in proc.stderr, proc.stderr
