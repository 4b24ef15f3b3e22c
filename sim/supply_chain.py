"""The upstream supply chain: suppliers, replenishment lots, arrivals, units and stock value.

Merchants' daily replenishment orders become one lot per supplier (SimPy processes in
agents/supplier.py). This module builds the suppliers, places the lots, books what each
lot costs (goods when ordered; freight, production and line-haul carbon when produced) and
keeps the unit counters behind the identities of DESIGN.md section 2:

    ordered = queued + produced,  produced = in transit + received,
    initial + received + restocked returns = sold + on hand + written off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from agents.merchant import MerchantTable, replenishment_orders
from agents.supplier import Lot, Supplier, delay_sampler

if TYPE_CHECKING:
    from sim.model import MarketModel


@dataclass
class UnitCounters:
    initial: int = 0
    ordered: int = 0
    produced: int = 0
    received: int = 0
    sold: int = 0
    restocked: int = 0      # returned units put back on a shelf
    written_off: int = 0


class SupplyChain:
    """Suppliers and the flow of lots from them to merchants' shelves."""

    def __init__(self, model: MarketModel) -> None:
        self.model = model
        cfg = model.scenario.suppliers
        self.units = UnitCounters()
        self.ordered_today = 0
        self.order_lines_today = 0
        rng = model.streams.generator("suppliers")
        n, n_cat = cfg.count, model.n_categories
        green = rng.random(n) < cfg.green_certified_share
        cost = np.exp(rng.normal(0.0, cfg.unit_cost_sd, n)) * np.where(green, 1.0 + cfg.green_cost_premium, 1.0)
        quality = np.clip(rng.normal(cfg.quality_mean, cfg.quality_sd, n), 0.0, 1.0)
        distance = rng.exponential(cfg.distance_km_mean, n)
        supplies = np.zeros((n, n_cat), dtype=bool)
        supplies[np.arange(n), np.arange(n) % n_cat] = True
        second = rng.integers(0, n_cat, n)
        supplies[np.arange(n), second] |= rng.random(n) < 0.5
        for c in range(n_cat):  # every category has at least one supplier
            if not supplies[:, c].any():
                supplies[c % n, c] = True
        self.cost_factor = cost
        self.distance = distance
        self.quality = quality
        self.green = green
        self.by_category = [np.flatnonzero(supplies[:, c]) for c in range(n_cat)]
        carbon_unit = cfg.carbon_kg_per_unit * model.factors("production", "default") * np.exp(
            rng.normal(-cfg.carbon_unit_sd**2 / 2, cfg.carbon_unit_sd, n))  # mean kept at carbon_kg_per_unit
        self.carbon_per_unit = np.where(green, carbon_unit * cfg.green_carbon_factor, carbon_unit)
        self.suppliers = [
            Supplier(model, i, np.flatnonzero(supplies[i]), float(cost[i]), float(quality[i]),
                     float(self.carbon_per_unit[i]), float(distance[i]), cfg.transport_mode, bool(green[i]),
                     cfg.capacity_units_per_day)
            for i in range(n)
        ]
        delay = delay_sampler(cfg.lead_time_delay, model.streams.generator("supplier_delays"))
        lead = model.scenario.merchants.replenishment.lead_time_days
        for s in self.suppliers:
            s.start(model.env, lead, delay, self._produced, self._receive)
        self.unit_weight_t = np.array([c.unit_weight_kg for c in model.scenario.catalog.categories]) / 1000.0
        self.linehaul_kg_per_tkm = model.factors("line_haul", cfg.transport_mode)

    # --- daily -------------------------------------------------------------------------------

    def receive_due(self, day: int) -> None:
        """Process SimPy events up to the start of `day` (lots due then reach the shelves)."""
        env = self.model.env
        while env.peek() <= day:
            env.step()

    def replenish(self, day: int) -> np.ndarray:
        """Place the day's replenishment orders, one lot per supplier; returns ordering cost per merchant."""
        m_ = self.model
        t, mc = m_.merchant_table, m_.scenario.merchants
        if mc.unlimited_stock:
            self.ordered_today = 0
            return np.zeros(t.size)
        qty = replenishment_orders(t, mc)
        m, c = np.nonzero(qty)
        units = qty[m, c]
        t.on_order[m, c] += units
        m_.ledger.post("goods", float((units * t.unit_cost[m, c]).sum()))
        ordering = np.bincount(m, minlength=t.size) * mc.replenishment.order_cost
        m_.ledger.post("ordering", float(ordering.sum()))
        self.units.ordered += int(units.sum())
        self.ordered_today = int(units.sum())
        sup = t.supplier[m, c]
        order = np.argsort(sup, kind="stable")
        m, c, units, sup = m[order], c[order], units[order], sup[order]
        bounds = np.flatnonzero(np.diff(sup)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, sup.size]):  # one lot per supplier
            if hi > lo:
                self.suppliers[sup[lo]].order(Lot(m[lo:hi], c[lo:hi], units[lo:hi], day))
        return ordering

    def make_to_order(self, merchant: np.ndarray, category: np.ndarray) -> None:
        """Unlimited stock: units sold are produced and received at the moment of sale."""
        m_ = self.model
        n = merchant.size
        self.units.ordered += n
        self.units.produced += n
        self.units.received += n
        t = m_.merchant_table
        m_.ledger.post("goods", float(t.unit_cost[merchant, category].sum()))
        supplier = t.supplier[merchant, category]
        self._book_production(supplier, merchant, category, np.ones(n))

    def _book_production(self, supplier: np.ndarray, merchant: np.ndarray, category: np.ndarray,
                         units: np.ndarray) -> None:
        """Production and line-haul carbon of units leaving suppliers; merchants pay the freight."""
        m_ = self.model
        m_.carbon.add("production", float((units * self.carbon_per_unit[supplier]).sum()))
        tonne_km = units * self.unit_weight_t[category] * self.distance[supplier]
        m_.carbon.add("line_haul", float(tonne_km.sum()) * self.linehaul_kg_per_tkm)
        freight = tonne_km * m_.scenario.suppliers.freight_cost_per_tonne_km
        m_.ledger.post("freight", float(freight.sum()))
        m_.charge_merchants(merchant, freight)

    # --- SimPy callbacks -----------------------------------------------------------------------

    def _produced(self, supplier: Supplier, lot: Lot) -> None:
        """Production ends: units count as produced; production and line-haul carbon; freight paid."""
        self.units.produced += lot.total_units
        self._book_production(np.full(lot.merchant.size, supplier.row), lot.merchant, lot.category, lot.units)

    def _receive(self, lot: Lot) -> None:
        m_ = self.model
        t = m_.merchant_table
        np.add.at(t.on_hand, (lot.merchant, lot.category), lot.units)
        np.subtract.at(t.on_order, (lot.merchant, lot.category), lot.units)
        self.units.received += lot.total_units
        gone = ~t.active[lot.merchant]
        if gone.any():  # arrived for a merchant who has left: written off
            m_.write_off_stock(np.unique(lot.merchant[gone]))

    # --- stock and checks ------------------------------------------------------------------------

    def open_lots(self) -> list[Lot]:
        return [lot for s in self.suppliers for lot in s.open_lots()]

    def inventory_value(self, table: MerchantTable) -> float:
        """Merchants' stock at unit cost: on hand plus paid-for lots not yet received [currency]."""
        value = float((table.on_hand * table.unit_cost).sum())
        for lot in self.open_lots():
            value += float((lot.units * table.unit_cost[lot.merchant, lot.category]).sum())
        return value

    def unit_balance(self, table: MerchantTable) -> dict[str, int]:
        u = self.units
        return {
            "ordered": u.ordered, "queued": sum(s.units_queued for s in self.suppliers),
            "produced": u.produced, "in_transit": sum(s.units_in_transit for s in self.suppliers),
            "received": u.received, "initial": u.initial, "restocked": u.restocked, "sold": u.sold,
            "on_hand": int(table.on_hand.sum()), "written_off": u.written_off,
        }
