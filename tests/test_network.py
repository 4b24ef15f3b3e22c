"""Network generators, neighbour shares and the edge-list reader."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from sim.config import NetworkConfig as Network
from sim.errors import ScenarioError
from sim.network import build_network, describe, from_edges, local_clustering, read_edgelist

N = 20_000
SEGMENTS = np.random.default_rng(0).integers(0, 4, N)


def build(kind: str, **kw):
    return build_network(Network(kind=kind, **kw), N, SEGMENTS, np.random.default_rng(1))


@pytest.mark.parametrize("kind", ["erdos_renyi", "watts_strogatz", "barabasi_albert", "stochastic_block"])
def test_generators_give_simple_undirected_graphs_of_the_asked_mean_degree(kind):
    net = build(kind, mean_degree=10)
    a = net.adjacency
    assert (a != a.T).nnz == 0                      # undirected
    assert a.diagonal().sum() == 0                  # no self-loops
    assert a.max() == 1                             # no multi-edges
    assert net.degree.mean() == pytest.approx(10, rel=0.01)
    again = build(kind, mean_degree=10)             # same seed, same graph
    assert (again.adjacency != a).nnz == 0


def test_small_world_clustering_matches_theory_and_networkx():
    net = build("watts_strogatz", mean_degree=10, rewiring_p=0.1)
    ours = local_clustering(net, np.arange(N)).mean()
    reference = nx.average_clustering(nx.from_scipy_sparse_array(net.adjacency))
    assert ours == pytest.approx(reference, rel=1e-9)
    # Barrat & Weigt (2000): C(beta) ~ 3(k-2) / (4(k-1)) (1-beta)^3
    assert ours == pytest.approx(3 * 8 / (4 * 9) * 0.9**3, rel=0.05)
    assert describe(net, np.random.default_rng(2), 3000)["average_clustering"] == pytest.approx(ours, abs=0.02)


def test_random_graph_has_poisson_degrees_and_no_clustering():
    net = build("erdos_renyi", mean_degree=10)
    assert net.degree.var() == pytest.approx(10, rel=0.1)
    assert local_clustering(net, np.arange(2000)).mean() < 0.01


def test_preferential_attachment_has_a_heavy_tail_like_networkx():
    ours = build("barabasi_albert", mean_degree=10).degree
    ref = np.array([d for _, d in nx.barabasi_albert_graph(N, 5, seed=3).degree()])
    assert ours.min() >= 4 and ref.min() == 5
    assert ours.max() > 20 * ours.mean()
    assert np.quantile(ours, 0.99) == pytest.approx(np.quantile(ref, 0.99), rel=0.25)
    assert ours.std() == pytest.approx(ref.std(), rel=0.3)


def test_stochastic_block_keeps_the_asked_share_of_ties_within_segments():
    net = build("stochastic_block", mean_degree=10, homophily=0.8)
    coo = net.adjacency.tocoo()
    within = np.mean(SEGMENTS[coo.row] == SEGMENTS[coo.col])
    by_chance = np.sum((np.bincount(SEGMENTS) / N) ** 2)
    assert within == pytest.approx(0.8 + 0.2 * by_chance, abs=0.01)


def test_neighbour_share_and_pick():
    net = from_edges(5, np.array([0, 0, 1, 3]), np.array([1, 2, 2, 4]))
    members = np.array([False, True, True, False, False])
    np.testing.assert_allclose(net.share(members), [1.0, 0.5, 0.5, 0.0, 0.0])
    picked = net.neighbours(np.array([0, 0, 3]), members, np.array([0.1, 0.9, 0.5]))
    assert list(picked) == [1, 2, -1]


def test_edgelist_reader(tmp_path):
    f = tmp_path / "ties.tsv"
    f.write_text("source\ttarget\n0\t1\n# a comment\n1\t2\n2\t2\n")
    u, v = read_edgelist(str(f), 3, "s.yaml")
    assert list(zip(u, v, strict=True)) == [(0, 1), (1, 2), (2, 2)]
    assert from_edges(3, u, v).degree.tolist() == [1, 2, 1]  # the self-loop is dropped
    f.write_text("0,1\n1,7\n")
    with pytest.raises(ScenarioError, match="line 2: shopper index 7 is out of range; allowed 0 to 2"):
        read_edgelist(str(f), 3, "s.yaml")
    f.write_text("0,1\n1,x\n")
    with pytest.raises(ScenarioError, match="line 2: not a pair of integers"):
        read_edgelist(str(f), 3, "s.yaml")
    with pytest.raises(ScenarioError, match="file not found"):
        read_edgelist(str(tmp_path / "none.csv"), 3, "s.yaml")


def test_complete_graph_is_the_mean_field():
    net = build("complete")
    members = np.zeros(N, dtype=bool)
    members[:500] = True
    assert net.share(members) == pytest.approx(500 / N)
