"""The shoppers' social network: built once, stored as a sparse adjacency (CSR), used daily.

Generators are vectorised with numpy so that 1,000,000 shoppers with mean degree 10 build in
seconds; each produces an undirected simple graph (self-loops and duplicate ties dropped):

- complete: everyone hears from everyone (mean field; no adjacency is stored);
- erdos_renyi: n k / 2 uniformly random ties (Erdos & Renyi 1959, G(n, m));
- watts_strogatz: a ring lattice of k neighbours, each tie rewired with probability beta
  (Watts & Strogatz 1998);
- barabasi_albert: preferential attachment, m = k / 2 ties per new node (Barabasi & Albert
  1999), drawn as a linearised chord diagram: a new tie's far end copies a uniformly chosen
  earlier tie end, resolved for all ties at once by pointer jumping;
- stochastic_block: ties within the shopper's segment with probability `homophily`,
  otherwise to anyone (a stochastic block model by segment);
- edgelist: a CSV/TSV of shopper index pairs.

The daily step needs one thing: for each shopper, the share of its neighbours in a set
(recommending customers, eligible referrers). `NeighbourCounts` keeps each shopper's count of
neighbours in the set and updates it when a shopper enters or leaves the set: the work of a day
is the changed shoppers' ties, not every tie (one sparse product over all edges a day, as before,
cost a cache miss per tie on random graphs).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from sim.arrays import in_sorted, run_starts
from sim.config import NetworkConfig
from sim.errors import ScenarioError


@dataclass
class SocialNetwork:
    """The ties as a compressed sparse row adjacency in two numpy arrays (None for the complete graph):
    shopper i's neighbours are indices[indptr[i]:indptr[i + 1]], ascending; and the degrees."""

    n: int
    indptr: np.ndarray | None
    indices: np.ndarray | None
    degree: np.ndarray

    @property
    def complete(self) -> bool:
        return self.indptr is None

    @property
    def adjacency(self):
        """The adjacency as a SciPy sparse matrix (ones), for analysis and checks; None when complete. The
        model reads indptr and indices (SciPy is not imported by a run)."""
        if self.indptr is None:
            return None
        from scipy import sparse
        return sparse.csr_matrix((np.ones(self.indices.size, dtype=np.float32), self.indices, self.indptr),
                                 shape=(self.n, self.n))

    def share(self, members: np.ndarray) -> np.ndarray | float:
        """Per shopper, the share of its neighbours in `members` (bool); a scalar when complete."""
        if self.indptr is None:
            return float(members.mean())
        counts = np.bincount(np.repeat(np.arange(self.n), self.degree), weights=members[self.indices],
                             minlength=self.n)
        return np.divide(counts, self.degree, out=np.zeros(self.n, dtype=np.float64), where=self.degree > 0)

    def ties(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The neighbours of `rows` (adjacency required), and for each of them its row's position in `rows`."""
        indptr = self.indptr
        starts = indptr[rows]
        lengths = indptr[rows + 1] - starts
        owner = np.repeat(np.arange(rows.size), lengths)
        # tie k of the output is at starts[row] + k - (the output position of the row's first tie)
        shift = starts - (np.cumsum(lengths) - lengths)
        return self.indices[np.arange(owner.size) + shift[owner]], owner

    def neighbours(self, rows: np.ndarray, members: np.ndarray, u: np.ndarray) -> np.ndarray:
        """For each row, one neighbour in `members` chosen by uniform `u` (-1 if it has none)."""
        if self.indptr is None:
            pool = np.flatnonzero(members)
            if pool.size == 0:
                return np.full(rows.size, -1)
            return pool[np.minimum((u * pool.size).astype(np.int64), pool.size - 1)]
        neighbour, owner = self.ties(rows)
        kept = members[neighbour]
        neighbour, owner = neighbour[kept], owner[kept]  # still grouped by row, in the adjacency's order
        count = np.bincount(owner, minlength=rows.size)
        out = np.full(rows.size, -1, dtype=np.int64)
        has = count > 0
        first = np.cumsum(count) - count
        pos = first[has] + np.minimum((u[has] * count[has]).astype(np.int64), count[has] - 1)
        out[has] = neighbour[pos]
        return out


class NeighbourCounts:
    """Per shopper, how many of its neighbours are in a set of shoppers, kept up to date by the set's changes.

    `update(members)` compares the new set with the last one and walks only the ties of the shoppers who
    entered or left it (+1 or -1 at each neighbour): the same counts as a sparse product over every tie,
    at the cost of the day's changes. On the complete graph the count is the set's size (no ties stored).
    """

    def __init__(self, network: SocialNetwork, track_changes: bool = False) -> None:
        self.network = network
        self.members = np.zeros(network.n, dtype=bool)
        self.size = 0  # shoppers in the set
        self.count = None if network.complete else np.zeros(network.n, dtype=np.int32)
        self.has_member = None if network.complete else np.zeros(network.n, dtype=bool)  # count > 0
        self.shares = None if network.complete else np.zeros(network.n)  # count / degree, kept with the counts
        self.changes: list[np.ndarray] | None = [] if track_changes else None  # shoppers whose count changed

    def update(self, members: np.ndarray) -> None:
        """The set is now `members` (bool per shopper): one pass to find who changed, then their ties."""
        changed = np.flatnonzero(members != self.members)
        self.set(changed, members[changed])

    def set(self, idx: np.ndarray, status: np.ndarray) -> None:
        """Shoppers `idx` (distinct) are now in the set where `status` (aligned) is True, out where False."""
        moved = status != self.members[idx]
        changed, entered = idx[moved], status[moved]
        if changed.size == 0:
            return
        self.members[changed] = entered
        self.size += int(np.count_nonzero(entered)) * 2 - changed.size
        if self.count is not None:
            neighbour, owner = self.network.ties(changed)
            np.add.at(self.count, neighbour, np.where(entered, 1, -1).astype(np.int32)[owner])
            self.has_member[neighbour] = self.count[neighbour] > 0
            self.shares[neighbour] = self.count[neighbour] / self.network.degree[neighbour]  # a neighbour has ties
            if self.changes is not None:
                self.changes.append(neighbour)

    def share(self, idx: np.ndarray) -> np.ndarray | float:
        """The share of each shopper in `idx`'s neighbours in the set (a scalar on the complete graph: the
        set's share of all shoppers, as SocialNetwork.share)."""
        if self.count is None:
            return self.size / self.network.n
        return self.shares[idx]

    def reached(self) -> np.ndarray | None:
        """Whether each shopper has a neighbour in the set (bool, read only: kept as the counts change; None on
        the complete graph: everyone alike)."""
        return self.has_member

    def take_changes(self) -> np.ndarray:
        """The shoppers whose count changed since the last call (a shopper may appear more than once;
        track_changes=True)."""
        changed = np.concatenate(self.changes) if self.changes else np.zeros(0, dtype=np.int64)
        self.changes = []
        return changed


class KeptSet:
    """A set of shoppers (with its NeighbourCounts) kept current from the shoppers whose state changed,
    without a pass over every shopper: a shopper can enter or leave only the day after it was touched
    (it joined, bought, dropped out, ...) or, when the set has a time window, `expires` days after its last
    touch (its last purchase leaves the window). On those days `rule(day, who)` says which of `who` are
    in. The first day is one pass over every shopper; then `since(who)` gives each member's last touch."""

    def __init__(self, counts: NeighbourCounts, rule, expires: int | None, since) -> None:
        self.counts, self.rule, self.expires, self.since = counts, rule, expires, since
        self.touched: dict[int, list[np.ndarray]] | None = None  # None: not started

    @property
    def members(self) -> np.ndarray:
        """Whether each shopper is in the set (bool; read only)."""
        return self.counts.members

    def _start(self, day: int) -> None:
        members = self.rule(day, slice(None))
        self.counts.update(members)
        self.touched = {}
        who = np.flatnonzero(members)
        if self.expires is not None and who.size:  # members leave the window counted from their last touch
            last = self.since(who)
            order = np.argsort(last, kind="stable")
            days, starts = np.unique(last[order], return_index=True)
            for d, group in zip(days.tolist(), np.split(who[order], starts[1:]), strict=True):
                self.touched[d] = [group]

    def touch(self, day: int, who: np.ndarray) -> None:
        """Shoppers whose state changed on `day`."""
        if self.touched is not None:
            self.touched.setdefault(day, []).append(who)

    def advance(self, day: int) -> None:
        """The set at the start of `day`, from the one the day before (a pass over everyone the first time)."""
        if self.touched is None:
            self._start(day)
            return
        days = [day - 1] if self.expires is None else [day - 1, day - self.expires]
        parts = [x for d in days for x in self.touched.get(d, [])]
        oldest = day - max(1, self.expires or 1)  # touches before it can no longer change the set
        for d in [d for d in self.touched if d < oldest]:
            del self.touched[d]
        if not parts:
            return
        who = np.unique(np.concatenate(parts))
        self.counts.set(who, self.rule(day, who))


def build_network(cfg: NetworkConfig, n: int, segment: np.ndarray, rng: np.random.Generator,
                  source: str = "scenario") -> SocialNetwork:
    """Build the configured graph over n shoppers."""
    k = cfg.mean_degree
    if cfg.kind == "complete":
        return SocialNetwork(n, None, None, np.full(n, n - 1, dtype=np.int64))
    if cfg.kind == "erdos_renyi":
        u, v = _erdos_renyi(n, k, rng)
    elif cfg.kind == "watts_strogatz":
        u, v = _watts_strogatz(n, int(k), cfg.rewiring_p, rng)
    elif cfg.kind == "barabasi_albert":
        u, v = _barabasi_albert(n, int(k) // 2, rng)
    elif cfg.kind == "stochastic_block":
        u, v = _stochastic_block(n, k, cfg.homophily, segment, rng)
    else:
        u, v = read_edgelist(cfg.edgelist_file, n, source)
    return from_edges(n, u, v)


def from_edges(n: int, u: np.ndarray, v: np.ndarray) -> SocialNetwork:
    """Undirected simple graph from index pairs: self-loops and duplicates dropped."""
    keep = u != v
    lo, hi = np.minimum(u[keep], v[keep]).astype(np.int64), np.maximum(u[keep], v[keep]).astype(np.int64)
    key = np.sort(lo * n + hi)  # distinct pairs, sorted (np.unique's hashing took 4 s at 5 million ties)
    key = key[run_starts(key)]
    lo, hi = np.divmod(key, n)
    return SocialNetwork(n, *_csr(n, lo, hi))


def _csr(n: int, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """indptr, indices and degree of the undirected ties lo < hi, distinct and sorted by (lo, hi): each
    shopper's neighbours ascending, the smaller ones (ties where it is `hi`, sorted by (hi, lo)) first, then
    the larger (where it is `lo`, in the given order). Index types as SciPy's CSR: 32 bits while they fit."""
    below, above = np.bincount(hi, minlength=n), np.bincount(lo, minlength=n)  # smaller, larger neighbours
    degree = below + above
    wide = max(2 * lo.size, n) >= 2 ** 31
    indptr = np.zeros(n + 1, dtype=np.int64 if wide else np.int32)
    np.cumsum(degree, out=indptr[1:])
    indices = np.empty(2 * lo.size, dtype=np.int64 if wide else np.int32)
    by_hi = np.sort(hi * n + lo)
    small, big = np.divmod(by_hi, n)  # (hi, lo) sorted: each shopper's smaller neighbours, ascending
    # Shopper v's smaller neighbours fill indptr[v] onwards, its larger ones follow them. In an array sorted
    # by shopper, element i is number i - (elements before v's run) of v's run, so its slot is i plus
    # indptr[v] less the run's start: for `small`, the larger neighbours of the shoppers before v; for
    # `lo`, their smaller neighbours and v's own (cumulative sums of the counts, no pass over runs)
    place = np.arange(lo.size)
    indices[place + (np.cumsum(above) - above)[small]] = big
    indices[place + np.cumsum(below)[lo]] = hi
    return indptr, indices, degree.astype(np.int64)


def _erdos_renyi(n: int, k: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    m = int(round(n * k / 2))
    draw = int(m * 1.02) + 100  # a few extra pairs cover self-loops and duplicates
    u, v = rng.integers(0, n, draw), rng.integers(0, n, draw)
    keep = u != v
    u, v = u[keep], v[keep]
    key = np.minimum(u, v).astype(np.int64) * n + np.maximum(u, v)
    _, first = np.unique(key, return_index=True)
    first = np.sort(first)[:m]  # the first m distinct pairs in draw order
    return u[first], v[first]


def _watts_strogatz(n: int, k: int, beta: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    base = np.arange(n)
    u = np.concatenate([base for _ in range(k // 2)])
    v = np.concatenate([np.roll(base, -j) for j in range(1, k // 2 + 1)])  # (base + j) % n
    rewire = rng.random(u.size) < beta  # v is concatenate's own array: rewired in place
    v[rewire] = rng.integers(0, n, int(rewire.sum()))
    return u, v


def _barabasi_albert(n: int, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Preferential attachment: each node from m on adds m ties; far ends drawn in proportion to degree."""
    new_nodes = np.arange(m, n)
    src = np.repeat(new_nodes, m)
    e = src.size
    # slot layout: m seed slots (nodes 0..m-1), then per tie: [source slot, target slot]
    seed = m
    value = np.full(seed + 2 * e, -1, dtype=np.int64)
    value[:seed] = np.arange(m)
    value[seed::2] = src
    # a node's ties may copy any slot that existed before the node arrived
    first_tie = (src - m) * m
    limit = seed + 2 * first_tie
    pointer = (rng.random(e) * limit).astype(np.int64)
    target_slots = np.arange(seed + 1, seed + 2 * e, 2)
    link = np.arange(value.size)
    link[target_slots] = pointer
    for _ in range(64):  # pointer jumping: every chain ends at a seed or source slot
        unresolved = value[link] < 0
        if not unresolved.any():
            break
        link[unresolved] = link[link[unresolved]]
    value[target_slots] = value[link[target_slots]]
    return src, value[target_slots]


def _stochastic_block(n: int, k: float, homophily: float, segment: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    m = int(round(n * k / 2 * 1.02)) + 100
    order = np.argsort(segment, kind="stable")
    counts = np.bincount(segment, minlength=int(segment.max()) + 1)
    start = np.r_[0, np.cumsum(counts)[:-1]]
    u = rng.integers(0, n, m)
    inside = rng.random(m) < homophily
    seg = segment[u]
    within = order[start[seg] + (rng.random(m) * counts[seg]).astype(np.int64)]
    v = np.where(inside, within, rng.integers(0, n, m))
    keep = u != v
    u, v = u[keep], v[keep]
    key = np.minimum(u, v).astype(np.int64) * n + np.maximum(u, v)
    _, first = np.unique(key, return_index=True)
    first = np.sort(first)[: int(round(n * k / 2))]
    return u[first], v[first]


def read_edgelist(path: str | None, n: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs from a CSV or TSV file (two integer columns, optional header, '#' comments).

    Read once per (file, version, shoppers): the scenario loader checks the file and the model
    then gets the same arrays.
    """
    field = "network.edgelist_file"
    if not path or not Path(path).is_file():
        raise ScenarioError(source, field, f"{path}: file not found")
    stat = Path(path).stat()
    return _read_edgelist_cached(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size, n, source)


@lru_cache(maxsize=2)
def _read_edgelist_cached(path: str, mtime: int, size: int, n: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    field = "network.edgelist_file"
    try:
        frame = pd.read_csv(path, sep=None, engine="python", header=None, comment="#", dtype=str)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ScenarioError(source, field, f"{path}: cannot read the edge list ({exc})") from None
    if frame.shape[1] < 2:
        raise ScenarioError(source, field, f"{path}: needs two columns of shopper indices (got {frame.shape[1]})")
    frame = frame.iloc[:, :2]
    if not frame.iloc[0].str.strip().str.lstrip("-").str.isdigit().all():
        frame = frame.iloc[1:]  # a header row
    values = frame.apply(lambda col: pd.to_numeric(col.str.strip(), errors="coerce"))
    bad = values.isna().any(axis=1) | (values % 1 != 0).any(axis=1)
    if bad.any():
        line = int(bad.idxmax()) + 1
        raise ScenarioError(source, field, f"{path}: line {line}: not a pair of integers")
    pairs = values.to_numpy(dtype=np.int64)
    out = (pairs < 0) | (pairs >= n)
    if out.any():
        row = int(np.flatnonzero(out.any(axis=1))[0])
        line = int(frame.index[row]) + 1
        raise ScenarioError(source, field, f"{path}: line {line}: shopper index {int(pairs[row][out[row]][0])} "
                            f"is out of range; allowed 0 to {n - 1} (shoppers.count = {n})")
    if pairs.shape[0] == 0:
        raise ScenarioError(source, field, f"{path}: no edges")
    return pairs[:, 0], pairs[:, 1]


def describe(net: SocialNetwork, rng: np.random.Generator, sample: int = 2000) -> dict[str, Any]:
    """Degree distribution and (sampled) average clustering, for the run manifest."""
    if net.complete:
        return {"nodes": net.n, "mean_degree": float(net.n - 1), "clustering": 1.0}
    deg = net.degree
    edges = int(deg.sum() // 2)
    nodes = rng.choice(net.n, size=min(sample, net.n), replace=False)
    clustering = float(np.mean(local_clustering(net, nodes)))
    hist = np.bincount(deg)
    top = np.flatnonzero(hist)
    quantiles = np.quantile(deg, [0.5, 0.9, 0.99])
    return {
        "nodes": net.n, "edges": edges, "mean_degree": float(deg.mean()), "sd_degree": float(deg.std()),
        "min_degree": int(deg.min()), "max_degree": int(deg.max()),
        "median_degree": float(quantiles[0]), "p90_degree": float(quantiles[1]), "p99_degree": float(quantiles[2]),
        "isolated": int((deg == 0).sum()),
        "degree_histogram": {int(d): int(hist[d]) for d in top[:200]},
        "average_clustering": clustering, "clustering_sample_nodes": int(nodes.size),
    }


def local_clustering(net: SocialNetwork, nodes: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Local clustering coefficient of `nodes` (0 where degree < 2), as networkx defines it: the ties among
    a node's neighbours over the pairs of them, counted from the neighbours' own ties (in chunks of nodes,
    to bound the memory a hub's neighbourhood takes). In float32, as the manifest has always given it."""
    out = np.zeros(nodes.size, dtype=np.float32)
    for first in range(0, nodes.size, chunk):
        rows = nodes[first:first + chunk]
        neighbour, owner = net.ties(rows)
        known = np.sort(owner.astype(np.int64) * net.n + neighbour)  # (node, neighbour) pairs
        second, via = net.ties(neighbour)  # the neighbours' neighbours
        node = owner[via]  # each one's node (its position in rows)
        probe = node.astype(np.int64) * net.n + second
        closed = in_sorted(known, probe)
        triangles = np.bincount(node[closed], minlength=rows.size).astype(np.float32) / 2.0
        k = net.degree[rows].astype(np.float64)
        pairs = k * (k - 1) / 2.0
        out[first:first + rows.size] = np.divide(triangles, pairs, out=np.zeros(rows.size, dtype=np.float32),
                                                 where=pairs > 0)
    return out
