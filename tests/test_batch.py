"""The one batch engine under compare and sweep: seeds, parts as runs end, resume, failures, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, SMALL
from experiments.batch import Job, Outcome, gather, replication_seeds, run_batch
from sim.errors import Interrupted

SCEN = ROOT / "scenarios"
TINY = [*SMALL, "simulation.days=30", "shoppers.count=2000"]


def square(x: float, seed: int) -> Outcome:
    """A model with a known answer: x squared, plus the seed's first uniform (so seeds are visible)."""
    u = float(np.random.default_rng(seed).random())
    return Outcome({"y": x * x + u}, {"daily": pd.DataFrame({"day": [0, 1], "v": [x, x + 1]})}, 0.0)


def refuses_three(x: float, seed: int) -> Outcome:
    if x == 3:
        raise ValueError("three is not allowed")
    return square(x, seed)


def interrupts_at_three(x: float, seed: int) -> Outcome:
    if x == 3:
        raise KeyboardInterrupt
    return square(x, seed)


def jobs(n: int = 5, replications: int = 2) -> list[Job]:
    seeds = replication_seeds(7, replications)
    return [Job(p, r, seeds[r], {"x": float(p)}, (float(p),)) for p in range(n) for r in range(replications)]


def test_replication_seeds_are_spawned_and_shared_by_every_point():
    seeds = replication_seeds(42, 3)
    children = np.random.SeedSequence(42).spawn(3)
    assert seeds == [int(c.generate_state(1)[0] % 2**31) for c in children]
    assert len(set(seeds)) == 3 and replication_seeds(42, 5)[:3] == seeds  # more replications keep the first
    shared = replication_seeds(7, 3)  # jobs() spawns from 7: every point's replication r has seed r
    assert all(j.seed == shared[j.replication] for j in jobs(4, 3))


def test_every_run_is_a_named_record_written_as_it_ends(tmp_path):
    seen = []
    stats = run_batch(jobs(), square, tmp_path, on_record=seen.append)
    assert stats.runs == stats.ok == 10 and len(seen) == 10
    record = seen[0]
    assert (record.point, record.replication, record.status, record.columns) == (0, 0, "ok", {"x": 0.0})
    runs = gather(tmp_path)
    assert list(runs.columns[:4]) == ["point", "x", "replication", "seed"]
    assert runs["y"].to_numpy() == pytest.approx(runs["x"].to_numpy() ** 2
                                                 + [np.random.default_rng(s).random() for s in runs["seed"]])
    daily = pd.read_parquet(tmp_path / "daily")  # a Parquet dataset partitioned by point and replication
    assert len(daily) == 20 and set(daily["point"].astype(int)) == set(range(5))


def test_a_rerun_resumes_without_recomputing(tmp_path):
    run_batch(jobs()[:4], square, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "parts").glob("run-*.parquet")}
    stats = run_batch(jobs(), square, tmp_path)
    assert stats.runs == 6 and len(gather(tmp_path)) == 10
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())


def test_a_failing_run_is_recorded_and_the_others_go_on(tmp_path):
    stats = run_batch(jobs(), refuses_three, tmp_path, workers=2)
    runs = gather(tmp_path).set_index(["point", "replication"])
    assert (stats.ok, stats.failed) == (8, 2)
    assert runs.loc[(3, 0), "status"] == "failed" and "three is not allowed" in runs.loc[(3, 0), "error"]
    assert (runs.drop(index=3, level="point")["status"] == "ok").all()


def test_workers_do_not_change_the_bits(tmp_path):
    run_batch(jobs(), square, tmp_path / "one", workers=1)
    run_batch(jobs(), square, tmp_path / "two", workers=2)
    one, two = gather(tmp_path / "one"), gather(tmp_path / "two")
    cols = ["point", "replication", "seed", "y"]
    pd.testing.assert_frame_equal(one[cols], two[cols])


def test_ctrl_c_stops_with_the_runs_kept_and_the_rest_resume(tmp_path):
    with pytest.raises(Interrupted) as stop:
        run_batch(jobs(), interrupts_at_three, tmp_path)  # in this process: the 7th run is interrupted
    assert (stop.value.kept, stop.value.total) == (6, 10) and "run the same command again" in str(stop.value)
    stats = run_batch(jobs(), square, tmp_path)
    assert stats.runs == 4 and len(gather(tmp_path)) == 10


