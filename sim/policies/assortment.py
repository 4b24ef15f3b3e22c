"""Assortment: wider merchant ranges, long-tail merchants, delisting slow movers.

- extra_categories_per_merchant: every merchant (day 0 and later entrants) adds that many
  categories it did not carry, drawn uniformly (long-tail categories as likely as popular
  ones), each from a random supplier of the category. Shoppers find more merchants per
  category (fewer stock-outs without a fallback), merchants hold more stock.
- onboard_longtail_merchants: that many extra merchants join on day 0 with categories drawn
  uniformly rather than by popularity, stocked like entrants.
- delist_turnover_below: at each month end a merchant stops carrying a category whose
  annualised turnover (recent daily demand x 365 / units on hand) is below the threshold,
  when nothing is on order and it carries other categories; the stock is written off.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from agents.merchant import MerchantTable
from sim.kpis import Kpi
from sim.policies.base import MarketChanges, MonthEndChanges, Policy, PolicyContext
from sim.schema import NonNegative, PolicySection


class AssortmentConfig(PolicySection):
    """Assortment: wider ranges, long-tail merchants, delisting slow movers."""

    extra_categories_per_merchant: int = Field(0, ge=0, description="Categories every merchant adds to its range")
    onboard_longtail_merchants: int = Field(
        0, ge=0, le=100_000, description="Merchants onboarded on day 0 with categories drawn uniformly (the long tail)"
    )
    delist_turnover_below: NonNegative | None = Field(
        None, description="At month end, a merchant stops carrying a category whose annualised turnover "
        "(demand / stock on hand) is below this; none: never"
    )

    def at_sample(self, fraction: float) -> AssortmentConfig:
        """The merchants onboarded are the platform's: a sample onboards its share (rounded)."""
        return self.model_copy(update={"onboard_longtail_merchants": round(self.onboard_longtail_merchants
                                                                           * fraction)})


class Assortment(Policy):
    name = "assortment"
    title = "Assortment changes"
    headline = ("assortment_onboarded_merchants", "assortment_delisted_cells", "inventory_turnover",
                "stockout_rate", "top_decile_merchant_share")
    Config = AssortmentConfig
    kpis = (
        Kpi("assortment_delisted_cells", "(merchant, category) pairs", "categories dropped for slow turnover",
            label="categories delisted"),
        Kpi("assortment_onboarded_merchants", "merchants", "long-tail merchants onboarded at the policy's start",
            label="long-tail merchants onboarded"),
    )
    config: AssortmentConfig

    def __init__(self, config: AssortmentConfig, rng: np.random.Generator) -> None:
        super().__init__(config, rng)
        self.delisted = 0
        self.onboarded = 0

    def merchants_created(self, ctx: PolicyContext, table: MerchantTable) -> None:
        extra = self.config.extra_categories_per_merchant
        if extra == 0:
            return
        rng = self.rng
        n, n_cat = table.carries.shape
        keys = rng.random((n, n_cat)) + table.carries  # carried categories sort last
        add = np.argsort(keys, axis=1)[:, :min(extra, n_cat)]
        rows = np.repeat(np.arange(n), add.shape[1])
        cats = add.ravel()
        new = ~table.carries[rows, cats]
        rows, cats = rows[new], cats[new]
        supply = ctx.suppliers
        for c in np.unique(cats):  # loop over categories, not merchants
            here = rows[cats == c]
            pick = supply.by_category[c][rng.integers(0, supply.by_category[c].size, here.size)]
            table.supplier[here, c] = pick
            table.unit_cost[here, c] = table.goods_cost[here, c] * supply.cost_factor[pick]
        table.carries[rows, cats] = True

    def setup(self, ctx: PolicyContext) -> MarketChanges:
        self.onboarded = self.config.onboard_longtail_merchants
        return MarketChanges(onboard_longtail_merchants=self.onboarded)

    def month_end(self, ctx: PolicyContext) -> MonthEndChanges | None:
        threshold = self.config.delist_turnover_below
        if threshold is None:
            return None
        t = ctx.merchants
        daily = t.demand_history.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            turnover = np.where(t.on_hand > 0, daily * 365.0 / t.on_hand, np.inf)
        slow = t.carries & t.active[:, None] & (turnover < threshold) & (t.on_order == 0)
        slow &= t.carries.sum(axis=1, keepdims=True) > 1  # never the last category
        # at most one category per merchant a month: the slowest
        worst = np.argmin(np.where(slow, turnover, np.inf), axis=1)
        rows = np.flatnonzero(slow.any(axis=1))
        cats = worst[rows]
        self.delisted += int(rows.size)
        return MonthEndChanges(rows, cats)  # the model writes their stock off and drops the range

    def start_measuring(self) -> None:
        self.delisted = 0

    def summary(self) -> dict[str, float]:
        return {"assortment_delisted_cells": self.delisted, "assortment_onboarded_merchants": self.onboarded}
