"""Submodules of a package imported before the package's own __init__ runs (start-up, issue 23).

Some packages import their whole toolkit in their __init__: Mesa 3.3's batch runner, data collector and
spaces (networkx, scipy.spatial: 0.25 s) where the model needs Model and Agent; SciPy's `scipy.special`
its array-API layer (numpy.f2py, numpy.testing: 0.15 s) where the shoppers need one ufunc. `submodules`
imports the submodules asked for under the package as the import system sets it up (its __path__ and
spec), without running its __init__, and the __init__ runs in that module, as the standard import would
have run it, the first time anything else of the package is asked for (`mesa.batch_run`,
`from scipy.special import gammaln`): a deferred import, not a second copy. A package imported already is
used as it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types

_LOCK = threading.RLock()  # one thread runs a deferred __init__; others asking meanwhile wait for it
_RUNNING: set[str] = set()  # packages whose deferred __init__ is running now


class _Deferred(types.ModuleType):
    """A package whose __init__ has not run: it holds the submodules imported so far, and the first
    attribute it does not have runs the __init__ in it (it is then the package, whole, as a plain module)."""

    def __getattr__(self, name: str):
        with _LOCK:
            if type(self) is _Deferred:
                if self.__name__ in _RUNNING:  # asked by its own __init__: not there yet, as in any import
                    raise AttributeError(f"partially initialised module {self.__name__!r} has no attribute {name!r}")
                _RUNNING.add(self.__name__)
                try:
                    self.__spec__.loader.exec_module(self)
                except BaseException:
                    _forget(self.__name__)  # as a failed import: not left half-imported
                    raise
                finally:
                    _RUNNING.discard(self.__name__)
                self.__class__ = types.ModuleType
        return getattr(self, name)


def submodules(package: str, *names: str) -> list[types.ModuleType]:
    """`package.name` for each of `names`, imported without running `package`'s __init__ first."""
    with _LOCK:
        if package not in sys.modules:
            spec = importlib.util.find_spec(package)
            stand_in = importlib.util.module_from_spec(spec)  # __path__, __spec__: its __init__ not run
            stand_in.__class__ = _Deferred
            sys.modules[package] = stand_in
            parent, _, child = package.rpartition(".")
            if parent:
                setattr(sys.modules[parent], child, stand_in)
        try:
            return [importlib.import_module(f"{package}.{name}") for name in names]
        except BaseException:
            if type(sys.modules.get(package)) is _Deferred:
                _forget(package)
            raise


def _forget(package: str) -> None:
    module = sys.modules.get(package)
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]
    parent, _, child = package.rpartition(".")
    if parent in sys.modules and getattr(sys.modules[parent], child, None) is module:
        delattr(sys.modules[parent], child)