@pytest.mark.slow
def test_ctrl_c_on_compare_stops_within_two_seconds_and_the_same_command_resumes(tmp_path):
    """A user's Ctrl-C (SIGINT to the command) while runs are in flight on 2 workers: one line saying how
    many runs are kept and how to resume, exit 130, within 2 s; the same command then finishes the rest
    and gives the same comparison as an uninterrupted one. The command is started with SIGINT ignored,
    as some launchers start background jobs (and as a fresh-check run did): a batch still takes Ctrl-C."""
    out = tmp_path / "out"
    sets = [a for s in [*SMALL, "simulation.days=60"] for a in ("--set", s)]
    cmd = [sys.executable, str(ROOT / "run.py"), "compare", str(SCEN / "baseline.yaml"),
           str(SCEN / "referral.yaml"), "--replications", "4", "--workers", "2", "--out", str(out), *sets]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.monotonic() + 120
    while len(list((out / "parts").glob("run-*.parquet"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    took = time.monotonic() - start
    kept = len(list((out / "parts").glob("run-*.parquet")))
    assert proc.returncode == 130 and took < 2.0, (took, err)
    assert f"interrupted: {kept} of 8 runs are kept in {out}/" in err and "Traceback" not in err, err
    assert 2 <= kept < 8 and not (out / "comparison.csv").exists()
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert f"{kept} kept from before" in again.stdout
    assert json.loads((out / "manifest.json").read_text())["runs_this_time"] == 8 - kept
    clean = tmp_path / "clean"
    assert subprocess.run([*cmd[:-len(sets) - 2], "--out", str(clean), *sets], cwd=ROOT).returncode == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "comparison.csv"), pd.read_csv(clean / "comparison.csv"))


def test_the_python_api_compares_and_resumes_like_the_command(tmp_path):
    from experiments import compare, sweep
    from experiments.sweeps import sweep as sweep_function
    assert sweep is sweep_function
    files = [SCEN / "baseline.yaml", [SCEN / "subsidy_newcomers.yaml"]]
    table = compare(*files, replications=2, out=tmp_path / "api", sets=TINY)
    assert set(table["scenario"]) == {"baseline", "subsidy_newcomers"}
    pd.testing.assert_frame_equal(table, pd.read_csv(tmp_path / "api" / "comparison.csv"), check_dtype=False)
    runs = pd.read_csv(tmp_path / "api" / "runs.csv")
    seeds = replication_seeds(42, 2)
    assert list(runs.sort_values(["replication", "scenario"])["seed"]) == [seeds[0]] * 2 + [seeds[1]] * 2
    again = compare(*files, replications=2, out=tmp_path / "api", sets=TINY)  # resumes: nothing to run
    pd.testing.assert_frame_equal(table, again)
    assert json.loads((tmp_path / "api" / "manifest.json").read_text())["runs_this_time"] == 0


@pytest.mark.slow
def test_a_folder_of_other_inputs_is_refused_unless_overwritten(tmp_path):
    from conftest import cli
    args = ["compare", str(SCEN / "baseline.yaml"), str(SCEN / "referral.yaml"), "--replications", "1",
            "--out", str(tmp_path / "o"), *[a for s in TINY for a in ("--set", s)]]
    assert cli(*args).returncode == 0
    proc = cli(*args[:-1], "simulation.days=20")
    assert proc.returncode == 2 and "holds a comparison of other inputs (changed: scenario_sha256)" in proc.stderr
    assert cli(*args[:-1], "simulation.days=20", "--overwrite").returncode == 0
    assert pd.read_csv(tmp_path / "o" / "runs.csv")["days"].eq(20).all()


@pytest.mark.slow
def test_compare_on_a_dask_cluster_gives_the_same_bits(tmp_path):
    from distributed import Client, LocalCluster

    from experiments.comparison import run_comparison
    files = [SCEN / "baseline.yaml", [SCEN / "referral.yaml"]]
    local = run_comparison(*files, replications=2, out=tmp_path / "local", sets=TINY, workers=2)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        dask = run_comparison(*files, replications=2, out=tmp_path / "dask", sets=TINY, executor=client.get_executor())
    pd.testing.assert_frame_equal(local.table, dask.table)
    assert os.path.exists(tmp_path / "dask" / "parts")


@pytest.mark.slow
def test_a_comparison_retries_failed_runs_survives_stale_temporary_folders_and_refuses_missing_runs(
        tmp_path, monkeypatch):
    """A run that failed is run again by the same command once its cause is gone; a hidden temporary
    folder left by a kill does not stop a resume; a part that vanished is rerun, never silently dropped."""
    import experiments.comparison as comparison
    files = [SCEN / "baseline.yaml", [SCEN / "referral.yaml"]]
    out = tmp_path / "o"
    real = comparison.simulate

    def fails_for_referral(scenario, seed):
        if scenario.name == "referral":
            raise MemoryError("out of memory")
        return real(scenario, seed)

    monkeypatch.setattr(comparison, "simulate", fails_for_referral)
    with pytest.raises(comparison.RunsFailed, match="2 of 4 runs did not finish.*MemoryError"):
        comparison.compare(*files, replications=2, out=out, sets=TINY)
    monkeypatch.setattr(comparison, "simulate", real)
    (out / ".outputs.abc.tmp").mkdir()  # as a kill during the final move leaves it
    table = comparison.compare(*files, replications=2, out=out, sets=TINY)
    assert json.loads((out / "manifest.json").read_text())["runs_this_time"] == 2
    assert not (out / ".outputs.abc.tmp").exists()
    (out / "parts" / "run-000001-0001.parquet").unlink()  # a part lost or removed as unreadable
    again = comparison.compare(*files, replications=2, out=out, sets=TINY)
    assert json.loads((out / "manifest.json").read_text())["runs_this_time"] == 1
    pd.testing.assert_frame_equal(table, again)


def test_compare_and_sweep_folders_are_told_apart(tmp_path):
    from conftest import cli
    compare_args = ["compare", str(SCEN / "baseline.yaml"), str(SCEN / "referral.yaml"), "--replications", "1",
                    *[a for s in TINY for a in ("--set", s)]]
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "spec.json").write_text('{"kind": "sweep", "name": "s"}')
    proc = cli(*compare_args, "--out", str(tmp_path / "sweep"), "--overwrite")
    assert proc.returncode == 2 and "holds a sweep, not a comparison" in proc.stderr  # never deleted
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "spec.json").write_text("{not json")
    proc = cli(*compare_args, "--out", str(tmp_path / "bad"))
    assert proc.returncode == 2 and "spec.json cannot be read" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "cmp").mkdir()
    (tmp_path / "cmp" / "spec.json").write_text('{"kind": "compare"}')
    proc = cli("analyze", str(tmp_path / "cmp"))
    assert proc.returncode == 2 and "a comparison folder, not a sweep" in proc.stderr
    proc = cli("report", str(tmp_path / "cmp"))
    assert proc.returncode == 2 and "have not all finished" in proc.stderr


