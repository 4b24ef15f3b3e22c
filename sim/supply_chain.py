"""The upstream supply chain: suppliers, replenishment lots, arrivals, units and stock value.

Merchants' daily replenishment orders become one lot per supplier (SimPy processes in
agents/supplier.py). This module builds the suppliers, places the lots, books what each
lot costs (goods when ordered; freight, production and line-haul carbon when produced) and
keeps the unit counters behind the identities of DESIGN.md section 2. A unit's production and
line-haul carbon travel with it and are counted when it is sold and delivered (`book_sold`), so
carbon follows what shoppers receive: opening stock carries its carbon, unsold or written-off
stock adds none, a restocked return takes its carbon back until it sells again.


    ordered = queued + produced,  produced = in transit + received,
    initial + received + restocked returns = sold + on hand + written off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from agents.merchant import Merchants, MerchantTable, replenishment_orders
from agents.supplier import Lot, Supplier, SupplierTable, delay_sampler
from sim.carbon import CarbonTally
from sim.config import MerchantsConfig, SuppliersConfig
from sim.ledger import Ledger
from sim.mesa_core import Model


@dataclass
class UnitCounters:
    ordered: int = 0
    produced: int = 0
    received: int = 0
    sold: int = 0


class SupplyChain:
    """Suppliers and the flow of lots from them to merchants' shelves."""

    def __init__(self, cfg: SuppliersConfig, table: SupplierTable, merchants_cfg: MerchantsConfig,
                 unit_weight_kg: np.ndarray, linehaul_kg_per_tkm: float, env: simpy.Environment,
                 ledger: Ledger, carbon: CarbonTally, delay_rng: np.random.Generator, model: Model) -> None:
        self.cfg = cfg
        self.table = table
        self.merchants_cfg = merchants_cfg
        self.env = env
        self.ledger = ledger
        self.carbon = carbon
        self.merchants: Merchants | None = None  # set by deliver_to, once the merchants exist
        self.units = UnitCounters()
        self.ordered_today = 0
        self.suppliers = [Supplier(model, i, cfg.capacity_units_per_day) for i in range(table.size)]
        delay = delay_sampler(cfg.lead_time_delay, delay_rng)
        lead = merchants_cfg.replenishment.lead_time_days
        for s in self.suppliers:
            s.start(env, lead, delay, self._produced, self._receive)
        self.unit_weight_t = unit_weight_kg / 1000.0
        self.linehaul_kg_per_tkm = linehaul_kg_per_tkm

    def deliver_to(self, merchants: Merchants) -> None:
        """The merchants whose lots this chain delivers (and whose freight it charges)."""
        self.merchants = merchants

    # --- daily -------------------------------------------------------------------------------

    def receive_due(self, day: int) -> None:
        """Process SimPy events up to the start of `day` (lots due then reach the shelves)."""
        env = self.env
        while env.peek() <= day:
            env.step()

    def replenish(self, day: int) -> np.ndarray:
        """Place the day's replenishment orders, one lot per supplier; returns ordering cost per merchant."""
        t, mc = self.merchants.table, self.merchants_cfg
        if mc.unlimited_stock:
            self.ordered_today = 0
            return np.zeros(t.size)
        qty = replenishment_orders(t, mc, day)
        m, c = np.nonzero(qty)
        units = qty[m, c]
        t.on_order[m, c] += units
        self.ledger.post("goods", float((units * t.unit_cost[m, c]).sum()))
        ordering = np.bincount(m, minlength=t.size) * mc.replenishment.order_cost
        self.ledger.post("ordering", float(ordering.sum()))
        self.units.ordered += int(units.sum())
        self.ordered_today = int(units.sum())
        sup = t.supplier[m, c]
        order = np.argsort(sup, kind="stable")
        m, c, units, sup = m[order], c[order], units[order], sup[order]
        edges = [0, *(np.flatnonzero(sup[1:] != sup[:-1]) + 1).tolist(), sup.size]
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):  # one lot per supplier
            if hi > lo:
                self.suppliers[sup[lo]].order(Lot(m[lo:hi], c[lo:hi], units[lo:hi], day))
        return ordering

    def make_to_order(self, merchant: np.ndarray, category: np.ndarray) -> None:
        """Unlimited stock: units sold are produced and received at the moment of sale."""
        n = merchant.size
        self.units.ordered += n
        self.units.produced += n
        self.units.received += n
        t = self.merchants.table
        self.ledger.post("goods", float(t.unit_cost[merchant, category].sum()))
        supplier = t.supplier[merchant, category]
        self._pay_freight(supplier, merchant, category, np.ones(n))

    def book_sold(self, merchant: np.ndarray, category: np.ndarray, sign: float = 1.0) -> None:
        """Production and line-haul carbon of units sold (sign -1: returned to a shelf, to be sold again).
        Each unit carries its cell's supplier's intensity and its line-haul from that supplier."""
        supplier = self.merchants.table.supplier[merchant, category]
        self.carbon.add("production", sign * float(self.table.carbon_per_unit[supplier].sum()))
        tonne_km = self.unit_weight_t[category] * self.table.distance_km[supplier]
        self.carbon.add("line_haul", sign * float(tonne_km.sum()) * self.linehaul_kg_per_tkm)

    def _pay_freight(self, supplier: np.ndarray, merchant: np.ndarray, category: np.ndarray,
                     units: np.ndarray) -> None:
        """Merchants pay the line-haul of units leaving suppliers (per tonne-km)."""
        tonne_km = units * self.unit_weight_t[category] * self.table.distance_km[supplier]
        freight = tonne_km * self.cfg.freight_cost_per_tonne_km
        self.ledger.post("freight", float(freight.sum()))
        self.merchants.charge(merchant, freight)

    # --- SimPy callbacks -----------------------------------------------------------------------

    def _produced(self, supplier: Supplier, lot: Lot) -> None:
        """Production ends: units count as produced; freight paid."""
        self.units.produced += lot.total_units
        self._pay_freight(np.full(lot.merchant.size, supplier.row), lot.merchant, lot.category, lot.units)

    def _receive(self, lot: Lot) -> None:
        t = self.merchants.table
        np.add.at(t.on_hand, (lot.merchant, lot.category), lot.units)
        np.subtract.at(t.on_order, (lot.merchant, lot.category), lot.units)
        self.units.received += lot.total_units
        gone = ~t.active[lot.merchant]
        if gone.any():  # arrived for a merchant who has left: written off
            self.merchants.write_off_stock(np.unique(lot.merchant[gone]))

    # --- stock and checks ------------------------------------------------------------------------

    def open_lots(self) -> list[Lot]:
        return [lot for s in self.suppliers for lot in s.open_lots()]

    def inventory_value(self, table: MerchantTable) -> float:
        """Merchants' stock at unit cost: on hand plus paid-for lots not yet received [currency]."""
        value = float((table.on_hand * table.unit_cost).sum())
        for lot in self.open_lots():
            value += float((lot.units * table.unit_cost[lot.merchant, lot.category]).sum())
        return value

    def unit_balance(self) -> dict[str, int]:
        """The unit identities' terms: this chain's counters and the merchants' shelves."""
        u, m = self.units, self.merchants
        return {
            "ordered": u.ordered, "queued": sum(s.units_queued for s in self.suppliers),
            "produced": u.produced, "in_transit": sum(s.units_in_transit for s in self.suppliers),
            "received": u.received, "initial": m.units_initial, "restocked": m.units_restocked, "sold": u.sold,
            "on_hand": int(m.table.on_hand.sum()), "written_off": m.units_written_off,
        }
