"""Last-mile delivery: the platform's fleet per region, delivery waves as SimPy events.

Platform-fulfilled parcels join their region's FIFO backlog; once a day, a delivery wave (one
SimPy event per region, at mid-day) delivers up to the region's capacity (a fractional
capacity is honoured by carrying the fraction to the next wave: over w waves the fleet
delivers floor(credit + w x capacity), kept in integer thousandths of a parcel). Because the
queue is FIFO and capacity is known, each parcel's wait is known when it is handed over, so
delays, lateness and their effect on the shopper are decided at order time, and the waves book
the km, cost and carbon of the parcels they actually deliver. Merchant-fulfilled parcels go with a carrier that has no
capacity limit. Vehicles are counted in vehicle-equivalents (capacity bought from a
carrier's shared fleet), so a small platform need not own whole vans.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from agents.merchant import Merchants
from sim.arrays import rank_within_groups
from sim.carbon import CarbonTally, FactorTable
from sim.config import LogisticsConfig
from sim.ledger import Ledger

WAVE_TIME = 0.5  # a region's wave runs at mid-day, after the day's orders are handed over
RESIZE_WINDOW = 28  # days of parcels a monthly fleet review looks back on


@dataclass
class Fleet:
    """Capacity per region and how it splits over vehicle types (cleanest first)."""

    vehicle_names: list[str]      # ordered cleanest first
    vehicles: np.ndarray          # (regions, types) vehicle-equivalents
    parcels_per_day: np.ndarray   # (types,)
    cost_per_day: np.ndarray      # (types,)
    cost_per_km: np.ndarray       # (types,)
    kg_per_km: np.ndarray         # (types,)

    @property
    def capacity(self) -> np.ndarray:
        """Parcels per day per region."""
        return self.vehicles @ self.parcels_per_day


def build_fleet(cfg: LogisticsConfig, factors: FactorTable, expected_parcels: np.ndarray,
                shares: dict[str, float | np.ndarray], capacity_gain: float = 0.0) -> Fleet:
    """Size each region's fleet to headroom x its expected daily parcels, split by capacity share (one
    share per vehicle type, or one per type and region)."""
    names = sorted((v for v in shares if np.any(np.asarray(shares[v]) > 0)), key=lambda v: (factors("last_mile", v), v))
    per_day = np.array([cfg.vehicles[v].parcels_per_day for v in names]) * (1.0 + capacity_gain)
    capacity = np.maximum(cfg.capacity_headroom * expected_parcels, 0.05)
    share = np.array([np.broadcast_to(np.asarray(shares[v], dtype=float), capacity.shape) for v in names]).T
    share = share / share.sum(axis=1, keepdims=True)  # (regions, types)
    vehicles = capacity[:, None] * share / per_day[None, :]
    return Fleet(names, vehicles, per_day,
                 np.array([cfg.vehicles[v].cost_per_day for v in names]),
                 np.array([cfg.vehicles[v].cost_per_km for v in names]),
                 np.array([factors("last_mile", v) for v in names]))


class LastMile:
    """Regional backlogs and waves of the platform fleet; the carrier for merchant-fulfilled parcels."""

    def __init__(self, env: simpy.Environment, cfg: LogisticsConfig, factors: FactorTable, fleet: Fleet,
                 ledger: Ledger, carbon: CarbonTally) -> None:
        self.cfg = cfg
        self.factors = factors
        self.fleet = fleet
        self.ledger = ledger
        self.carbon = carbon
        n = len(cfg.regions)
        self.km_per_parcel = np.array([r.km_per_parcel for r in cfg.regions])
        self.km_factor = 1.0            # consolidation lowers it
        self.extra_days = 0             # consolidation raises it
        self.packaging = cfg.packaging
        self.backlog = np.zeros(n, dtype=np.int64)   # parcels waiting for a wave
        self.credit = np.zeros(n, dtype=np.int64)     # thousandths of a parcel carried to the next wave
        self.delivered_today = np.zeros(n, dtype=np.int64)
        self.region_share = np.array([r.share for r in cfg.regions])
        self._recent = np.zeros((RESIZE_WINDOW, n))  # parcels handed over per region, last 28 days
        self._resized: np.ndarray | None = None
        self._resize_due = np.zeros(n, dtype=bool)
        self._days = 0
        for r in range(n):
            env.process(self._waves(env, r))

    # --- at order time ------------------------------------------------------------------------

    def hand_over(self, region: np.ndarray, priority: np.ndarray) -> np.ndarray:
        """Queue today's platform parcels (FIFO behind the backlog); returns each parcel's wait [days]."""
        counts = np.bincount(region, minlength=self.backlog.size)
        position = self.backlog[region] + rank_within_groups(region, priority)  # parcels ahead of this one
        capacity = self._capacity_milli()[region]
        # first wave w (0 = today's) with (credit + (w + 1) capacity) // 1000 >= position + 1,
        # in integer thousandths of a parcel so that the waves agree exactly
        need = 1000 * (position + 1) - self.credit[region]
        wait = np.maximum(-(-need // capacity) - 1, 0)
        self.backlog += counts
        self._recent[self._days % RESIZE_WINDOW] += counts
        return wait

    def ship(self, merchants: Merchants, rows: np.ndarray, region: np.ndarray,
             priority: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hand the day's served orders over: platform parcels to the fleet, the rest to the carrier.

        Books warehousing and packaging carbon, packaging costs, fulfilment fees (merchants ->
        platform) and carrier fees (merchants); returns each parcel's delivery days and fleet wait.
        """
        t = merchants.table
        by_platform = t.platform_fulfilled[rows]
        n_platform = int(by_platform.sum())
        wait = np.zeros(rows.size, dtype=np.int64)
        wait[by_platform] = self.hand_over(region[by_platform], priority[by_platform])
        days = t.delivery_days[rows] + np.where(by_platform, self.extra_days + wait, 0)
        self.carbon.add("warehousing", rows.size * self.factors("warehousing", "default"))
        own = ~by_platform
        self.ledger.post("logistics", self.package(n_platform))
        fee = self.cfg.fulfilment_fee_per_parcel
        self.ledger.post("fulfilment_fee", fee * n_platform)
        merchants.charge(rows[by_platform], np.full(n_platform, fee))
        carrier_fees = self.carrier_parcels(region[own])
        packaging_own = self.package(int(own.sum()))
        self.ledger.post("shipping", carrier_fees + packaging_own)
        per_parcel = (carrier_fees + packaging_own) / max(int(own.sum()), 1)
        merchants.charge(rows[own], np.full(int(own.sum()), per_parcel))
        return days, wait

    def reconfigure(self, shares: dict[str, float | np.ndarray] | None = None, capacity_gain: float = 0.0,
                    km_factor: float | None = None, extra_days: int | None = None,
                    packaging: str | None = None) -> None:
        """A policy's change before day 0: the fleet's vehicle mix (capacity per region kept),
        km per parcel, extra delivery days, packaging."""
        if shares is not None:
            capacity = self.fleet.capacity / self.cfg.capacity_headroom
            self.fleet = build_fleet(self.cfg, self.factors, capacity, shares, capacity_gain)
            self._resized, self._resize_due[:] = None, False  # a pending review was for the old vehicle mix
        if km_factor is not None:
            self.km_factor = km_factor
        if extra_days is not None:
            self.extra_days = extra_days
        if packaging is not None:
            self.packaging = packaging

    def end_day(self) -> None:
        self.delivered_today[:] = 0
        self._days += 1
        self._recent[self._days % RESIZE_WINDOW] = 0.0

    def resize(self) -> None:
        """Monthly fleet review: capacity = headroom x mean daily parcels of the last 28 days."""
        days = min(self._days + 1, RESIZE_WINDOW)  # today's parcels are in the window already
        if days < 7:
            return
        mean = self._recent.sum(axis=0) / days
        target = np.maximum(self.cfg.capacity_headroom * mean, 0.05)
        resized = self.fleet.vehicles * (target / self.fleet.capacity)[:, None]
        # A larger fleet starts at once (parcels already waiting may arrive earlier than the
        # wait they were promised); a smaller one only once the region's backlog is cleared,
        # so no parcel arrives later than promised.
        grow = target >= self.fleet.capacity
        self.fleet.vehicles[grow] = resized[grow]
        self._resized = resized
        self._resize_due = ~grow

    def _capacity_milli(self) -> np.ndarray:
        """Capacity per region in thousandths of a parcel per day (integer arithmetic for the queue)."""
        return np.maximum(np.round(self.fleet.capacity * 1000.0), 1).astype(np.int64)

    def expected_wait(self) -> float:
        """Wait a parcel handed over now would see, averaged over regions by shoppers [days]."""
        return float(self.region_share @ np.floor(self.backlog / self.fleet.capacity))

    def carrier_parcels(self, region: np.ndarray) -> float:
        """Merchant-fulfilled parcels: carbon of the carrier's km; returns the carrier fees."""
        if region.size:
            km = float(self.km_per_parcel[region].sum())
            self.carbon.add("last_mile", km * self.factors("last_mile", self.cfg.carrier_vehicle))
        return region.size * self.cfg.carrier_cost_per_parcel

    def package(self, n_parcels: int) -> float:
        """Packaging carbon for n parcels; returns its cost."""
        self.carbon.add("packaging", n_parcels * self.factors("packaging", self.packaging))
        return n_parcels * self.cfg.packaging_types[self.packaging].cost_per_parcel

    def reverse(self, region: np.ndarray) -> float:
        """Collect returned parcels with the carrier; returns the cost (platform pays)."""
        km = float(self.km_per_parcel[region].sum())
        self.carbon.add("last_mile", km * self.factors("last_mile", self.cfg.carrier_vehicle))
        return region.size * self.cfg.reverse_cost_per_parcel

    # --- the waves ------------------------------------------------------------------------------

    def _waves(self, env: simpy.Environment, r: int):
        yield env.timeout(WAVE_TIME)
        while True:
            self._deliver(r)
            yield env.timeout(1.0)

    def _deliver(self, r: int) -> None:
        f = self.fleet
        allowance = int(self.credit[r] + self._capacity_milli()[r])
        self.credit[r] = allowance % 1000
        n = int(min(self.backlog[r], allowance // 1000))
        self.backlog[r] -= n
        self.delivered_today[r] += n
        # cleanest vehicles first, each up to its capacity
        room = f.vehicles[r] * f.parcels_per_day
        carried = np.minimum(np.cumsum(room, dtype=np.float64), n)  # parcels up to each vehicle, then each's
        carried[1:] -= carried[:-1].copy()
        km = carried * self.km_per_parcel[r] * self.km_factor
        self.carbon.add("last_mile", float(km @ f.kg_per_km))
        cost = float(f.vehicles[r] @ f.cost_per_day + km @ f.cost_per_km)
        self.ledger.post("logistics", cost)
        if self._resize_due[r] and self.backlog[r] == 0:
            f.vehicles[r] = self._resized[r]
            self.credit[r] = 0
            self._resize_due[r] = False