def keyed(n: int = 3, replications: int = 2) -> list[Job]:
    return [Job(j.point, j.replication, j.seed, j.columns, j.args, f"k{j.point}-{j.seed}")
            for j in jobs(n, replications)]


def test_the_run_cache_serves_a_finished_run_to_any_folder_and_stores_new_ones(tmp_path):
    from experiments.cache import RunCache
    cache = RunCache(tmp_path / "cache")
    first = run_batch(keyed(), square, tmp_path / "a", cache=cache)
    assert first.ok == 6 and first.cached == 0 and len(list((tmp_path / "cache").rglob("run.parquet"))) == 6
    seen = []
    again = run_batch(keyed(), refuses_three, tmp_path / "b", cache=cache, on_record=seen.append)  # never called
    assert again.ok == again.cached == 6 and len(seen) == 6
    pd.testing.assert_frame_equal(gather(tmp_path / "a").drop(columns="wall_seconds"),
                                  gather(tmp_path / "b").drop(columns="wall_seconds"))
    from experiments.batch import read_table
    pd.testing.assert_frame_equal(read_table(tmp_path / "a", "daily", 2, 1), read_table(tmp_path / "b", "daily", 2, 1))
    more = run_batch(keyed(4), square, tmp_path / "c", cache=cache)  # only the new point's runs are computed
    assert (more.ok, more.cached) == (8, 6)
    # a damaged entry is a miss: the run is computed again and the entry rewritten
    entry = next((tmp_path / "cache").rglob("run.parquet"))
    entry.write_bytes(b"not parquet")
    assert run_batch(keyed(4), square, tmp_path / "d", cache=cache).cached == 7
    assert pd.read_parquet(entry).shape[0] == 1


