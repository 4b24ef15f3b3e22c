"""Subsidy: coupon campaigns, targeted and budgeted, with their uplift and their cannibalisation.

Issue. At each day's start every campaign hands a coupon to the shoppers it targets (lifecycle
state new, active or dormant, a segment, or every customer) who hold none of its coupons and
got their last one at least `reissue_after_days` ago. A coupon is valid for `validity_days`.

Uplift, through the price. A coupon lowers the price of the holder's next order by d, its
discount as a share of the shopper's usual order (Gamma-Gamma mean spend x its segment's
category price level; capped at 0.9). Through the buy-or-not choice (sim/choice.py) the
holder's purchase rate is multiplied by (1 - d)^-(choice.incidence_weight x the segment's
price_sensitivity): the incidence part of a promotion's response (Bell, Chiang & Padmanabhan
1999), larger for price-hunting segments. Shoppers whose usual order is below min_basket do not
respond. A holder of several campaigns' coupons counts on the best one (an order uses one).

The dip (Van Heerde, Leeflang & Wittink 2004: about a third of a promotion bump is purchases
pulled forward). A served repeat order of a shopper whose coupon lifted its rate by m was induced
with probability 1 - 1/m; `acceleration_share` of that is borrowed from the shopper's later
purchases: the shopper then buys at half its rate until the purchases it skips make up what it
borrowed.

Redemption and cost. A holder's served repeat order of at least `min_basket` uses the coupon
(the first valid campaign in the list): the platform pays the discount (ledger flow subsidy).
A campaign stops paying, issuing and lifting purchase rates for the rest of the month once a
redemption is refused for lack of budget.

Cannibalisation. With common random numbers the model knows whether the shopper would have
bought that day without the coupon (its purchase clock against the rate without
this policy's multiplier); those redemptions are money paid for orders that came anyway.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from sim.arrays import locate
from sim.config import MarketConfig
from sim.kpis import Kpi
from sim.orders import OrderBatch
from sim.policies.base import PerShopper, Policy, PolicyContext
from sim.schema import NonNegative, PolicySection, Positive, Section

DIP_DEPTH = 0.5  # share of its purchases a shopper skips while it repays purchases pulled forward


class CampaignConfig(Section):
    """One coupon campaign of the subsidy policy."""

    name: str = Field(min_length=1, description="Campaign name (unique), e.g. welcome or winback")
    target: Literal["new", "active", "dormant", "segment", "everyone", "all"] = Field(
        description="Who receives coupons: customers in lifecycle state new, active or dormant, one segment, "
        "or every customer (everyone, or all as DESIGN.md writes it)"
    )
    segment: str | None = Field(None, description="With target segment: the segment's name")
    coupon_type: Literal["fixed", "percent"] = Field("fixed", description="A fixed amount or a percent of the order")
    value: Positive = Field(description="Coupon value [currency, or percent of the order value]")
    min_basket: NonNegative = Field(0.0, description="Smallest order value the coupon applies to [currency]")
    validity_days: int = Field(30, ge=1, le=365, description="Days a coupon can be used from issue")
    reissue_after_days: int = Field(90, ge=1, le=3650, description="Days before a shopper can get another coupon")
    monthly_budget: NonNegative | None = Field(
        None, description="Most the campaign may pay out in a calendar month [currency]; none: no cap"
    )

    @model_validator(mode="after")
    def _consistent(self) -> CampaignConfig:
        if self.coupon_type == "percent" and self.value >= 100:
            raise ValueError(f"a percent coupon must be below 100 (got {self.value:g})")
        if (self.target == "segment") != (self.segment is not None):
            raise ValueError("segment is needed with target segment, and only then")
        return self


class SubsidyConfig(PolicySection):
    """Coupons: targeted, budgeted, with uplift through price sensitivity and cannibalisation measured."""

    campaigns: list[CampaignConfig] = Field(min_length=1, description="Coupon campaigns (several may run at once)")
    acceleration_share: float = Field(
        0.33, ge=0.0, le=0.9, description="Share of the coupon-induced purchases borrowed from the shopper's later "
        "ones: after such a purchase the shopper buys that much less until it is made up (the post-promotion dip; "
        "Van Heerde, Leeflang & Wittink 2004: about a third of a promotion bump; 0: no dip)"
    )

    def at_sample(self, fraction: float) -> SubsidyConfig:
        """Budgets are the platform's: a sample gets its share."""
        return self.model_copy(update={"campaigns": [
            c if c.monthly_budget is None else c.model_copy(update={"monthly_budget": c.monthly_budget * fraction})
            for c in self.campaigns]})


