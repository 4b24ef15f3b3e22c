"""Installation: the shipped files are found however ecomsim is installed, and the pins are complete."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest

from conftest import ROOT
from experiments.library import scenario_file


def test_every_package_is_a_regular_package():
    """A folder without __init__.py is a namespace package: an editable install (pip install -e) gives
    importlib.resources a MultiplexedPath for it, and looking up a shipped scenario crashed."""
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    missing = [p for p in packages if not (ROOT / p.replace(".", "/") / "__init__.py").is_file()]
    assert missing == []


def test_shipped_scenarios_are_found_through_importlib_resources():
    assert isinstance(resources.files("scenarios"), Path)
    assert scenario_file("bench.yaml").is_file()
    assert scenario_file("validation/cdnow_cohort.yaml").is_file()


def test_the_pins_cover_every_dependency():
    """constraints.txt pins every dependency pyproject names (and the dev tools), with ==."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    names = {w.split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower() for w in wanted}
    pinned = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned with ==: {line}"
            pinned[name.strip().lower().replace("_", "-")] = version
    assert sorted(names - set(pinned)) == []


def test_a_sweeps_latin_hypercube_does_not_import_scipy_stats():
    """Issue 23: the design of a Latin-hypercube sweep (and of lever x uncertainty) is drawn without
    scipy.stats, 0.8 s of imports in the sweep's serial start-up that no run needs."""
    import subprocess
    import sys
    code = ("import sys; from experiments.sweeps import design_points, load_spec; "
            "spec = load_spec('experiments/bench_sweep.yaml'); assert len(design_points(spec)) == 10; "
            "print('scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "ECOMSIM_CACHE": "off"})
    assert out.stdout.strip() == "False", out.stdout + out.stderr


def test_a_run_reaches_day_0_without_importing_what_only_other_commands_need():
    """Start-up (issue 23): loading a scenario, building the market and running its days (no progress bar)
    import no charting, table, cluster, sensitivity, report or studio library; they come when used."""
    import subprocess
    import sys
    code = ("import sys; import sim.runner; from sim.model import MarketModel; from conftest import small_scenario; "
            "MarketModel(small_scenario('simulation.days=3')).run(); "
            "heavy = ('matplotlib', 'dask', 'distributed', 'SALib', 'jinja2', "
            "'scipy.optimize', 'scipy.stats', 'panel', 'bokeh', 'mesa.space', 'mesa.batchrunner', 'networkx', "
            "'scipy.sparse', 'scipy._lib._array_api', 'numpy.f2py', 'pandas', 'pyarrow', 'tqdm'); "
            "print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "tests", capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "ECOMSIM_CACHE": "off"})
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.slow
def test_bench_against_mesa_runs_both_models_and_prints_the_ratio():
    """`run.py bench --against-mesa` (issue 23): ecomsim end to end and the plain Mesa reference at one size
    (tiny here: what is checked is that both run and the line is printed, not the speed)."""
    from conftest import cli
    done = cli("bench", "--against-mesa", "--set", "shoppers.count=1500", "--days", "5")
    assert done.returncode == 0, done.stderr
    assert "1,500 shoppers x 5 simulated days" in done.stdout and "ns per shopper-day" in done.stdout
    assert "the Mesa reference costs" in done.stdout and "orders)" in done.stdout
    assert "mean of a run before and after the reference" in done.stdout  # bracketing: the same machine speed
    assert "in CPU time" in done.stdout and "CPU " in done.stdout  # the charts' second core is not hidden


@pytest.mark.slow
def test_bench_batch_sweeps_on_one_two_and_one_workers_and_prints_the_ratio(tmp_path):
    """`run.py bench --batch SWEEP` (issue 23): the sweep on 1, 2 and 1 workers (--rounds 1), each `run.py sweep` in a
    process of its own (tiny here: what is checked is the three sweeps and the lines, not the speed)."""
    from conftest import cli
    from sim.runner import usable_cores
    if usable_cores() < 2:
        pytest.skip("compares 2 workers with 1: needs 2 cores")
    spec = tmp_path / "tiny.yaml"
    spec.write_text(f"name: tiny\nbase: {ROOT / 'scenarios' / 'bench.yaml'}\n"
                    "sets: [shoppers.count=1500, shoppers.represents=1500, simulation.days=5, "
                    "simulation.warmup_days=0, merchants.count=20]\n"
                    "levers:\n  - {path: platform.take_rate, low: 0.08, high: 0.20}\n"
                    "design: {kind: latin_hypercube, n: 2, seed: 1}\nreplications: 2\nkpis: [gmv, orders]\n")
    done = cli("bench", "--batch", "tiny.yaml", "--rounds", "1", cwd=tmp_path)  # a path from where the user is
    assert done.returncode == 0, done.stderr
    assert "4 runs of tiny" in done.stdout and "on 1, 2, 1 workers in turn" in done.stdout
    assert "sweep 2 of 3: tiny on 2 workers" in done.stderr  # a minute each at bench size: it says which runs
    rows = [line for line in done.stdout.splitlines() if "s by the clock" in line]
    assert [line.split()[0] for line in rows] == ["1", "2", "1"]
    assert "ratio: 2 workers took" in done.stdout and "at most 0.55x" in done.stdout
    assert "had they simulated at the same speed" in done.stdout and "under 5%" in done.stdout


def test_bench_batch_ratio_brackets_the_two_worker_sweep_and_separates_the_machines_drift():
    """The ratio is the two-worker sweep against the mean of the one-worker sweeps around it; the drift line
    puts the one-worker simulation speed into the two-worker sweep (figures of docs/performance.md)."""
    from experiments.bench import format_batch_ratio
    sweeps = [{"workers": 1, "wall_s": 70.60, "cpu_s": 71.0, "sim_s": 67.0, "overhead_share": 0.013, "runs": 20},
              {"workers": 2, "wall_s": 39.02, "cpu_s": 74.0, "sim_s": 69.7, "overhead_share": 0.030, "runs": 20},
              {"workers": 1, "wall_s": 72.38, "cpu_s": 73.0, "sim_s": 69.0, "overhead_share": 0.012, "runs": 20}]
    text = format_batch_ratio({"name": "bench_sweep", "path": "experiments/bench_sweep.yaml", "sweeps": sweeps})
    assert "2 workers took 0.546x the time of 1 (39.0 s against 71.5 s" in text  # 39.02 / 71.49
    assert "the runs simulated 2.5% slower in the 2-worker sweep" in text  # 69.7 / 68.0
    # (39.02 - 69.7 / 2 + 68.0 / 2) / 71.49
    assert "the ratio would have been 0.534x" in text
    assert "1.3% on 1, 3.0% on 2, 1.2% on 1" in text
    faster = [dict(s, sim_s=s["sim_s"] - 10 * (s["workers"] == 2)) for s in sweeps]
    assert "faster in the 2-worker sweep" in format_batch_ratio({"name": "x", "path": "x", "sweeps": faster})


def test_bench_batch_gives_each_round_and_their_median():
    """Several rounds (1, 2, 1, 2, 1 workers): each two-worker sweep against the one-worker sweeps either side,
    and the median of their ratios, which one slow minute of the machine does not move."""
    from experiments.bench import batch_ratio, batch_workers, format_batch_ratio
    assert batch_workers(1) == (1, 2, 1) and batch_workers(3) == (1, 2, 1, 2, 1, 2, 1)
    for unbracketed in [(2,), (1,), (1, 2), (2, 1, 2), (1, 1, 1)]:
        with pytest.raises(ValueError, match="one-worker sweeps around each"):
            batch_ratio("never read.yaml", unbracketed)
    walls, sims = [60.0, 33.0, 62.0, 40.0, 58.0, 31.0, 60.0], [57.0, 58.5, 59.0, 70.0, 55.0, 57.0, 57.0]
    sweeps = [{"workers": w, "wall_s": wall, "cpu_s": wall, "sim_s": sim, "overhead_share": 0.02, "runs": 20}
              for w, wall, sim in zip(batch_workers(3), walls, sims, strict=True)]
    text = format_batch_ratio({"name": "bench_sweep", "path": "bench_sweep.yaml", "sweeps": sweeps})
    # rounds: 33 / 61 = 0.541, 40 / 60 = 0.667, 31 / 59 = 0.525: the median is the first
    assert "2 workers took 0.541x the time of 1, the median of 3 rounds (0.525x to 0.667x; 2 of 3 at most 0.55x" in text
    # the slow round's runs: 70 / 57 (59 and 55 either side); at the one-worker sweeps' speed
    # (40 - 70 / 2 + 57 / 2) / 60 = 0.558
    assert "0.667x the mean of the one-worker sweeps either side (60.0 s); its runs simulated 22.8% slower" in text
    assert "at their speed it would have been 0.558x" in text
    assert "+0.9% to +22.8% more simulation time in the 2-worker sweeps" in text  # 58.5 / 58 in the first


def test_bench_batch_needs_every_run_of_each_sweep_and_a_readable_manifest(tmp_path):
    """A sweep that lost or failed runs, or left no manifest, is one clear message, not a timing or a traceback."""
    import json

    from experiments.bench import _manifest_times
    from sim.errors import ScenarioError
    with pytest.raises(ScenarioError, match="no readable manifest.json"):
        _manifest_times(tmp_path, 2, "spec.yaml")
    manifest = {"runs": 20, "failed": 1, "lost": 0, "problems": ["1 failed: see the error column"],
                "this_time": {"simulation_seconds": 60.0, "overhead_share": 0.02}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ScenarioError, match="1 run.s. failed and 0 were lost on 2 worker.s., and a timing needs every "
                       "run: 1 failed: see the error column"):
        _manifest_times(tmp_path, 2, "spec.yaml")
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "failed": 0, "problems": []}))
    assert _manifest_times(tmp_path, 2, "spec.yaml") == {"runs": 20, "sim_s": 60.0, "overhead_share": 0.02}


