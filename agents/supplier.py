"""Suppliers: Mesa agents whose shipments are SimPy processes.

A merchant's replenishment orders of a day are batched per supplier into one lot; the lot
ships and arrives after the lead time (an order placed at the end of day t is on the
merchant's shelf at the start of day t+L). In this engine the supplier has no capacity limit
and a fixed lead time; the supply-chain issue adds capacity queues and random lead times.
One SimPy event per supplier per day, never one per unit or per shopper order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mesa
import numpy as np
import simpy


@dataclass
class Lot:
    """A day's batch of units from one supplier to many (merchant, category) cells."""

    merchant: np.ndarray
    category: np.ndarray
    units: np.ndarray
    placed_day: int

    @property
    def total_units(self) -> int:
        return int(self.units.sum())


class Supplier(mesa.Agent):
    """Categories supplied, unit cost factor, quality, carbon intensity, distance, mode, green."""

    def __init__(self, model: mesa.Model, row: int, categories: np.ndarray, cost_factor: float,
                 quality: float, carbon_kg_per_unit: float, distance_km: float,
                 transport_mode: str, green_certified: bool) -> None:
        super().__init__(model)
        self.row = row
        self.categories = categories
        self.cost_factor = cost_factor
        self.quality = quality
        self.carbon_kg_per_unit = carbon_kg_per_unit
        self.distance_km = distance_km
        self.transport_mode = transport_mode
        self.green_certified = green_certified
        self.units_shipped = 0
        self.in_transit: list[Lot] = []

    def ship(self, env: simpy.Environment, lot: Lot, lead_time_days: float,
             receive: Callable[[Lot], None]) -> None:
        """Start the lot's journey; `receive` puts it on the merchants' shelves on arrival."""
        self.units_shipped += lot.total_units
        self.in_transit.append(lot)
        env.process(self._deliver(env, lot, lead_time_days, receive))

    def _deliver(self, env: simpy.Environment, lot: Lot, lead_time_days: float,
                 receive: Callable[[Lot], None]):
        # Placed at env time t+1 (end of day t); due at the start of day t+L = time t+L.
        yield env.timeout(lead_time_days - 1)
        self.in_transit.remove(lot)
        receive(lot)

    @property
    def units_in_transit(self) -> int:
        return sum(lot.total_units for lot in self.in_transit)
