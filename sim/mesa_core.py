"""Mesa's Model and Agent, the two classes the model builds on, without the rest of Mesa until it is used.

`import mesa` runs Mesa's package __init__, which imports its whole toolkit at once: the batch runner, the
data collector, the grid and network spaces (networkx) and, in Mesa 3.3, the experimental continuous space
(scipy.spatial): 0.25 s of a run's 1 s of start-up (issue 23). Here mesa.model and mesa.agent are imported
first and the package's __init__ runs when anything else of Mesa is asked for (sim/deferred.py): there is
one Model and one Agent class either way, the ones `mesa.Model` and `mesa.Agent` name.
"""

from __future__ import annotations

from sim.deferred import submodules

_agent, _model = submodules("mesa", "agent", "model")
Agent, Model = _agent.Agent, _model.Model

__all__ = ["Agent", "Model"]