@pytest.mark.parametrize("extra", [["--set", "seed=3"], ["--days", "5"], ["scenarios/baseline.yaml"]])
def test_bench_batch_refuses_what_its_sweep_spec_decides(extra):
    from conftest import cli
    done = cli("bench", "--batch", *extra) if extra[0].startswith("-") else cli("bench", *extra, "--batch")
    assert done.returncode == 2 and "takes a sweep spec only" in done.stderr, done.stderr


@pytest.mark.parametrize("args, said", [(["--batch", "--rounds", "0"], "a whole number of at least 1, not 0"),
                                        (["--rounds", "2"], "goes with --batch")])
def test_bench_batch_rounds_are_checked(args, said):
    from conftest import cli
    done = cli("bench", *args)
    assert done.returncode == 2 and "--rounds" in done.stderr and said in done.stderr, done.stderr


def test_bench_batch_names_a_missing_spec(tmp_path):
    from conftest import cli
    done = cli("bench", "--batch", str(tmp_path / "missing.yaml"))
    assert done.returncode == 2 and "missing.yaml" in done.stderr and "not found" in done.stderr, done.stderr


@pytest.mark.parametrize("first", ["sim.model", "mesa"])
def test_mesa_is_one_package_whichever_is_imported_first(first):
    """sim/mesa_core.py imports Mesa's Model and Agent without the rest of Mesa (issue 23, start-up); the
    package is still whole when used, with the same two classes, whichever is imported first."""
    import subprocess
    import sys
    code = (f"import sys, importlib; importlib.import_module({first!r}); from sim.model import MarketModel; "
            "lazy = 'mesa.space' not in sys.modules; import mesa, mesa.model, mesa.agent; "
            "from mesa import DataCollector; from agents.platform import Platform; "
            "assert MarketModel.__mro__[1] is mesa.Model is mesa.model.Model; "
            "assert Platform.__mro__[1] is mesa.Agent; "
            "assert callable(mesa.batch_run) and mesa.__version__ and DataCollector and 'mesa.space' in sys.modules; "
            "print(lazy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "ECOMSIM_CACHE": "off"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(first == "sim.model")  # imported first, Mesa's toolkit is not imported
