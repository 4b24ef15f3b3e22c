"""The import graph: layered one way (import-linter contracts in pyproject.toml), no cycles."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import grimp
import networkx as nx
from importlinter.cli import lint_imports

from conftest import ROOT

PACKAGES = ("sim", "agents", "experiments", "studio")


def _graph() -> grimp.ImportGraph:
    # TYPE_CHECKING imports count: a cycle through type hints is still a cycle for a reader
    return grimp.build_graph(*PACKAGES, include_external_packages=False, exclude_type_checking_imports=False)


def test_import_linter_contracts_are_kept():
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0


def test_no_import_cycles():
    graph = _graph()
    edges = nx.DiGraph((m, i) for m in graph.modules for i in graph.find_modules_directly_imported_by(m))
    assert list(nx.simple_cycles(edges)) == []


def test_every_module_has_a_layer():
    """A new module must be placed in the layers contract, or the contract checks nothing about it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    layered = {name.strip() for layer in config["layers"] for name in layer.replace(":", "|").split("|")}
    unplaced = []
    for module in _graph().modules:
        if module in PACKAGES:
            continue
        if not any(module == name or module.startswith(name + ".") for name in layered):
            unplaced.append(module)
    assert unplaced == []


def test_policies_do_not_reach_into_the_model():
    graph = _graph()
    for module in graph.find_children("sim.policies"):
        imported = graph.find_modules_directly_imported_by(module)
        assert not imported & {"sim.model", "sim.runner", "sim.metrics", "sim.scenario"}, module


def test_ruff_finds_nothing():
    """Lint as configured in pyproject.toml ([tool.ruff]): fix what it finds rather than silencing it."""
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
