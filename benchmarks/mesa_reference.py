"""The reference for ecomsim's speed (issue 23): a plain Mesa 3 model of the bare BG/NBD rule.

One Mesa agent per shopper, written the way the Mesa tutorials write agents and stepped the way they
step them (`agents.shuffle_do("step")`, random activation, so no shopper always goes first): each
day every alive shopper buys with probability 1 - exp(-lambda/7) (lambda its weekly purchase rate, Gamma(r, alpha))
and, after a purchase, drops out with probability p (Beta(a, b)); the model counts the day's orders.
Nothing else: no merchants, no choice, no books. ecomsim's `run.py bench --against-mesa` runs this and
`run.py run scenarios/bench.yaml` side by side and prints what each costs per shopper-day, end to end.

Usage: python benchmarks/mesa_reference.py [--shoppers 100000] [--days 365] [--seed 42]
Prints one line: shoppers, days, orders, seconds (start-up included: the process's own wall time).
"""

from __future__ import annotations

import argparse
import math
import time

STARTED = time.perf_counter()

import mesa  # noqa: E402

# the baseline's BG/NBD (scenarios/baseline.yaml, weekly): CDNOW's published fit
R, ALPHA, A, B = 0.243, 4.414, 0.793, 2.426


class Shopper(mesa.Agent):
    """One shopper: a weekly purchase rate and a dropout probability, alive until it drops out."""

    def __init__(self, model: mesa.Model, rate_weekly: float, dropout: float) -> None:
        super().__init__(model)
        self.buy_p = 1.0 - math.exp(-rate_weekly / 7.0)
        self.dropout = dropout
        self.alive = True

    def step(self) -> None:
        if self.alive and self.random.random() < self.buy_p:
            self.model.orders += 1
            if self.random.random() < self.dropout:
                self.alive = False


class BareBGNBD(mesa.Model):
    """N shoppers, one Mesa agent each; `step` is one day."""

    def __init__(self, shoppers: int, seed: int) -> None:
        super().__init__(seed=seed)
        self.orders = 0
        rates = self.rng.gamma(R, 1.0 / ALPHA, size=shoppers)
        dropouts = self.rng.beta(A, B, size=shoppers)
        for rate, dropout in zip(rates, dropouts, strict=True):
            Shopper(self, float(rate), float(dropout))

    def step(self) -> None:
        self.agents.shuffle_do("step")  # random activation, as the Mesa tutorials step agents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    model = BareBGNBD(args.shoppers, args.seed)
    for _ in range(args.days):
        model.step()
    seconds = time.perf_counter() - STARTED
    print(f"shoppers={args.shoppers} days={args.days} orders={model.orders} seconds={seconds:.3f}")


if __name__ == "__main__":
    main()
