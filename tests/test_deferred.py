"""sim/deferred.py: a package's submodules imported before its __init__, which runs when first needed."""

from __future__ import annotations

import importlib
import sys
import threading
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


def test_the_init_runs_when_anything_else_is_asked_for_and_uses_the_submodules(tmp_path, monkeypatch):
    _package(tmp_path, monkeypatch, "deferred_a", "from deferred_a.core import VALUE\nfrom deferred_a import extra\n"
             "LOADED = True\n")
    (core,) = submodules("deferred_a", "core")
    assert "deferred_a.extra" not in sys.modules  # the __init__ has not run
    package = importlib.import_module("deferred_a")
    assert package.LOADED and package.VALUE is core.VALUE and package.core is core  # one module, not a copy
    whole = sys.modules["deferred_a"]
    assert type(whole) is types.ModuleType and whole.core is core and whole.extra.EXTRA == 1
    from deferred_a import LOADED  # noqa: F401 - `from` works as well
    with pytest.raises(AttributeError):
        getattr(package, "missing")  # noqa: B009


def test_a_failing_init_raises_as_an_import_would_and_a_retry_keeps_the_submodules(tmp_path, monkeypatch):
    """As the standard import: the package is not left imported, the submodules that imported are kept, and
    a later import that succeeds uses them (one class, not two)."""
    _package(tmp_path, monkeypatch, "deferred_b", "import os\nif not os.path.exists(os.path.join(os.path.dirname("
             "__file__), 'ready')):\n    raise ValueError('broken')\nfrom deferred_b.core import VALUE\n")
    (core,) = submodules("deferred_b", "core")
    stand_in = sys.modules["deferred_b"]
    with pytest.raises(ValueError, match="broken"):
        getattr(stand_in, "anything")  # noqa: B009
    assert "deferred_b" not in sys.modules and sys.modules["deferred_b.core"] is core
    (tmp_path / "deferred_b" / "ready").write_text("")
    assert importlib.import_module("deferred_b").VALUE is core.VALUE
    assert stand_in.VALUE is core.VALUE  # the stand-in answers for the package once it is imported


def test_a_package_imported_already_is_used_as_it_is(tmp_path, monkeypatch):
    _package(tmp_path, monkeypatch, "deferred_c", "LOADED = True\n")
    package = importlib.import_module("deferred_c")
    (core,) = submodules("deferred_c", "core")
    assert sys.modules["deferred_c"] is package and package.core is core and type(package) is types.ModuleType


def test_a_missing_submodule_or_package_is_an_import_error(tmp_path, monkeypatch):
    _package(tmp_path, monkeypatch, "deferred_d", "LOADED = True\n")
    with pytest.raises(ImportError):
        submodules("deferred_d", "nowhere")
    assert importlib.import_module("deferred_d").LOADED  # the package itself still imports
    with pytest.raises(ModuleNotFoundError, match="no_such_package"):
        submodules("no_such_package", "core")


def test_threads_asking_at_once_run_the_init_once(tmp_path, monkeypatch):
    _package(tmp_path, monkeypatch, "deferred_e", "import time\nimport deferred_e_count\ndeferred_e_count.runs += 1\n"
             "time.sleep(0.2)\nLOADED = True\n")
    (tmp_path / "deferred_e_count.py").write_text("runs = 0\n")
    submodules("deferred_e", "core")
    stand_in, answers = sys.modules["deferred_e"], []
    start = threading.Barrier(4)

    def ask():
        start.wait()
        answers.append(stand_in.LOADED)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert answers == [True] * 4 and sys.modules["deferred_e_count"].runs == 1
