"""sim/deferred.py: a package's submodules imported before its __init__, which runs when first needed."""

from __future__ import annotations

import importlib
import sys
import types

import pytest

from sim.deferred import submodules


def _package(tmp_path, monkeypatch, name: str, init: str) -> None:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "__init__.py").write_text(init)
    (folder / "core.py").write_text("VALUE = object()\n")
    (folder / "extra.py").write_text("EXTRA = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))  # what the tests import is forgotten after


def test_the_init_runs_in_place_when_anything_else_is_asked_for(tmp_path, monkeypatch):
    _package(tmp_path, monkeypatch, "deferred_a", "from deferred_a.core import VALUE\nfrom deferred_a import extra\n"
             "LOADED = True\n")
    (core,) = submodules("deferred_a", "core")
    assert "deferred_a.extra" not in sys.modules  # the __init__ has not run
    package = importlib.import_module("deferred_a")
    assert package.LOADED and package.VALUE is core.VALUE and package.core is core  # one module, not a copy
    assert type(package) is types.ModuleType and package.extra.EXTRA == 1
    from deferred_a import LOADED  # noqa: F401 - `from` works as well
    with pytest.raises(AttributeError):
        getattr(package, "missing")  # noqa: B009


def test_a_failing_init_raises_and_leaves_nothing_half_imported(tmp_path, monkeypatch):
    _package(tmp_path, monkeypatch, "deferred_b", "raise ValueError('broken')\n")
    submodules("deferred_b", "core")
    package = sys.modules["deferred_b"]
    with pytest.raises(ValueError, match="broken"):
        getattr(package, "anything")  # noqa: B009
    assert "deferred_b" not in sys.modules and "deferred_b.core" not in sys.modules
    with pytest.raises(ValueError, match="broken"):
        importlib.import_module("deferred_b")  # as an ordinary import of it would


def test_a_package_imported_already_is_used_as_it_is(tmp_path, monkeypatch):
    _package(tmp_path, monkeypatch, "deferred_c", "LOADED = True\n")
    package = importlib.import_module("deferred_c")
    (core,) = submodules("deferred_c", "core")
    assert sys.modules["deferred_c"] is package and package.core is core and type(package) is types.ModuleType


def test_a_missing_submodule_is_an_import_error_and_no_stand_in_is_left(tmp_path, monkeypatch):
    _package(tmp_path, monkeypatch, "deferred_d", "LOADED = True\n")
    with pytest.raises(ImportError):
        submodules("deferred_d", "nowhere")
    assert "deferred_d" not in sys.modules
    assert importlib.import_module("deferred_d").LOADED