class Subsidy(Policy):
    name = "subsidy"
    title = "Coupons"
    headline = ("subsidy_cost", "coupons_issued", "coupons_redeemed", "subsidy_cannibalisation_share",
                "subsidy_cannibalised_cost")
    Config = SubsidyConfig
    flows = {"subsidy": ("platform", "shoppers")}  # coupon discounts
    kpis = (
        Kpi("coupons_issued", "coupons", "coupons handed out, all campaigns"),
        Kpi("coupons_redeemed", "coupons", "coupons used on served repeat orders"),
        Kpi("subsidy_cannibalised_orders", "coupons", "redemptions by shoppers who would have bought anyway",
            "lower"),
        Kpi("subsidy_cannibalised_cost", "currency", "discounts paid on orders that came anyway", "lower",
            label="coupon money on orders that came anyway"),
        Kpi("subsidy_cannibalisation_share", "share", "cannibalised / redeemed coupons", "lower",
            label="coupons on orders that came anyway"),
        Kpi("subsidy_accelerated_orders", "orders", "coupon-induced purchases borrowed from the shoppers' later "
            "ones (expected; repaid by the post-promotion dip)", "lower"),
    )
    config: SubsidyConfig

    @classmethod
    def check(cls, config: SubsidyConfig, market: MarketConfig) -> None:
        segments = {s.name for s in market.shoppers.segments}
        for i, c in enumerate(config.campaigns):
            if c.segment is not None and c.segment not in segments:
                raise ValueError(f"policies.subsidy.campaigns.{i}.segment: unknown segment {c.segment!r}; "
                                 f"allowed: {', '.join(sorted(segments))}")
        names = [c.name for c in config.campaigns]
        if len(set(names)) != len(names):
            raise ValueError(f"policies.subsidy.campaigns: names must be unique (got {names})")

    def setup(self, ctx: PolicyContext) -> None:
        n, k = ctx.shoppers.n, len(self.config.campaigns)
        self.expiry = np.full((k, n), -1, dtype=np.int32)       # last valid day of the held coupon
        self.last_issue = np.full((k, n), -10**6, dtype=np.int32)
        # the first day a shopper may be given campaign i's coupon again: its coupon has expired (or was used)
        # and the reissue interval has passed; one array, so the day's test is one pass (issue 23)
        self.eligible_from = np.zeros((k, n), dtype=np.int32)
        self.spent_month = np.zeros(k)
        self.exhausted = np.zeros(k, dtype=bool)  # a redemption was refused for budget this month
        self.totals = {"issued": 0, "redeemed": 0, "cannibalised": 0, "cannibalised_cost": 0.0, "accelerated": 0.0}
        self.borrowed = np.zeros(n)  # purchases pulled forward by coupons, not yet made up (the dip's depth)
        self.who_today = np.zeros(0, dtype=np.int64)  # today's candidates for a repeat purchase
        self.coupon_multiplier = np.ones(0)  # their coupon multiplier today, before the dip
        self.expected_order = ctx.expected_order_value()  # the shopper's usual order value
        self.coupon = PerShopper(n, lambda who: self._coupon_multiplier(ctx, who))
        # each campaign's discount as a share of the shopper's usual order (per shopper for fixed amounts)
        self.discount_share = [min(c.value / 100.0, 0.9) if c.coupon_type == "percent"
                               else np.minimum(c.value / self.expected_order, 0.9) for c in self.config.campaigns]
        self.expiring: dict[int, list[np.ndarray]] = {}  # day -> shoppers whose coupon is no longer valid from then
        self.owing = np.zeros(0, dtype=np.int64)  # shoppers with borrowed > 0 (sorted)
        names = [s.name for s in ctx.market.shoppers.segments]
        self.segment_code = [names.index(c.segment) if c.segment else -1 for c in self.config.campaigns]

    def _budget_left(self, i: int) -> float:
        budget = self.config.campaigns[i].monthly_budget
        if budget is None:
            return np.inf
        return 0.0 if self.exhausted[i] else budget - self.spent_month[i]

    def _targets(self, ctx: PolicyContext, i: int, day: int) -> np.ndarray:
        """Which shoppers campaign i targets today (bool per shopper; customers or not)."""
        c, sh = self.config.campaigns[i], ctx.shoppers
        lc = ctx.market.shoppers.lifecycle
        # days since the first (last) purchase compared as days of the first (last) purchase: fewer passes
        if c.target == "new":
            return sh.first_day > day - lc.new_days
        if c.target == "active":
            return ctx.active()
        if c.target == "dormant":
            last = sh.last_day
            return (last <= day - lc.dormant_after_days) & (last > day - lc.churned_after_days)
        if c.target == "segment":
            return sh.segment == self.segment_code[i]
        return np.ones(sh.n, dtype=bool)

    def day_start(self, ctx: PolicyContext) -> None:
        day = ctx.day
        for expired_on in [d for d in self.expiring if d <= day]:  # coupons whose last valid day has passed
            for who_expired in self.expiring.pop(expired_on):
                self.coupon.mark(who_expired)
        for i, c in enumerate(self.config.campaigns):
            if self._budget_left(i) <= 0:
                continue
            # customers targeted, without a coupon, past the reissue interval: conditions on whole arrays (a
            # few contiguous passes cost less than gathering each array at every customer)
            give = np.flatnonzero(ctx.shoppers.is_customer & self._targets(ctx, i, day)
                                  & (self.eligible_from[i] <= day))
            self.expiry[i, give] = day + c.validity_days - 1
            self.eligible_from[i, give] = day + max(c.validity_days, c.reissue_after_days)
            self.coupon.mark(give)
            self.expiring.setdefault(day + c.validity_days, []).append(give)  # the first day they no longer hold it
            self.last_issue[i, give] = day
            self.totals["issued"] += int(give.size)

    def purchase_multiplier(self, ctx: PolicyContext, who: np.ndarray) -> np.ndarray | float:
        """A holder values its best coupon (an order uses one): its discount, through the price. Kept per
        shopper: recomputed where a coupon was issued, used or expired (marked in day_start and on_orders),
        and for everyone when the offer or a campaign's budget (spent or not) changes."""
        budgets = tuple(self._budget_left(i) <= 0 for i in range(len(self.config.campaigns)))
        mult = self.coupon.of(who, (ctx.offer_key(), budgets))
        self.who_today, self.coupon_multiplier = who, mult  # today's coupon multiplier, before the dip
        self.multiplier_today = mult * self._dip(ctx, who)
        return self.multiplier_today

    def _coupon_multiplier(self, ctx: PolicyContext, who: np.ndarray) -> np.ndarray:
        day = ctx.day
        best = np.zeros(who.size)
        for i in range(len(self.config.campaigns)):
            if self._budget_left(i) <= 0:
                continue
            # a shopper whose usual order is below the minimum basket does not count on the coupon
            holds = (self.expiry[i, who] >= day) & (self.expected_order[who] >= self.config.campaigns[i].min_basket)
            d = self.discount_share[i]
            d = d[who[holds]] if np.ndim(d) else d
            best[holds] = np.maximum(best[holds], d)
        mult = np.ones(who.size)
        holders = np.flatnonzero(best > 0)
        mult[holders] = ctx.saving_multiplier(best[holders], who[holders])
        return mult

    def _today(self, values: np.ndarray, shoppers: np.ndarray) -> np.ndarray:
        """Today's `values` (aligned with who_today) of `shoppers` (among them)."""
        return values[np.searchsorted(self.who_today, shoppers)]

    def _dip(self, ctx: PolicyContext, who: np.ndarray) -> np.ndarray | float:
        """The post-promotion dip: a shopper who borrowed b purchases buys at half its rate until they are
        made up: each day it skips half its expected purchases of the day (DIP_DEPTH x rate / 7; less on the
        last day), and b falls by what it skipped, so the dip repays exactly what was borrowed, in
        expectation, soon after the purchases that borrowed it. Half, not all: a rate of zero would also
        stop the day's dropout hazard (dropouts happen at purchases, agents/shopper.py), and at half the
        rate the per-purchase correction that keeps lifetimes in calendar time still holds. Returned for
        `who` (aligned)."""
        owing = self.owing
        if owing.size == 0:
            return 1.0
        daily = ctx.purchase_rate(owing) / 7.0
        skipped = np.minimum(self.borrowed[owing], DIP_DEPTH * daily)
        self.borrowed[owing] -= skipped
        self.borrowed[owing[self.borrowed[owing] < 1e-12]] = 0.0
        self.owing = owing[self.borrowed[owing] > 0]
        dip = 1.0 - np.divide(skipped, daily, out=np.ones_like(daily), where=daily > 0)
        out = np.ones(who.size)
        at, found = locate(who, owing)
        out[at[found]] = dip[found]
        return out

    def on_orders(self, ctx: PolicyContext, orders: OrderBatch) -> None:
        day = ctx.day
        served = orders.fulfilled & ~orders.is_first
        rows = np.flatnonzero(served)
        shopper, value = orders.shopper[rows], orders.value[rows]
        share = self.config.acceleration_share
        coupon = self._today(self.coupon_multiplier, shopper)  # repeat buyers were today's candidates
        lifted, coupon = shopper[coupon > 1.0], coupon[coupon > 1.0]
        if share > 0 and lifted.size:  # the part of the purchase the coupon induced, a share of it borrowed
            induced = share * (1.0 - 1.0 / coupon)
            self.borrowed[lifted] += induced
            self.owing = np.union1d(self.owing, lifted)
            self.totals["accelerated"] += float(induced.sum())
        used = np.zeros(rows.size, dtype=bool)
        for i, c in enumerate(self.config.campaigns):
            can = ~used & (self.expiry[i, shopper] >= day) & (value >= c.min_basket)
            if not can.any():
                continue
            idx = np.flatnonzero(can)
            discount = np.minimum(value[idx], c.value) if c.coupon_type == "fixed" else value[idx] * c.value / 100.0
            within = np.cumsum(discount) <= self._budget_left(i)  # the budget runs out in order
            if not within.all():
                self.exhausted[i] = True  # no more coupons honoured, issued or anticipated this month
            idx, discount = idx[within], discount[within]
            if idx.size == 0:
                continue
            used[idx] = True
            holders = shopper[idx]
            self.expiry[i, holders] = -1
            self.eligible_from[i, holders] = np.maximum(self.last_issue[i, holders] + c.reissue_after_days, 0)
            self.coupon.mark(holders)
            cost = float(discount.sum())
            self.spent_month[i] += cost
            ctx.ledger.post("subsidy", cost)
            self.totals["redeemed"] += int(idx.size)
            anyway = self._would_have_bought(ctx, shopper[idx])
            self.totals["cannibalised"] += int(anyway.sum())
            self.totals["cannibalised_cost"] += float(discount[anyway].sum())

    def _would_have_bought(self, ctx: PolicyContext, shoppers: np.ndarray) -> np.ndarray:
        """Common random numbers: the same purchase clock against the rate without this policy."""
        return ctx.shoppers.would_buy(shoppers, ctx.rate_multiplier_of(shoppers)
                                      / self._today(self.multiplier_today, shoppers))

    def month_end(self, ctx: PolicyContext) -> None:
        self.spent_month[:] = 0.0
        self.exhausted[:] = False

    def summary(self) -> dict[str, float]:
        t = self.totals
        return {
            "coupons_issued": t["issued"], "coupons_redeemed": t["redeemed"],
            "subsidy_cannibalised_orders": t["cannibalised"],
            "subsidy_cannibalised_cost": t["cannibalised_cost"],
            "subsidy_cannibalisation_share": t["cannibalised"] / t["redeemed"] if t["redeemed"] else 0.0,
            "subsidy_accelerated_orders": t["accelerated"],
        }