def test_a_stop_event_ends_the_batch_with_the_finished_runs_kept(tmp_path):
    import threading
    stop = threading.Event()
    seen = []

    def after_two(record):
        seen.append(record)
        if len(seen) == 2:
            stop.set()
    with pytest.raises(Interrupted) as caught:
        run_batch(jobs(), square, tmp_path, on_record=after_two, stop=stop)
    assert caught.value.kept == 2 and len(gather(tmp_path)) == 2


def _cache_bytes(root) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.parquet"))


def test_the_run_cache_keeps_to_its_limit_dropping_the_least_recently_used_runs(tmp_path):
    """Every code change makes new keys, so a cache without a limit only grows: `prune` removes the least
    recently used runs (written or read) until it holds at most 90% of its limit; runs being written are
    left alone."""
    from experiments.cache import RunCache
    root = tmp_path / "cache"
    cache = RunCache(root)
    table = {"daily": pd.DataFrame({"day": range(100), "v": np.arange(100.0)})}
    keys = [f"{i:02d}key" for i in range(10)]
    for age, key in enumerate(keys):  # keys[0] written first
        cache.put(key, {"y": float(age), "wall_seconds": 0.0, "sim_seconds": 0.0}, table)
        os.utime(cache.folder(key) / "run.parquet", (1_000_000 + age, 1_000_000 + age))
    one = _cache_bytes(root) / 10
    assert cache.get(keys[0]) is not None  # read now: the most recently used
    writing = root / "ab" / ".abc.123.tmp"
    writing.mkdir(parents=True)
    (writing / "t.parquet").write_bytes(b"x" * int(10 * one))  # a run being written: neither counted nor removed
    limited = RunCache(root, limit=int(7.5 * one))
    assert limited.prune() == 4  # 10 runs' size down to at most 6.75: the four least recently used go
    assert [key for key in keys if key in limited] == [keys[0], *keys[5:]] and writing.is_dir()
    assert limited.prune() == 0 and RunCache(root).prune() == 0  # under the limit, or no limit: nothing more


def test_a_batch_that_stores_runs_cuts_the_cache_to_its_limit(tmp_path):
    from experiments.cache import RunCache
    root = tmp_path / "cache"
    run_batch(keyed(2), square, tmp_path / "a", cache=RunCache(root))  # 4 runs, no limit
    one = _cache_bytes(root) / 4
    more = run_batch(keyed(5), square, tmp_path / "b", cache=RunCache(root, limit=int(5.5 * one)))
    assert (more.ok, more.cached) == (10, 4) and _cache_bytes(root) <= 0.9 * 5.5 * one
    assert len(list(root.rglob("run.parquet"))) == 4  # 10 runs cut to at most 4.95 runs' size


@pytest.mark.parametrize("text, limit", [(None, 2 * 10**9), ("500MB", 5 * 10**8), ("1.5GiB", int(1.5 * 2**30)),
                                         ("123", 123), (" 2 gb ", 2 * 10**9), ("none", None)])
def test_the_run_cache_limit_is_read_from_the_environment(monkeypatch, text, limit):
    from experiments.cache import LIMIT_ENV, cache_limit
    if text is None:
        monkeypatch.delenv(LIMIT_ENV, raising=False)
    else:
        monkeypatch.setenv(LIMIT_ENV, text)
    assert cache_limit() == limit


def test_a_bad_run_cache_limit_is_a_clear_message(tmp_path, monkeypatch):
    from conftest import cli
    monkeypatch.setenv("ECOMSIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ECOMSIM_CACHE_LIMIT", "lots")
    done = cli("compare", str(SCEN / "baseline.yaml"), str(SCEN / "referral.yaml"), "--out", str(tmp_path / "o"),
               *(a for s in TINY for a in ("--set", s)))
    assert done.returncode == 2 and "ECOMSIM_CACHE_LIMIT" in done.stderr and "500MB" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "o").exists()


