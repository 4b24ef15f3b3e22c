"""Network build time and the daily cost of word of mouth on it (docs/performance.md).

Usage: python benchmarks/network_cost.py [SHOPPERS ...]   (default 100000 1000000)
For each graph kind at mean degree 10: build seconds, and the per-day cost of word of mouth with 10%
of shoppers in the set: recomputed with one sparse product over every tie ("full"), and kept by
`NeighbourCounts.set` from a day's changes, 0.2% of shoppers entering and 0.2% leaving ("changes",
what the model does).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.config import NetworkConfig as Network  # noqa: E402
from sim.network import NeighbourCounts, build_network, describe  # noqa: E402

KINDS = ("complete", "erdos_renyi", "watts_strogatz", "barabasi_albert", "stochastic_block")


def main(sizes: list[int]) -> None:
    print(f"{'shoppers':>10} {'kind':<17} {'build s':>8} {'edges':>10} {'clustering':>10} {'full ms/day':>12} "
          f"{'changes ms/day':>15}")
    for n in sizes:
        segment = np.random.default_rng(0).integers(0, 4, n)
        customers = np.random.default_rng(1).random(n) < 0.1
        for kind in KINDS:
            start = time.perf_counter()
            net = build_network(Network(kind=kind, mean_degree=10), n, segment, np.random.default_rng(2))
            build = time.perf_counter() - start
            stats = describe(net, np.random.default_rng(3))
            start = time.perf_counter()
            for _ in range(20):
                net.share(customers)
            per_day = (time.perf_counter() - start) / 20 * 1000
            counts = NeighbourCounts(net)
            counts.update(customers)
            rng = np.random.default_rng(4)
            members, others = np.flatnonzero(customers), np.flatnonzero(~customers)
            k = max(1, n // 500)
            days = [np.concatenate([rng.choice(others, k, replace=False), rng.choice(members, k, replace=False)])
                    for _ in range(20)]
            start = time.perf_counter()
            for who in days:  # 0.2% of shoppers enter the set and 0.2% leave it (the set drifts a little)
                order = np.argsort(who)
                counts.set(who[order], (np.arange(who.size) < k)[order])
            incremental = (time.perf_counter() - start) / 20 * 1000
            edges = stats.get("edges", n * (n - 1) // 2)
            clustering = stats.get("average_clustering", 1.0)
            print(f"{n:>10,} {kind:<17} {build:>8.2f} {edges:>10,} {clustering:>10.4f} {per_day:>12.2f} "
                  f"{incremental:>15.2f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100_000, 1_000_000])
