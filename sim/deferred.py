"""Submodules of a package imported before the package's own __init__ runs (start-up, issue 23).

Some packages import their whole toolkit in their __init__: Mesa 3.3's batch runner, data collector and
spaces (networkx, scipy.spatial: 0.25 s) where the model needs Model and Agent; SciPy's `scipy.special`
its array-API layer (numpy.f2py, numpy.testing: 0.15 s) where the shoppers need one ufunc. `submodules`
imports the submodules asked for under a stand-in for the package (its __path__ and spec, its __init__
not run). The first time anything else of the package is asked for (`mesa.batch_run`,
`from scipy.special import gammaln`, `import mesa` after the stand-in), the package is imported the
standard way, through the import system and its locks: its __init__ finds the submodules imported
already and uses them, so there is one copy of each class. The stand-in then answers for the package. A
package imported already is used as it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types

_LOCK = threading.Lock()  # held only to put in or take out a stand-in, never during an import


class _Deferred(types.ModuleType):
    """A package whose __init__ has not run: it holds the submodules imported so far; any other attribute
    imports the package and is taken from it."""

    def __getattr__(self, name: str):
        return getattr(_load(self), name)


def _load(stand_in: _Deferred) -> types.ModuleType:
    """The package `stand_in` stands for, imported the standard way (once, whichever thread asks)."""
    package = stand_in.__name__
    with _LOCK:
        if sys.modules.get(package) is stand_in:
            del sys.modules[package]  # the import system then imports it, its submodules left as they are
    module = importlib.import_module(package)
    for name, child in list(vars(stand_in).items()):  # the submodules imported early: attributes as usual
        if isinstance(child, types.ModuleType) and child.__name__ == f"{package}.{name}" \
                and not hasattr(module, name):
            setattr(module, name, child)
    return module


def submodules(package: str, *names: str) -> list[types.ModuleType]:
    """`package.name` for each of `names`, imported without running `package`'s __init__ first."""
    with _LOCK:
        if package not in sys.modules:
            spec = importlib.util.find_spec(package)
            if spec is None or spec.submodule_search_locations is None:
                raise ModuleNotFoundError(f"no package named {package!r}", name=package)
            stand_in = importlib.util.module_from_spec(spec)  # __path__, __spec__: its __init__ not run
            stand_in.__class__ = _Deferred
            sys.modules[package] = stand_in
    return [importlib.import_module(f"{package}.{name}") for name in names]
