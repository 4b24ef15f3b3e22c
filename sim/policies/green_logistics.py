"""Green logistics: EV share, consolidated delivery, green packaging, green suppliers, carbon price.

Each lever has its cost and side effect as well as its emission effect:
- ev_share moves that share of the fleet's parcel capacity to ev_van (higher cost per day,
  lower cost and carbon per km; cleanest vehicles are dispatched first); `auto` lets the
  platform choose per region the vehicle type with the lowest cost per parcel, carbon priced in
  (regions with longer drops gain more from the EV's cheaper km);
- consolidation delivers platform parcels in fuller rounds: fewer km per parcel and more
  parcels per vehicle-day, but `consolidation_extra_days` longer delivery, which shoppers
  see in merchant choice (platform-fulfilled merchants lose share);
- packaging switches every parcel to another packaging type (its cost and factor);
- prefer_green_suppliers makes merchants buy each category from the green-certified
  supplier with the lowest cost including the carbon price (green suppliers cost more and
  emit less in production);
- carbon_price_per_tonne charges the market's daily emissions to the platform (flow
  `carbon_levy`, e.g. an offsetting or abatement fund) and prices carbon into every merchant's
  supplier choice (issue 21): a merchant moves to the supplier with the lowest goods cost + price
  x kg per unit when that beats its own, so a high enough price lowers production carbon.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from agents.merchant import MerchantTable
from sim.config import LogisticsConfig, MarketConfig
from sim.kpis import Kpi
from sim.policies.base import MarketChanges, Policy, PolicyContext
from sim.schema import NonNegative, PolicySection, Probability


def _region_shares(logistics: LogisticsConfig) -> np.ndarray:
    """Each region's share of the shoppers (the weights of a fleet-wide figure)."""
    return np.array([r.share for r in logistics.regions])


class GreenLogisticsConfig(PolicySection):
    """The green-logistics policy: fleet, consolidation, packaging, suppliers, carbon price."""

    ev_share: Probability | Literal["auto"] | None = Field(
        None, description="Share of the fleet's capacity moved to ev_van (none: fleet unchanged); auto: in each "
        "region the platform runs whichever of its fleet's vehicle types and ev_van costs least per parcel, "
        "carbon price included"
    )
    consolidation: bool | Literal["auto"] = Field(
        False, description="Consolidate platform deliveries: slower, fewer km; auto: when what it saves per parcel "
        "(fleet cost, carbon priced in) exceeds the platform's margin on the orders the slower delivery loses"
    )
    consolidation_extra_days: int = Field(1, ge=0, le=14, description="Days consolidation adds to delivery")
    consolidation_km_saving: Probability = Field(
        0.25, description="Share of last-mile km saved per parcel by consolidation"
    )
    consolidation_capacity_gain: NonNegative = Field(
        0.2, description="Extra parcels per vehicle-day from consolidated rounds (share)"
    )
    packaging: str | None = Field(None, description="Packaging type used instead (none: unchanged)")
    prefer_green_suppliers: bool = Field(
        False, description="Merchants buy each category from the cheapest green-certified supplier, if any"
    )
    carbon_price_per_tonne: NonNegative = Field(
        0.0, description="Internal carbon price charged on the market's emissions [currency/tonne CO2e]"
    )


