"""Loyalty: points that act like money with a goal, tiers by trailing spend, a paid membership.

Points. Every customer collects points on each served order (value x points_per_currency x the
tier's multiplier) and redeems the whole balance on an order once it reaches redeem_min_points,
at point_value each (ledger flow loyalty: platform -> shoppers). A point is worth money only if
it is redeemed, later: a shopper values the points of an order at their money value x
exp(-weeks to the threshold / redemption_horizon_weeks) (weeks at its own purchase rate and
usual order), so each order costs it a share r = points_per_currency x multiplier x point_value
x that discount less. That saving acts through the buy-or-not choice (sim/choice.py) like any
price cut. Purchases also accelerate as the balance nears the threshold (the goal gradient,
Kivetz, Urminsky & Zheng 2006, where the reward, a free coffee, was worth about one purchase):
x (1 + goal_gradient x balance / threshold x min(1, reward / usual order)), the reward being
redeem_min_points x point_value. Raising point_value raises repeat orders and costs more. Every customer's dropout probability is
multiplied by dropout_factor, and by its tier's (an assumption to sweep: switching away
forfeits the points).

Tiers. A shopper's tier follows its trailing 90-day spend (an exponentially weighted sum with
a 90-day time constant), with its own points multiplier and dropout factor.

Paid membership. Members ship free: the platform pays free_shipping_cost_per_order on each of
their served orders (booked as loyalty cost), a saving the member values through the buy-or-not
choice. At each month end a share `consideration` of the active non-members weigh the
membership: a shopper joins when the value it expects in a month (its own expected orders x
the saving per order) x its taste (lognormal, mean 1, log-sd taste_sd, drawn once) exceeds
the fee; members who are no longer active cancel. So
uptake falls as the fee rises and heavy buyers self-select. The fee (ledger flow membership:
shoppers -> platform) is recognised day by day, pro rata. Members' dropout probability is
multiplied by the membership's dropout_factor (a labelled lock-in assumption).
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
    dropout_factor: Probability = Field(1.0, description="Multiplies the dropout probability of the tier's members")


def _default_tiers() -> list[LoyaltyTierConfig]:
    return [LoyaltyTierConfig(name="member", min_spend_90d=0.0),
            LoyaltyTierConfig(name="silver", min_spend_90d=100.0, points_multiplier=1.5, dropout_factor=0.95),
            LoyaltyTierConfig(name="gold", min_spend_90d=300.0, points_multiplier=2.0, dropout_factor=0.9)]


class MembershipConfig(Section):
    enabled: bool = Field(False, description="Offer a paid membership")
    fee_per_month: NonNegative = Field(5.0, description="Membership fee [currency/month]")
    free_shipping_cost_per_order: NonNegative = Field(
        1.0, description="Shipping the platform pays on each member order, a saving to the member [currency]"
    )
    consideration: Probability = Field(
        0.2, description="Share of active non-members who weigh joining at each month end"
    )
    taste_sd: NonNegative = Field(
        0.5, description="Log-sd of how shoppers value the membership beyond its money value (heterogeneity)"
    )
    dropout_factor: Probability = Field(0.7, description="Multiplies members' dropout probability (lock-in)")


class LoyaltyConfig(PolicySection):
    """Points, tiers by trailing spend, and a paid membership."""

    points_per_currency: NonNegative = Field(1.0, description="Points earned per unit of currency spent")
    point_value: NonNegative = Field(0.01, description="Value of a point when redeemed [currency]")
    redeem_min_points: Positive = Field(500.0, description="Points are redeemed on an order once the balance reaches this")
    redemption_horizon_weeks: Positive = Field(
        26.0, description="Points due in this many weeks are worth 1/e of their money value to the shopper [weeks]"
    )
    goal_gradient: NonNegative = Field(
        0.25, description="Extra purchase rate of a shopper at the threshold of a reward worth one usual order "
        "(share; linear in the balance, scaled by the reward's worth in usual orders up to 1)"
    )
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
        self.taste = np.exp(self.rng.normal(-cfg.membership.taste_sd**2 / 2, cfg.membership.taste_sd, n))
        self.usual_order = ctx.expected_order_value()
        self.rate = ctx.purchase_rate()  # weekly, as the shopper knows it
        self.reward_in_orders = np.minimum(cfg.redeem_min_points * cfg.point_value / self.usual_order, 1.0)
        self.tier_min = np.array([t.min_spend_90d for t in cfg.tiers])
        self.points_mult = np.array([t.points_multiplier for t in cfg.tiers])
        self.totals = {"points_earned": 0.0, "points_redeemed": 0.0, "membership_fees": 0.0, "members_joined": 0}

    def _tier(self, who: np.ndarray | slice = slice(None)) -> np.ndarray:
        return np.searchsorted(self.tier_min, self.spend_90d[who], side="right") - 1

    def points_saving(self, ctx: PolicyContext, who: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Share of an order's price the shopper gets back in points, valued now (money x time discount)."""
        cfg = self.config
        per_currency = cfg.points_per_currency * self.points_mult[self._tier(who)]
        per_week = per_currency * self.usual_order[who] * self.rate[who]
        missing = np.maximum(cfg.redeem_min_points - self.points[who], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            weeks = np.where(per_week > 0, missing / per_week, np.inf)
        return per_currency * cfg.point_value * np.exp(-weeks / cfg.redemption_horizon_weeks)

    def purchase_multiplier(self, ctx: PolicyContext) -> np.ndarray | float:
        """Customers only (prospects hold no points): points' and membership's saving, and the goal gradient."""
        cfg = self.config
        who = np.flatnonzero(ctx.shoppers.is_customer)
        saving = self.points_saving(ctx, who)
        if cfg.membership.enabled:
            saving = saving + np.where(self.member[who], cfg.membership.free_shipping_cost_per_order
                                       / self.usual_order[who], 0.0)
        progress = np.minimum(self.points[who] / cfg.redeem_min_points, 1.0)
        goal = 1.0 + cfg.goal_gradient * progress * self.reward_in_orders[who]
        mult = np.ones(ctx.shoppers.n)
        mult[who] = ctx.saving_multiplier(saving, who) * goal
        return mult

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
        earned = value * cfg.points_per_currency * self.points_mult[self._tier(shopper)]
        np.add.at(self.points, shopper, earned)
        self.totals["points_earned"] += float(earned.sum())
        redeem = np.unique(shopper[self.points[shopper] >= cfg.redeem_min_points])
        cost = float(self.points[redeem].sum()) * cfg.point_value
        self.totals["points_redeemed"] += float(self.points[redeem].sum())
        self.points[redeem] = 0.0
        ms = cfg.membership
        if ms.enabled:
            cost += int(self.member[shopper].sum()) * ms.free_shipping_cost_per_order
        if cost:
            ctx.ledger.post("loyalty", cost)

    def day_end(self, ctx: PolicyContext) -> None:
        """The membership fee is income pro rata: each day earns its share of the month's fee."""
        fees = float(self.member.sum()) * self.config.membership.fee_per_month * 12.0 / 365.0
        if fees:
            ctx.ledger.post("membership", fees)
            self.totals["membership_fees"] += fees

    def month_end(self, ctx: PolicyContext) -> None:
        ms = self.config.membership
        if not ms.enabled:
            return
        active = ctx.active()
        orders_a_month = self.rate * 365.0 / 12.0 / 7.0
        worth = self.taste * orders_a_month * ms.free_shipping_cost_per_order > ms.fee_per_month
        self.member &= active  # lapsed members cancel (what it is worth to a shopper does not change)
        weigh = active & ~self.member & (self.rng.random(ctx.shoppers.n) < ms.consideration)
        join = weigh & worth
        self.member |= join
        self.totals["members_joined"] += int(join.sum())

    def summary(self) -> dict[str, float]:
        t = self.totals
        return {
            "loyalty_points_earned": t["points_earned"], "loyalty_points_redeemed": t["points_redeemed"],
            "loyalty_points_outstanding_value": float(self.points.sum()) * self.config.point_value,
            "membership_revenue": t["membership_fees"], "members_end": int(self.member.sum()),
            "members_joined": t["members_joined"],
        }
