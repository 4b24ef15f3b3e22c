"""Suppliers: Mesa agents whose production line and shipments are SimPy processes.

A merchant's replenishment orders of a day are batched per supplier into one lot (never one
event per unit or per shopper order). Lots queue FIFO at the supplier (a SimPy Store) and
are produced at `capacity` units/day; then they ship. Timing, in whole days:

    arrival day = placed day + L + extra production days + delay

where L is the planned lead time (it includes the first day of production), extra production
days = ceil(time the lot waited for the line + its units / capacity) - 1 (0 with unlimited
capacity), and delay is drawn per lot from the scenario's lead-time delay distribution. An
order placed at the end of day t with no queue and no delay is on the shelf at the start of
day t + L. Units and carbon are counted when production ends; goods are paid when ordered.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import simpy

from sim.config import LeadTimeDelayConfig, SuppliersConfig
from sim.mesa_core import Agent, Model


@dataclass(eq=False)  # lots are compared by identity (list.remove), never by their arrays
class Lot:
    """A day's batch of units from one supplier to many (merchant, category) cells."""

    merchant: np.ndarray
    category: np.ndarray
    units: np.ndarray
    placed_day: int
    produced_at: float | None = None
    arrival_day: int | None = None
    total_units: int = field(init=False)

    def __post_init__(self) -> None:
        self.total_units = int(self.units.sum())


def delay_sampler(cfg: LeadTimeDelayConfig, rng: np.random.Generator) -> Callable[[], int]:
    """A function drawing one lot's extra delay in whole days (rounded to the nearest day)."""
    d = cfg.distribution
    if d == "none":
        return lambda: 0
    if d == "exponential":
        return lambda: int(round(rng.exponential(cfg.mean_days)))
    if d == "gamma":
        shape = (cfg.mean_days / cfg.sd_days) ** 2
        scale = cfg.sd_days**2 / cfg.mean_days
        return lambda: int(round(rng.gamma(shape, scale)))
    return lambda: int(round(rng.uniform(cfg.low_days, cfg.high_days)))


@dataclass
class SupplierTable:
    """Suppliers as columns (one row per supplier): what merchants and policies choose between."""

    supplies: np.ndarray          # (suppliers, categories) bool
    cost_factor: np.ndarray       # multiplies a category's base unit cost (green premium included)
    quality: np.ndarray           # 0-1
    distance_km: np.ndarray       # to the merchants (line-haul)
    green: np.ndarray             # bool: green-certified
    carbon_per_unit: np.ndarray   # kg CO2e per unit produced
    by_category: list[np.ndarray] = field(init=False)  # supplier rows of each category

    def __post_init__(self) -> None:
        self.by_category = [np.flatnonzero(self.supplies[:, c]) for c in range(self.supplies.shape[1])]

    @property
    def size(self) -> int:
        return self.cost_factor.shape[0]


def build_suppliers(cfg: SuppliersConfig, n_categories: int, production_factor: float,
                    rng: np.random.Generator) -> SupplierTable:
    """Draw the suppliers: one or two categories each (every category covered), cost, quality, carbon."""
    n = cfg.count
    green = rng.random(n) < cfg.green_certified_share
    cost = np.exp(rng.normal(0.0, cfg.unit_cost_sd, n)) * np.where(green, 1.0 + cfg.green_cost_premium, 1.0)
    quality = np.clip(rng.normal(cfg.quality_mean, cfg.quality_sd, n), 0.0, 1.0)
    distance = rng.exponential(cfg.distance_km_mean, n)
    supplies = np.zeros((n, n_categories), dtype=bool)
    supplies[np.arange(n), np.arange(n) % n_categories] = True
    second = rng.integers(0, n_categories, n)
    supplies[np.arange(n), second] |= rng.random(n) < 0.5
    for c in range(n_categories):  # every category has at least one supplier
        if not supplies[:, c].any():
            supplies[c % n, c] = True
    carbon_unit = cfg.carbon_kg_per_unit * production_factor * np.exp(
        rng.normal(-cfg.carbon_unit_sd**2 / 2, cfg.carbon_unit_sd, n))  # mean kept at carbon_kg_per_unit
    carbon = np.where(green, carbon_unit * cfg.green_carbon_factor, carbon_unit)
    return SupplierTable(supplies, cost, quality, distance, green, carbon)


class Supplier(Agent):
    """A supplier's production line and shipments; what it is (cost, quality, carbon, distance,
    green certification) is its row of the SupplierTable."""

    def __init__(self, model: Model, row: int, capacity_per_day: float | None) -> None:
        super().__init__(model)
        self.row = row
        self.capacity_per_day = capacity_per_day
        self.units_queued = 0       # ordered, not yet produced
        self.in_transit: list[Lot] = []
        self.in_production: Lot | None = None
        self.queue: simpy.Store | None = None

    def start(self, env: simpy.Environment, lead_time_days: int, delay: Callable[[], int],
              on_produced: Callable[[Supplier, Lot], None], receive: Callable[[Lot], None]) -> None:
        """Open the production line (one SimPy process per supplier)."""
        self.queue = simpy.Store(env)
        self._lead = lead_time_days
        self._delay = delay
        self._on_produced = on_produced
        self._receive = receive
        env.process(self._line(env))

    def order(self, lot: Lot) -> None:
        """A lot joins the queue at the end of its day (env time placed_day + 1)."""
        self.units_queued += lot.total_units
        self.queue.put(lot)

    def _line(self, env: simpy.Environment):
        while True:
            lot = yield self.queue.get()
            self.in_production = lot
            if self.capacity_per_day is not None:
                yield env.timeout(lot.total_units / self.capacity_per_day)
            self.in_production = None
            busy_days = env.now - (lot.placed_day + 1)  # waiting + producing
            extra = max(0, math.ceil(busy_days - 1e-9) - 1)
            lot.produced_at = env.now
            # never before the lot is made (lead time 1 with a busy line): the first day boundary after
            lot.arrival_day = max(lot.placed_day + self._lead + extra + self._delay(), math.ceil(env.now - 1e-9))
            self.units_queued -= lot.total_units
            self.in_transit.append(lot)
            self._on_produced(self, lot)
            env.process(self._ship(env, lot))

    def _ship(self, env: simpy.Environment, lot: Lot):
        yield env.timeout(max(0.0, lot.arrival_day - env.now))
        self.in_transit.remove(lot)
        self._receive(lot)

    @property
    def units_in_transit(self) -> int:
        return sum(lot.total_units for lot in self.in_transit)

    def open_lots(self) -> list[Lot]:
        """Lots paid for and not yet received: queued, on the line and in transit."""
        queued = list(self.queue.items) if self.queue is not None else []
        making = [self.in_production] if self.in_production is not None else []
        return queued + making + self.in_transit
