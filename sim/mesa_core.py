"""Mesa's Model and Agent, the two classes the model builds on, without the rest of Mesa (issue 23).

`import mesa` runs Mesa's package __init__, which imports its whole toolkit at once: the batch runner, the
data collector, the grid and network spaces (networkx) and, in Mesa 3.3, the experimental continuous space
(scipy.spatial): 0.25 s of a run's 1 s of start-up, for a model that subclasses only Model and Agent.

Here `mesa.model` and `mesa.agent` are imported as submodules of the package before its __init__ has run,
and the __init__ runs the first time anything else of the package is asked for (`mesa.batch_run`,
`from mesa import DataCollector`, `mesa.__version__`): the standard import, deferred. There is one Model
and one Agent class either way, the ones `mesa.Model` and `mesa.Agent` name. When Mesa was imported
already, it is used as it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


class _Deferred(types.ModuleType):
    """The `mesa` package while its __init__ has not run: it holds the submodules imported so far, and
    the first attribute it does not have runs the __init__ in it (after which it is Mesa's package,
    whole, and this class is gone from it)."""

    def __getattr__(self, name: str):
        self.__class__ = types.ModuleType
        self.__spec__.loader.exec_module(self)
        return getattr(self, name)


def _import() -> tuple[type, type]:
    if "mesa" not in sys.modules:
        spec = importlib.util.find_spec("mesa")
        package = importlib.util.module_from_spec(spec)  # the package's attributes, its __init__ not run
        package.__class__ = _Deferred
        sys.modules["mesa"] = package
        try:
            importlib.import_module("mesa.agent")
            importlib.import_module("mesa.model")
        except BaseException:
            for name in [m for m in sys.modules if m == "mesa" or m.startswith("mesa.")]:
                del sys.modules[name]  # nothing half-imported is left; the error is Mesa's own
            raise
    agent, model = sys.modules["mesa.agent"], sys.modules["mesa.model"]
    return model.Model, agent.Agent


Model, Agent = _import()

__all__ = ["Agent", "Model"]
