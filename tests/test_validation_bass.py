"""Bass diffusion on the network (DESIGN.md section 5; Bass 1969; Rahmandad & Sterman 2008).

On a dense random graph each prospect's share of customer neighbours is close to the
population share, so adoption follows the Bass curve; tolerance 0.03 absolute adoption share
at every tenth day. Joins decided on day d are counted at the end of day d, so the model's
day d is compared with F(d + 1).
"""

from __future__ import annotations

import numpy as np
import pytest

from experiments.validation import _adoption as adoption_of
from sim.bgnbd import bass_cumulative


def adoption(*sets: str):
    return adoption_of(list(sets))


@pytest.mark.parametrize("sets", [
    [],
    pytest.param(["acquisition.innovation_p=0.003", "acquisition.imitation_q=0.015"], marks=pytest.mark.slow),
    pytest.param(["network.kind=complete"], marks=pytest.mark.slow),
], ids=["default", "slower", "complete"])
def test_dense_random_graph_follows_the_bass_cumulative(sets):
    share, p, q = adoption(*sets)
    days = np.arange(0, share.size, 10)
    expected = bass_cumulative(days + 1.0, p, q)
    assert np.abs(share[days] - expected).max() < 0.03
    assert share[-1] > 0.5  # the comparison covers the take-off, not just the start


@pytest.mark.slow
def test_clustered_small_world_diffuses_more_slowly_than_a_random_graph():
    """Rahmandad & Sterman (2008): clustering slows word of mouth at the same mean degree."""
    common = ["network.mean_degree=6", "acquisition.innovation_p=0.0005", "acquisition.imitation_q=0.15"]
    random_graph, _, _ = adoption(*common, "network.kind=erdos_renyi")
    lattice, _, _ = adoption(*common, "network.kind=watts_strogatz", "network.rewiring_p=0.01")
    half = lambda s: int(np.argmax(s >= 0.5)) if (s >= 0.5).any() else s.size  # noqa: E731
    assert half(lattice) > half(random_graph) + 10
    assert lattice[60] < random_graph[60] - 0.1
