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

import numpy as np
from pydantic import Field, model_validator

from sim.kpis import Kpi
from sim.orders import OrderBatch
from sim.policies.base import Policy, PolicyContext
from sim.schema import NonNegative, PolicySection, Positive, Probability, Section

DECAY_90D = float(np.exp(-1.0 / 90.0))


class LoyaltyTierConfig(Section):
    name: str = Field(min_length=1, description="Tier name (unique)")
    min_spend_90d: NonNegative = Field(description="Trailing 90-day spend to reach the tier [currency]")
    points_multiplier: Positive = Field(1.0, description="Multiplies points earned")
    purchase_uplift: NonNegative = Field(0.0, description="Extra purchase rate of the tier's members (share)")
    dropout_factor: Probability = Field(1.0, description="Multiplies the dropout probability of the tier's members")


def _default_tiers() -> list[LoyaltyTierConfig]:
    return [LoyaltyTierConfig(name="member", min_spend_90d=0.0),
            LoyaltyTierConfig(name="silver", min_spend_90d=100.0, points_multiplier=1.5, purchase_uplift=0.03,
                        dropout_factor=0.95),
            LoyaltyTierConfig(name="gold", min_spend_90d=300.0, points_multiplier=2.0, purchase_uplift=0.05,
                        dropout_factor=0.9)]


class MembershipConfig(Section):
    enabled: bool = Field(False, description="Offer a paid membership")
    fee_per_month: NonNegative = Field(5.0, description="Membership fee [currency/month]")
    uptake: Probability = Field(0.05, description="Share of active non-members who join at each month end")
    purchase_uplift: NonNegative = Field(0.2, description="Extra purchase rate of members (share)")
    dropout_factor: Probability = Field(0.7, description="Multiplies members' dropout probability")
    free_shipping_cost_per_order: NonNegative = Field(
        1.0, description="Shipping the platform pays on each member order [currency]"
    )


class LoyaltyConfig(PolicySection):
    """Points, tiers by trailing spend, and a paid membership."""

    points_per_currency: NonNegative = Field(1.0, description="Points earned per unit of currency spent")
    point_value: NonNegative = Field(0.01, description="Value of a point when redeemed [currency]")
    redeem_min_points: Positive = Field(500.0, description="Points are redeemed on an order once the balance reaches this")
    uplift_light: NonNegative = Field(0.10, description="Purchase-rate uplift of light buyers (lowest third of rates)")
    uplift_moderate: NonNegative = Field(0.06, description="Purchase-rate uplift of moderate buyers (middle third)")
    uplift_heavy: NonNegative = Field(0.0, description="Purchase-rate uplift of heavy buyers (top third)")
    dropout_factor: Probability = Field(0.9, description="Multiplies every programme member's dropout probability")
    tiers: list[LoyaltyTierConfig] = Field(default_factory=_default_tiers, min_length=1,
                                     description="Tiers by trailing 90-day spend, lowest first")
    membership: MembershipConfig = Field(default_factory=MembershipConfig, description="The paid membership")

    @model_validator(mode="after")
    def _tiers_ordered(self) -> LoyaltyConfig:
        spends = [t.min_spend_90d for t in self.tiers]
        if spends != sorted(spends) or spends[0] != 0:
            raise ValueError("tiers must start at min_spend_90d 0 and rise")
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be unique (got {names})")
        return self


class Loyalty(Policy):
    name = "loyalty"
    title = "Loyalty programme"
    Config = LoyaltyConfig
    flows = {
        "loyalty": ("platform", "shoppers"),     # points redeemed, members' free shipping
        "membership": ("shoppers", "platform"),  # paid membership fees
    }
    kpis = (
        Kpi("loyalty_points_earned", "points", "points earned on served orders"),
        Kpi("loyalty_points_redeemed", "points", "points redeemed"),
        Kpi("loyalty_points_outstanding_value", "currency", "points balance at the end x point value", "lower"),
        Kpi("membership_revenue", "currency", "membership fees (ledger flow membership)", "higher"),
        Kpi("members_end", "shoppers", "paying members at the end", "higher"),
        Kpi("members_joined", "shoppers", "membership joins during the run", "higher"),
    )
    config: LoyaltyConfig

    def setup(self, ctx: PolicyContext) -> None:
        cfg, sh = self.config, ctx.shoppers
        n = sh.n
        self.points = np.zeros(n)
        self.spend_90d = np.zeros(n)
        self.member = np.zeros(n, dtype=bool)  # paid membership
        cut = np.quantile(sh.rate_weekly, [1 / 3, 2 / 3])
        weight = np.digitize(sh.rate_weekly, cut)  # 0 light, 1 moderate, 2 heavy
        self.base_uplift = np.array([cfg.uplift_light, cfg.uplift_moderate, cfg.uplift_heavy])[weight]
        self.tier_min = np.array([t.min_spend_90d for t in cfg.tiers])
        self.totals = {"points_earned": 0.0, "points_redeemed": 0.0, "membership_fees": 0.0, "members_joined": 0}

    def _tier(self) -> np.ndarray:
        return np.searchsorted(self.tier_min, self.spend_90d, side="right") - 1

    def purchase_multiplier(self, ctx: PolicyContext) -> np.ndarray | float:
        tiers = self.config.tiers
        uplift = self.base_uplift + np.array([t.purchase_uplift for t in tiers])[self._tier()]
        ms = self.config.membership
        if ms.enabled:
            uplift = uplift + self.member * ms.purchase_uplift
        return np.where(ctx.shoppers.is_customer, 1.0 + uplift, 1.0)

    def dropout_multiplier(self, ctx: PolicyContext) -> np.ndarray | float:
        tiers = self.config.tiers
        factor = self.config.dropout_factor * np.array([t.dropout_factor for t in tiers])[self._tier()]
        ms = self.config.membership
        if ms.enabled:
            factor = factor * np.where(self.member, ms.dropout_factor, 1.0)
        return factor

    def on_orders(self, ctx: PolicyContext, orders: OrderBatch) -> None:
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
            ctx.ledger.post("loyalty", cost)

    def month_end(self, ctx: PolicyContext) -> None:
        ms = self.config.membership
        if not ms.enabled:
            return
        active = ctx.active()
        self.member &= active  # lapsed members cancel
        join = active & ~self.member & (self.rng.random(ctx.shoppers.n) < ms.uptake)
        self.member |= join
        self.totals["members_joined"] += int(join.sum())
        fees = float(self.member.sum()) * ms.fee_per_month
        if fees:
            ctx.ledger.post("membership", fees)
            self.totals["membership_fees"] += fees

    def summary(self) -> dict[str, float]:
        t = self.totals
        return {
            "loyalty_points_earned": t["points_earned"], "loyalty_points_redeemed": t["points_redeemed"],
            "loyalty_points_outstanding_value": float(self.points.sum()) * self.config.point_value,
            "membership_revenue": t["membership_fees"], "members_end": int(self.member.sum()),
            "members_joined": t["members_joined"],
        }
