"""Loyalty: points that act like money with a goal, tiers by trailing spend, a paid membership.

Points. Every customer collects points on each served order (value x points_per_currency x the
tier's multiplier) and redeems the whole balance on an order once it reaches redeem_min_points,
at point_value each. The books are accrual: a point is a liability when earned. Its expected
cost, point_value x (1 - breakage), is booked then (flow loyalty: platform -> provisions); a
redemption pays the shopper out of the provision (flow loyalty_redeemed) and books the
breakage share that did not happen (flow loyalty); a balance left untouched for
points_expiry_days expires and its provision is released (flow loyalty_expired: provisions ->
platform). The provisions account's balance is the outstanding liability
(loyalty_points_liability_end). A point is worth money only if
it is redeemed, later: a shopper values the points of an order at their money value x
exp(-weeks to the threshold / redemption_horizon_weeks) (weeks at its own purchase rate and
usual order), so each order costs it a share r = points_per_currency x multiplier x point_value
x that discount less. That saving acts through the buy-or-not choice (sim/choice.py) like any
price cut. Purchases also accelerate as the balance nears the threshold (the goal gradient,
Kivetz, Urminsky & Zheng 2006, where the reward, a free coffee, was worth about one purchase):
x (1 + goal_gradient x balance / threshold x min(1, reward / usual order)), the reward being
redeem_min_points x point_value. Raising point_value raises repeat orders and costs more. Every
customer's dropout probability is multiplied by dropout_factor, and by its tier's (an
assumption to sweep: switching away forfeits the points).

Tiers. A shopper's tier follows its trailing 90-day spend (an exponentially weighted sum with
a 90-day time constant), with its own points multiplier and dropout factor.

Paid membership. Members ship free. Prices include delivery, so for a member's order the
merchant does not charge the delivery part (flow member_delivery_discount: merchants ->
shoppers) and the platform pays the merchant that delivery cost instead (flow free_shipping:
platform -> merchants): the carrier or the fulfilment fee is paid once, by the merchant as for
any order, the platform bears it, the member saves it. The delivery cost is the merchant's own:
logistics.fulfilment_fee_per_parcel if platform-fulfilled, else carrier fee + packaging. The
saving the member expects (the share-weighted mean delivery cost) acts through the buy-or-not
choice. At each month end a share `consideration` of the active non-members weigh the
membership: a shopper joins when the value it expects in a month (its own expected orders x
the saving per order) x its taste (lognormal, mean 1, log-sd taste_sd, drawn once) exceeds
the fee; members who are no longer active cancel. So
uptake falls as the fee rises and heavy buyers self-select. The fee (ledger flow membership:
shoppers -> platform) is recognised day by day, pro rata. Members' dropout probability is
multiplied by the membership's dropout_factor (a lock-in assumption without a source: 1 by default,
declared in scenarios/uncertainties.yaml).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from sim.kpis import Kpi
from sim.orders import OrderBatch
from sim.policies.base import PerShopper, Policy, PolicyContext
from sim.schema import NonNegative, PolicySection, Positive, Probability, Section

DECAY_90D = float(np.exp(-1.0 / 90.0))


class LoyaltyTierConfig(Section):
    name: str = Field(min_length=1, description="Tier name (unique)")
    min_spend_90d: NonNegative = Field(description="Trailing 90-day spend to reach the tier [currency]")
    points_multiplier: Positive = Field(1.0, description="Multiplies points earned")
    dropout_factor: Probability = Field(1.0, description="Multiplies the dropout probability of the tier's members")


def _default_tiers() -> list[LoyaltyTierConfig]:
    return [LoyaltyTierConfig(name="member", min_spend_90d=0.0),
            LoyaltyTierConfig(name="silver", min_spend_90d=100.0, points_multiplier=1.5),
            LoyaltyTierConfig(name="gold", min_spend_90d=300.0, points_multiplier=2.0)]


class MembershipConfig(Section):
    enabled: bool = Field(False, description="Offer a paid membership")
    fee_per_month: NonNegative = Field(5.0, description="Membership fee [currency/month]")
    consideration: Probability = Field(
        0.2, description="Share of active non-members who weigh joining at each month end"
    )
    taste_sd: NonNegative = Field(
        0.5, description="Log-sd of how shoppers value the membership beyond its money value (heterogeneity)"
    )
    dropout_factor: Probability = Field(
        1.0, description="Multiplies members' dropout probability (lock-in beyond what the free shipping is worth; "
        "no source found: 1, neutral, by default; scenarios/uncertainties.yaml sweeps 0.6-1)"
    )


class LoyaltyConfig(PolicySection):
    """Points, tiers by trailing spend, and a paid membership."""

    points_per_currency: NonNegative = Field(1.0, description="Points earned per unit of currency spent")
    point_value: NonNegative = Field(0.01, description="Value of a point when redeemed [currency]")
    redeem_min_points: Positive = Field(500.0,
                                        description="Points are redeemed on an order once the balance reaches this")
    breakage: Probability = Field(
        0.3, description="Share of points expected never to be redeemed: the provision booked when a point is earned "
        "is point_value x (1 - breakage)"
    )
    points_expiry_days: int = Field(
        365, ge=1, le=3650, description="A balance expires after this many days without a served order [days]"
    )
    redemption_horizon_weeks: Positive = Field(
        26.0, description="Points due in this many weeks are worth 1/e of their money value to the shopper [weeks]"
    )
    goal_gradient: NonNegative = Field(
        0.25, description="Extra purchase rate of a shopper at the threshold of a reward worth one usual order "
        "(share; linear in the balance, scaled by the reward's worth in usual orders up to 1)"
    )
    dropout_factor: Probability = Field(
        1.0, description="Multiplies every programme member's dropout probability beyond what the points are worth "
        "(no source found: 1, neutral, by default; scenarios/uncertainties.yaml sweeps 0.8-1)"
    )
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
    headline = ("loyalty_cost", "membership_revenue", "members_end", "free_shipping_cost",
                "loyalty_points_liability_end", "loyalty_points_expired")
    Config = LoyaltyConfig
    flows = {
        "loyalty": ("platform", "provisions"),           # points' expected cost, booked when earned (+ true-ups)
        "loyalty_redeemed": ("provisions", "shoppers"),  # points redeemed, paid out of the provision
        "loyalty_expired": ("provisions", "platform"),   # provision of expired points released
        "free_shipping": ("platform", "merchants"),      # members' delivery cost, paid to the merchant
        "member_delivery_discount": ("merchants", "shoppers"),  # ... and passed on to the member
        "membership": ("shoppers", "platform"),          # paid membership fees
    }
    kpis = (
        Kpi("loyalty_points_earned", "points", "points earned on served orders"),
        Kpi("loyalty_points_redeemed", "points", "points redeemed"),
        Kpi("loyalty_points_outstanding_value", "currency", "points balance at the end x point value", "lower"),
        Kpi("loyalty_points_liability_end", "currency", "provision for outstanding points at the end: their value "
            "x (1 - breakage)", "lower", label="points liability (end)"),
        Kpi("loyalty_points_expired", "points", "points expired after points_expiry_days without an order",
            label="points expired"),
        Kpi("free_shipping_cost", "currency", "members' delivery cost paid by the platform (flow free_shipping)",
            "lower"),
        Kpi("membership_revenue", "currency", "membership fees (ledger flow membership)", "higher"),
        Kpi("members_end", "shoppers", "paying members at the end", "higher", label="members (end)"),
        Kpi("members_joined", "shoppers", "membership joins during the run", "higher"),
    )
    config: LoyaltyConfig

    def setup(self, ctx: PolicyContext) -> None:
        cfg, sh = self.config, ctx.shoppers
        n = sh.n
        self.points = np.zeros(n)
        self.discount_today: np.ndarray | float = 0.0  # per order of the day: the delivery a member did not pay
        self.delivery_today = 0.0  # what a member expects to save per order today (purchase_multiplier)
        self.spend_90d = np.zeros(n)
        self.member = np.zeros(n, dtype=bool)  # paid membership
        self.taste = np.exp(self.rng.normal(-cfg.membership.taste_sd**2 / 2, cfg.membership.taste_sd, n))
        self.usual_order = ctx.expected_order_value()
        self.rate = ctx.purchase_rate()  # weekly, as the shopper knows it
        self.reward_in_orders = np.minimum(cfg.redeem_min_points * cfg.point_value / self.usual_order, 1.0)
        self.tier_min = np.array([t.min_spend_90d for t in cfg.tiers])
        self.points_mult = np.array([t.points_multiplier for t in cfg.tiers])
        self.last_order = np.full(n, -1, dtype=np.int64)  # day of the last served order (expiry clock)
        self.served_on: dict[int, np.ndarray] = {}  # day -> shoppers served that day (until their points expire)
        self.tier = np.searchsorted(self.tier_min, self.spend_90d, side="right") - 1  # kept as spend changes
        self.tier_floor = self.tier_min[self.tier]  # below it, the tier drops
        self.multiplier = PerShopper(n, lambda who: self._purchase_multiplier(ctx, who))
        self.totals = {"points_earned": 0.0, "points_redeemed": 0.0, "points_expired": 0.0, "membership_fees": 0.0,
                       "free_shipping": 0.0, "members_joined": 0}
        self.liability = 0.0

    def _tier(self, who: np.ndarray | slice = slice(None)) -> np.ndarray:
        return self.tier[who]

    def _retier(self, who: np.ndarray) -> None:
        """The tiers of shoppers `who`, whose trailing spend changed, from that spend."""
        self.tier[who] = np.searchsorted(self.tier_min, self.spend_90d[who], side="right") - 1
        self.tier_floor[who] = self.tier_min[self.tier[who]]

    def points_saving(self, ctx: PolicyContext, who: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Share of an order's price the shopper gets back in points, valued now (money x time discount)."""
        cfg = self.config
        per_currency = cfg.points_per_currency * self.points_mult[self._tier(who)]
        per_week = per_currency * self.usual_order[who] * self.rate[who]
        missing = np.maximum(cfg.redeem_min_points - self.points[who], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            weeks = np.where(per_week > 0, missing / per_week, np.inf)
        return per_currency * cfg.point_value * np.exp(-weeks / cfg.redemption_horizon_weeks)

    def purchase_multiplier(self, ctx: PolicyContext, who: np.ndarray) -> np.ndarray | float:
        """Points' and membership's saving, and the goal gradient (`who` are customers: prospects hold no
        points). Kept per shopper: recomputed where points, tier or membership changed, and for everyone
        when the offer or the delivery a member saves does."""
        self.delivery_today = self._expected_delivery_cost(ctx) if self.config.membership.enabled else 0.0
        return self.multiplier.of(who, (ctx.offer_key(), self.delivery_today))

    def _purchase_multiplier(self, ctx: PolicyContext, who: np.ndarray) -> np.ndarray:
        cfg = self.config
        saving = self.points_saving(ctx, who)
        if cfg.membership.enabled:
            saving = saving + np.where(self.member[who], self.delivery_today / self.usual_order[who], 0.0)
        progress = np.minimum(self.points[who] / cfg.redeem_min_points, 1.0)
        goal = 1.0 + cfg.goal_gradient * progress * self.reward_in_orders[who]
        return ctx.saving_multiplier(saving, who) * goal

    def dropout_multiplier(self, ctx: PolicyContext, who: np.ndarray) -> np.ndarray | float:
        tiers = self.config.tiers
        factor = self.config.dropout_factor * np.array([t.dropout_factor for t in tiers])[self._tier(who)]
        ms = self.config.membership
        if ms.enabled:
            factor = factor * np.where(self.member[who], ms.dropout_factor, 1.0)
        return factor

    def _expected_delivery_cost(self, ctx: PolicyContext) -> float:
        """What a member expects to save per order: the active merchants' mean delivery cost per parcel."""
        t = ctx.merchants
        if t is None or not t.active.any():
            return 0.0
        return float(_delivery_cost(ctx, t.platform_fulfilled[t.active]).mean())

    def on_orders(self, ctx: PolicyContext, orders: OrderBatch) -> None:
        cfg = self.config
        self.spend_90d *= DECAY_90D
        rows = np.flatnonzero(orders.fulfilled)
        shopper, value = orders.shopper[rows], orders.value[rows]
        np.add.at(self.spend_90d, shopper, value)
        changed = np.concatenate([shopper, np.flatnonzero(self.spend_90d < self.tier_floor)])  # ordered, decayed
        self._retier(changed)
        self.multiplier.mark(changed)  # their points or tier changed
        earned = value * cfg.points_per_currency * self.points_mult[self._tier(shopper)]
        np.add.at(self.points, shopper, earned)
        self.last_order[shopper] = ctx.day
        if shopper.size:
            self.served_on[ctx.day] = np.unique(shopper).astype(np.int32)  # a year of orders: 4 bytes each
        self.totals["points_earned"] += float(earned.sum())
        accrued = float(earned.sum()) * cfg.point_value * (1.0 - cfg.breakage)
        redeem = np.unique(shopper[self.points[shopper] >= cfg.redeem_min_points])
        paid = float(self.points[redeem].sum()) * cfg.point_value
        self.totals["points_redeemed"] += float(self.points[redeem].sum())
        self.points[redeem] = 0.0
        # the provision held (1 - breakage) of the redeemed points' value: the rest is a cost now
        self._book(ctx, "loyalty", accrued + paid * cfg.breakage)
        self._book(ctx, "loyalty_redeemed", paid)
        self.discount_today = 0.0
        if cfg.membership.enabled:
            members = self.member[shopper]
            fulfilled = ctx.merchants.platform_fulfilled[orders.merchant[rows][members]]
            per_order = _delivery_cost(ctx, fulfilled)
            delivery = float(per_order.sum())
            self._book(ctx, "free_shipping", delivery)
            self.totals["free_shipping"] += delivery
            self._book(ctx, "member_delivery_discount", delivery)
            self.discount_today = np.zeros(orders.shopper.size)
            self.discount_today[rows[members]] = per_order

    def order_discounts(self, ctx: PolicyContext, orders: OrderBatch) -> np.ndarray | float:
        """A member's order cost it the order value less the delivery it did not pay: what a return gives
        back (issue 21: the refund was the full value, 4 or so too much per returned member order); a return
        never refunds less than nothing."""
        if np.ndim(self.discount_today) == 0:
            return self.discount_today
        return np.minimum(self.discount_today, orders.value)

    def _book(self, ctx: PolicyContext, flow: str, amount: float) -> None:
        if amount:
            ctx.ledger.post(flow, amount)
            sign = {"loyalty": 1.0, "loyalty_redeemed": -1.0, "loyalty_expired": -1.0}.get(flow, 0.0)
            self.liability += sign * amount

    def day_end(self, ctx: PolicyContext) -> None:
        """Balances untouched for points_expiry_days expire (their provision released); the membership
        fee is income pro rata: each day earns its share of the month's fee."""
        cfg = self.config
        # a balance expires on the day its last order is points_expiry_days old (points are only earned with
        # an order, and every day's expiries are done on that day): only that day's customers can expire
        last = ctx.day - cfg.points_expiry_days
        served = self.served_on.pop(last, None)
        expired = served[(self.last_order[served] == last) & (self.points[served] > 0)] if served is not None else []
        if len(expired):
            points = float(self.points[expired].sum())
            self.totals["points_expired"] += points
            self.points[expired] = 0.0
            self.multiplier.mark(expired)
            self._book(ctx, "loyalty_expired", points * cfg.point_value * (1.0 - cfg.breakage))
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
        worth = self.taste * orders_a_month * self._expected_delivery_cost(ctx) > ms.fee_per_month
        before = self.member.copy()
        self.member &= active  # lapsed members cancel (what it is worth to a shopper does not change)
        weigh = active & ~self.member & (self.rng.random(ctx.shoppers.n) < ms.consideration)
        join = weigh & worth
        self.member |= join
        self.multiplier.mark(np.flatnonzero(self.member != before))
        self.totals["members_joined"] += int(join.sum())

    def summary(self) -> dict[str, float]:
        t = self.totals
        return {
            "loyalty_points_earned": t["points_earned"], "loyalty_points_redeemed": t["points_redeemed"],
            "loyalty_points_outstanding_value": float(self.points.sum()) * self.config.point_value,
            "loyalty_points_liability_end": self.liability, "loyalty_points_expired": t["points_expired"],
            "free_shipping_cost": t["free_shipping"],
            "membership_revenue": t["membership_fees"], "members_end": int(self.member.sum()),
            "members_joined": t["members_joined"],
        }


def _delivery_cost(ctx: PolicyContext, platform_fulfilled: np.ndarray) -> np.ndarray:
    """Delivery cost per parcel of the merchants shipping: the fulfilment fee, or carrier fee + packaging."""
    lg = ctx.market.logistics
    own = lg.carrier_cost_per_parcel + lg.packaging_types[lg.packaging].cost_per_parcel
    return np.where(platform_fulfilled, lg.fulfilment_fee_per_parcel, own)