@pytest.mark.slow
def test_compare_reuses_the_cached_runs_of_any_earlier_comparison(tmp_path, monkeypatch):
    from experiments.comparison import run_comparison
    monkeypatch.setenv("ECOMSIM_CACHE", str(tmp_path / "cache"))
    files = [SCEN / "baseline.yaml", [SCEN / "subsidy_newcomers.yaml"]]
    first = run_comparison(*files, replications=2, out=tmp_path / "one", sets=TINY)
    second = run_comparison(*files, replications=2, out=tmp_path / "two", sets=TINY)
    assert first.stats.cached == 0 and second.stats.cached == 4 == second.stats.ok
    pd.testing.assert_frame_equal(first.table, second.table)
    other_seed = run_comparison(*files, replications=2, out=tmp_path / "three", sets=[*TINY, "seed=5"])
    assert other_seed.stats.cached == 0  # the seed is part of the key
    off = run_comparison(*files, replications=2, out=tmp_path / "four", sets=TINY, cache=False)
    assert off.stats.cached == 0
    pd.testing.assert_frame_equal(first.table, off.table)


@pytest.mark.parametrize("files, cores", [
    ({"cpu.max": "150000 100000\n"}, 2), ({"cpu.max": "50000 100000\n"}, 1), ({"cpu.max": "max 100000\n"}, None),
    ({"cpu.max": "nonsense\n"}, None), ({}, None), ({"cpu.max": "100000 0\n"}, None),
    ({"cpu.max": "-1 100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),  # cgroup v1
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None)])
def test_default_workers_follow_the_cores_allowed_and_a_containers_cpu_quota(tmp_path, files, cores):
    """A container's cgroup quota (cgroup v2 cpu.max, or v1 cfs quota over period: microseconds), rounded up,
    caps the cores a sweep uses by default; no quota, an unreadable or senseless one, or no file at all: the
    cores this process may run on."""
    from sim.runner import usable_cores

    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert usable_cores(tmp_path, tmp_path / "no-proc") == (allowed if cores is None else min(cores, allowed))


@pytest.mark.parametrize("membership, files, cores", [
    ("0::/system.slice/ecomsim.service\n", {"system.slice/ecomsim.service/cpu.max": "100000 100000\n"}, 1),
    # a limit above the process's own cgroup holds too, and the smallest on the path wins
    ("0::/system.slice/ecomsim.service\n", {"system.slice/cpu.max": "150000 100000\n",
                                             "system.slice/ecomsim.service/cpu.max": "max 100000\n"}, 2),
    ("0::/a/b\n", {"cpu.max": "300000 100000\n", "a/cpu.max": "100000 100000\n", "a/b/cpu.max": "200000 100000\n"}, 1),
    ("4:cpu,cpuacct:/docker/abc\n0::/\n", {"cpu/docker/abc/cpu.cfs_quota_us": "100000\n",
                                            "cpu/docker/abc/cpu.cfs_period_us": "100000\n"}, 1),  # cgroup v1
    ("0::/../escape\n", {"../escape/cpu.max": "100000 100000\n"}, None),  # a path out of the root: not followed
    ("not a cgroup line\n", {"cpu.max": "100000 100000\n"}, 1),  # unreadable membership: the root alone
    ("not a cgroup line\n0::/a\n", {"a/cpu.max": "100000 100000\n"}, 1),  # a bad line does not hide the next
    # only the cpu controller's own hierarchy counts (not cpuset's, not a named one)
    ("3:cpuset:/x\n1:name=systemd:/x\n0::/\n", {"cpu/x/cpu.cfs_quota_us": "100000\n",
                                                  "cpu/x/cpu.cfs_period_us": "100000\n"}, None),
    ("0::/\n", {"cpu.max": "--5 100000\n"}, None)])  # not a number: no limit
def test_a_cpu_quota_on_the_processs_own_cgroup_or_above_it_caps_the_cores(tmp_path, membership, files, cores):
    """Outside a container's own cgroup namespace (a systemd service with CPUQuota, a nested container) the
    quota sits in the process's cgroup, named in /proc/self/cgroup, or in one above it, not in the root."""
    from sim.runner import usable_cores

    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (tmp_path / "self").write_text(membership)
    assert usable_cores(root, tmp_path / "self") == (allowed if cores is None else min(cores, allowed))
