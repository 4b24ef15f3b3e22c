"""Loyalty: points, tiers by trailing spend, and a paid membership.

Programme. Every customer is a member. Points are earned on each served order (value x
points_per_currency x the tier's multiplier) and redeemed on an order once the balance reaches
redeem_min_points, at point_value each (ledger flow loyalty: platform -> shoppers). The
purchase-rate uplift depends on how heavy a buyer the shopper is: light and moderate buyers
gain, heavy buyers little or nothing -- the direction Liu (2007, Journal of Marketing 71(4))
found in a convenience-store programme; the sizes are assumptions (docs/parameters.md).
Buyer weight: terciles of the latent purchase rate among the shoppers. Members' dropout
probability is multiplied by dropout_factor.

Tiers. A shopper's tier follows its trailing 90-day spend (an exponentially weighted sum with
a 90-day time constant), with its own points multiplier, uplift and dropout factor.

Paid membership. At each month end a share `uptake` of active non-members join; members
who are no longer active cancel. Members pay the monthly fee (ledger flow membership:
shoppers -> platform), buy more often, drop out less, and ship free (the platform pays
free_shipping_cost_per_order, booked as loyalty cost).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.config import Loyalty as LoyaltyConfig
from sim.policies import Policy, register

if TYPE_CHECKING:
    from sim.model import MarketModel
    from sim.orders import OrderBatch

DECAY_90D = float(np.exp(-1.0 / 90.0))


@register
class Loyalty(Policy):
    name = "loyalty"
    config: LoyaltyConfig

    def setup(self, model: MarketModel) -> None:
        cfg, sh = self.config, model.shoppers
        n = sh.n
        self.points = np.zeros(n)
        self.spend_90d = np.zeros(n)
        self.member = np.zeros(n, dtype=bool)  # paid membership
        self._rng = model.streams.generator("policy/loyalty")
        cut = np.quantile(sh.rate_weekly, [1 / 3, 2 / 3])
        weight = np.digitize(sh.rate_weekly, cut)  # 0 light, 1 moderate, 2 heavy
        self.base_uplift = np.array([cfg.uplift_light, cfg.uplift_moderate, cfg.uplift_heavy])[weight]
        self.tier_min = np.array([t.min_spend_90d for t in cfg.tiers])
        self.totals = {"points_earned": 0.0, "points_redeemed": 0.0, "membership_fees": 0.0, "members_joined": 0}

    def _tier(self) -> np.ndarray:
        return np.searchsorted(self.tier_min, self.spend_90d, side="right") - 1

    def purchase_multiplier(self, model: MarketModel, day: int) -> np.ndarray | float:
        tiers = self.config.tiers
        uplift = self.base_uplift + np.array([t.purchase_uplift for t in tiers])[self._tier()]
        ms = self.config.membership
        if ms.enabled:
            uplift = uplift + self.member * ms.purchase_uplift
        return np.where(model.shoppers.is_customer, 1.0 + uplift, 1.0)

    def dropout_multiplier(self, model: MarketModel, day: int) -> np.ndarray | float:
        tiers = self.config.tiers
        factor = self.config.dropout_factor * np.array([t.dropout_factor for t in tiers])[self._tier()]
        ms = self.config.membership
        if ms.enabled:
            factor = factor * np.where(self.member, ms.dropout_factor, 1.0)
        return factor

    def on_orders(self, model: MarketModel, day: int, orders: OrderBatch) -> None:
        cfg = self.config
        self.spend_90d *= DECAY_90D
        rows = np.flatnonzero(orders.fulfilled)
        shopper, value = orders.shopper[rows], orders.value[rows]
        np.add.at(self.spend_90d, shopper, value)
        mult = np.array([t.points_multiplier for t in cfg.tiers])[self._tier()[shopper]]
        earned = value * cfg.points_per_currency * mult
        np.add.at(self.points, shopper, earned)
        self.totals["points_earned"] += float(earned.sum())
        redeem = shopper[self.points[shopper] >= cfg.redeem_min_points]
        redeem = np.unique(redeem)
        cost = float(self.points[redeem].sum()) * cfg.point_value
        self.totals["points_redeemed"] += float(self.points[redeem].sum())
        self.points[redeem] = 0.0
        ms = cfg.membership
        if ms.enabled:
            cost += int(self.member[shopper].sum()) * ms.free_shipping_cost_per_order
        if cost:
            model.ledger.post("loyalty", cost)

    def month_end(self, model: MarketModel, day: int) -> None:
        ms = self.config.membership
        if not ms.enabled:
            return
        sh = model.shoppers
        active = sh.is_customer & (day - sh.last_day < model.scenario.shoppers.lifecycle.dormant_after_days)
        self.member &= active  # lapsed members cancel
        join = active & ~self.member & (self._rng.random(sh.n) < ms.uptake)
        self.member |= join
        self.totals["members_joined"] += int(join.sum())
        fees = float(self.member.sum()) * ms.fee_per_month
        if fees:
            model.ledger.post("membership", fees)
            self.totals["membership_fees"] += fees

    def summary(self, model: MarketModel) -> dict[str, float]:
        t = self.totals
        return {
            "loyalty_points_earned": t["points_earned"], "loyalty_points_redeemed": t["points_redeemed"],
            "loyalty_points_outstanding_value": float(self.points.sum()) * self.config.point_value,
            "membership_revenue": t["membership_fees"], "members_end": int(self.member.sum()),
            "members_joined": t["members_joined"],
        }