class GreenLogistics(Policy):
    name = "green_logistics"
    title = "Green logistics"
    headline = ("carbon_per_order_kg", "carbon_logistics_kg", "logistics_cost", "carbon_levy",
                "avg_delivery_days", "late_delivery_rate")
    Config = GreenLogisticsConfig
    flows = {"carbon_levy": ("platform", "external")}  # internal carbon price
    kpis = (Kpi("green_consolidated", "0 or 1", "1 when platform deliveries are consolidated from the policy's "
                "start (consolidation on, or auto and worth it at the carbon price)", label="deliveries consolidated"),
            Kpi("green_ev_capacity_share", "share", "share of the fleet's parcel capacity in electric vans after the "
                "policy's start (regions weighted by their shoppers)", label="fleet capacity in EV vans"),)
    config: GreenLogisticsConfig

    @classmethod
    def check(cls, config: GreenLogisticsConfig, market: MarketConfig) -> None:
        lg = market.logistics
        if config.packaging is not None and config.packaging not in lg.packaging_types:
            raise ValueError(f"policies.green_logistics.packaging: unknown packaging {config.packaging!r}; "
                             f"allowed: {', '.join(sorted(lg.packaging_types))}")
        if config.ev_share is not None and "ev_van" not in lg.vehicles:
            raise ValueError("policies.green_logistics.ev_share needs an ev_van in logistics.vehicles")

    @classmethod
    def carbon_factors(cls, config: GreenLogisticsConfig, market: MarketConfig) -> list[tuple[str, str, str]]:
        needed = []
        if config.ev_share is not None:
            needed.append(("last_mile", "ev_van", "policies.green_logistics.ev_share"))
        if config.packaging is not None:
            needed.append(("packaging", config.packaging, "policies.green_logistics.packaging"))
        return needed

    def setup(self, ctx: PolicyContext) -> MarketChanges:
        cfg, fleet = self.config, ctx.market.logistics.fleet
        self.carbon_credit_kg = 0.0  # negative carbon of past days not yet set against the levy
        self.consolidated = cfg.consolidation is True or (cfg.consolidation == "auto" and self.consolidation_pays(ctx))
        shares: dict[str, float | np.ndarray]
        if cfg.ev_share == "auto":
            shares = self.cheapest_fleet(ctx)
        else:
            shares = self.set_fleet(fleet)
            self.ev_capacity_share = float(shares.get("ev_van", 0.0))
        # the fleet keeps its parcel capacity per region; a consolidated vehicle carries more per day
        changes = MarketChanges(fleet_shares=shares, packaging=cfg.packaging)
        if self.consolidated:
            changes.fleet_capacity_gain = cfg.consolidation_capacity_gain
            changes.km_factor = 1.0 - cfg.consolidation_km_saving
            changes.extra_delivery_days = cfg.consolidation_extra_days
        return changes

    def set_fleet(self, fleet: dict[str, float]) -> dict[str, float]:
        """The fleet's capacity shares with a set ev_share e (none: as they are): every other type keeps (1 - e)
        of its share, ev_van gets e + (1 - e) x its own."""
        e = self.config.ev_share
        if e is None:
            return dict(fleet)
        shares = {v: s * (1.0 - e) for v, s in fleet.items() if v != "ev_van"}
        if sum(shares.values()) == 0:  # the fleet was all EV already
            shares = {}
        shares["ev_van"] = e + (1.0 - e) * float(fleet.get("ev_van", 0.0))
        return shares

    def parcel_costs(self, ctx: PolicyContext, consolidated: bool) -> tuple[list[str], np.ndarray]:
        """(vehicle types: the fleet's and ev_van, their cost per parcel delivered per region): capacity_headroom
        x cost_per_day / parcels_per_day (vehicles are paid for every day, busy or not) + km per parcel x
        (cost_per_km + carbon price x kg CO2e per km), with consolidation's km and capacity if consolidated."""
        cfg, lg = self.config, ctx.market.logistics
        names = sorted({*lg.fleet, "ev_van"})
        km = np.array([r.km_per_parcel for r in lg.regions]) * (1.0 - cfg.consolidation_km_saving if consolidated
                                                                 else 1.0)
        gain = 1.0 + (cfg.consolidation_capacity_gain if consolidated else 0.0)
        return names, np.array([
            lg.capacity_headroom * lg.vehicles[v].cost_per_day / (lg.vehicles[v].parcels_per_day * gain)
            + km * (lg.vehicles[v].cost_per_km + cfg.carbon_price_per_tonne / 1000.0 * ctx.factors("last_mile", v))
            for v in names])  # (types, regions)

    def consolidation_pays(self, ctx: PolicyContext) -> bool:
        """consolidation: auto. The platform consolidates when the cost per parcel it saves (fleet cost, carbon
        priced in; the fleet's own vehicles, or the cheapest type per region with ev_share auto) exceeds its
        margin on the orders the slower delivery loses: 1 - exp(-choice.delivery_weight x extra days) of them
        (about 1.4% a day, Fisher, Gallino & Xu 2019) x (take rate x the usual order + fulfilment fee - the
        parcel's cost)."""
        cfg, lg = self.config, ctx.market.logistics
        region = _region_shares(lg)
        shares = None if cfg.ev_share == "auto" else self.set_fleet(lg.fleet)
        cost = {}
        for consolidated in (False, True):
            names, per_parcel = self.parcel_costs(ctx, consolidated)
            if shares is None:
                cost[consolidated] = float(region @ per_parcel.min(axis=0))
            else:
                mix = np.array([float(shares.get(v, 0.0)) for v in names])
                cost[consolidated] = float(region @ (mix / mix.sum() @ per_parcel))
        margin = (ctx.market.platform.take_rate * float(ctx.expected_order_value().mean())
                  + lg.fulfilment_fee_per_parcel - cost[False])
        lost = -np.expm1(-ctx.market.choice.delivery_weight * cfg.consolidation_extra_days) * margin
        return cost[False] - cost[True] > lost

    def cheapest_fleet(self, ctx: PolicyContext) -> dict[str, np.ndarray]:
        """Per region, all capacity to the vehicle type (the fleet's types and ev_van) with the lowest cost
        per parcel delivered (parcel_costs), consolidated or not as decided."""
        names, per_parcel = self.parcel_costs(ctx, self.consolidated)
        best = np.argmin(per_parcel, axis=0)
        self.ev_capacity_share = float(_region_shares(ctx.market.logistics) @ (best == names.index("ev_van")))
        return {v: (best == i).astype(float) for i, v in enumerate(names)}

    def merchants_created(self, ctx: PolicyContext, table: MerchantTable) -> None:
        """Suppliers chosen with carbon priced in: each merchant buys each category from the supplier with
        the lowest goods cost + carbon price x its kg per unit, if that beats what its current supplier
        costs it the same way: among green-certified ones with prefer_green_suppliers; otherwise among
        suppliers at least as dear as its own (what moves it is the carbon saved, worth more than the
        extra cost). At a carbon price of 0 and without the preference nothing changes."""
        cfg = self.config
        price = cfg.carbon_price_per_tonne
        if not cfg.prefer_green_suppliers and price <= 0:
            return
        supply = ctx.suppliers
        carbon_cost = supply.carbon_per_unit * price / 1000.0  # currency per unit
        for c, candidates in enumerate(supply.by_category):  # loop over categories, not merchants
            if cfg.prefer_green_suppliers:
                candidates = candidates[supply.green[candidates]]
            rows = np.flatnonzero(table.carries[:, c])
            if candidates.size == 0 or rows.size == 0:
                continue
            goods = table.goods_cost[rows, c]
            current = table.supplier[rows, c]
            total = goods[:, None] * supply.cost_factor[candidates][None, :] + carbon_cost[candidates][None, :]
            if not cfg.prefer_green_suppliers:  # only carbon moves a merchant: never to a cheaper supplier (its
                # reasons for its own are not modelled), so a price near 0 changes nearly nothing
                cheaper = supply.cost_factor[candidates][None, :] < supply.cost_factor[current][:, None]
                total = np.where(cheaper, np.inf, total)
            best = candidates[np.argmin(total, axis=1)]
            now = goods * supply.cost_factor[current] + carbon_cost[current]
            switch = (total.min(axis=1) < now) | (cfg.prefer_green_suppliers & ~supply.green[current])
            rows, best = rows[switch], best[switch]
            table.supplier[rows, c] = best
            table.unit_cost[rows, c] = table.goods_cost[rows, c] * supply.cost_factor[best]

    def day_end(self, ctx: PolicyContext) -> None:
        """The carbon price on the day's emissions; a day with more restocked returns than sales (its
        carbon negative: units back on a shelf take their carbon back) carries the credit forward."""
        price = self.config.carbon_price_per_tonne
        if price > 0:
            due = ctx.carbon_today_kg + self.carbon_credit_kg
            self.carbon_credit_kg = min(due, 0.0)
            if due > 0:
                ctx.ledger.post("carbon_levy", due / 1000.0 * price)

    def summary(self) -> dict[str, float]:
        return {"green_consolidated": float(self.consolidated), "green_ev_capacity_share": self.ev_capacity_share}
