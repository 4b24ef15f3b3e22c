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
