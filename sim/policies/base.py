"""The policy plug-in interface: the Policy base class, the context hooks see, the changes they return.

Hooks see the market through a `PolicyContext` (today's draws and multipliers, shoppers,
merchants, network, ledger, calendar) and return what they change; no policy imports the
model. Hooks that change behaviour return multipliers that are exactly 1 when the policy does
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from agents.merchant import MerchantTable
from agents.shopper import DailyDraws, ShopperPopulation
from agents.supplier import SupplierTable
from sim.carbon import FactorTable
from sim.choice import ChoiceModel
from sim.config import MarketConfig
from sim.kpis import Kpi
from sim.ledger import Flows, Ledger
from sim.network import NeighbourCounts, SocialNetwork
from sim.orders import OrderBatch


@dataclass
class PolicyContext:
    """What a policy may read (and the ledger it books to). The model keeps it current.

    Policies read the arrays and never write them: a change to the market goes back to the
    model as a hook's return value.
    """

    market: MarketConfig          # the scenario's settings (lifecycle windows, segments, catalogue)
    shoppers: ShopperPopulation
    network: SocialNetwork
    suppliers: SupplierTable
    ledger: Ledger
    demand_share: np.ndarray      # (categories,) share of demand
    price_level: np.ndarray       # (categories,) mean price relative to the average order
    segment_category_mix: np.ndarray  # (segments, categories) each segment's category choice, today
    merchants: MerchantTable | None = None  # today's merchant table (replaced when merchants join)
    day: int = 0
    draws: DailyDraws | None = None  # today's uniforms (common random numbers, for counterfactuals)
    word_of_mouth: NeighbourCounts | None = None  # today's recommending customers among each shopper's
    # neighbours (sim.acquisition.recommenders)
    exposed: np.ndarray | None = None  # today's candidates for a repeat purchase (alive customers), sorted
    rate_multiplier: np.ndarray | float = 1.0  # today's purchase-rate multiplier, every source (aligned with
    # `exposed`, or a scalar)
    carbon_today_kg: float = 0.0  # the day's emissions so far (at day end: the whole day's)
    choice: ChoiceModel | None = None  # today's offer values and the platform nest (read only)
    factors: FactorTable | None = None  # emission factors (sim/data/carbon_factors.csv or the scenario's)

    def expected_order_value(self) -> np.ndarray:
        """Each shopper's usual order [currency]: its Gamma-Gamma mean spend x its segment's
        category price level (what a fixed saving is worth as a share of an order)."""
        sh, gg = self.shoppers, self.market.shoppers.spend
        price = self.segment_category_mix @ self.price_level * self.market.merchants.price_index_mean
        return gg.p / sh.spend_rate * sh.spend_multiplier * price[sh.segment]

    def rate_multiplier_of(self, shoppers: np.ndarray) -> np.ndarray | float:
        """Today's purchase-rate multiplier of `shoppers` (every source); they must be among today's
        `exposed` (e.g. repeat buyers), as for ShopperPopulation.would_buy."""
        m = self.rate_multiplier
        return m[np.searchsorted(self.exposed, shoppers)] if np.ndim(m) else m

    def purchase_rate(self, who: np.ndarray | slice = slice(None)) -> np.ndarray:
        """The weekly purchase rate of shoppers `who` (default all) as they know it (BG/NBD x the market's
        buying frequency)."""
        return self.shoppers.rate_weekly[who] * self.market.shoppers.purchase_rate_multiplier

    def saving_multiplier(self, share: np.ndarray | float, who: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Purchase-rate multiplier of a saving of `share` of every order's price on this platform (for
        shoppers `who`): it raises the platform's offer value by -price_sensitivity x ln(1 - share) for
        them, which wins occasions from rivals and from not buying (sim/choice.py, PlatformNest); the
        multiplier is on top of today's offer multiplier."""
        choice, segment = self.choice, self.shoppers.segment[who]
        extra = -choice.price_sensitivity[segment] * np.log1p(-np.minimum(share, 0.9))
        gain, rival = choice.offer_gain[segment], choice.rival_gain[segment]
        now = choice.segment_offer_multiplier[segment]  # nest.multiplier(offer_gain, rival_gain) per segment
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(now > 0, choice.nest.multiplier(gain + extra, rival) / now, 1.0)

    def offer_key(self) -> bytes:
        """What saving_multiplier depends on beyond the shoppers and the saving: the platform's and the
        rivals' offer values per segment (PerShopper keys on it)."""
        return self.choice.offer_gain.tobytes() + self.choice.rival_gain.tobytes()

    def recency(self, who: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Days since the last purchase of shoppers `who` (default all), today."""
        return self.day - self.shoppers.last_day[who]

    def active(self, who: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Which of shoppers `who` (default all) are customers who bought within the dormancy window
        (lifecycle states new and active)."""
        window = self.market.shoppers.lifecycle.dormant_after_days
        return self.shoppers.is_customer[who] & (self.recency(who) < window)


class PerShopper:
    """A value per shopper that a policy computes only where it may have changed since it was last asked:
    for the shoppers the policy marks (their state changed) and for everyone when what it depends on
    market-wide (the key) changes. A day's purchase multipliers then cost a look-up, not a recomputation
    for every customer (issue 23); the values are the same as computing them afresh, bit for bit, as long
    as every change of an input is marked or in the key."""

    def __init__(self, n: int, compute) -> None:
        self.compute = compute  # compute(who) -> values of shoppers `who` (aligned) as things are now
        self.values = np.zeros(n)
        self.fresh = np.zeros(n, dtype=bool)
        self.key: Any = None

    def mark(self, who: np.ndarray) -> None:
        """Shoppers `who`'s values may have changed."""
        self.fresh[who] = False

    def of(self, who: np.ndarray, key: Any) -> np.ndarray:
        """The values of shoppers `who` (aligned) when the market-wide inputs are `key`."""
        if key != self.key:
            self.fresh[:] = False
            self.key = key
        stale = who[~self.fresh[who]]
        if stale.size:
            self.values[stale] = self.compute(stale)
            self.fresh[stale] = True
        return self.values[who]


@dataclass
class MarketChanges:
    """What a policy changes in the market before day 0 (None or 0: unchanged)."""

    personalisation: float | None = None     # the recommender's level (sim/choice.py)
    onboard_longtail_merchants: int = 0      # merchants with categories drawn uniformly
    fleet_shares: dict[str, float | np.ndarray] | None = None  # vehicle capacity shares (per region: arrays)
    fleet_capacity_gain: float = 0.0         # extra parcels per vehicle-day (consolidated rounds)
    km_factor: float | None = None           # last-mile km per parcel, relative
    extra_delivery_days: int | None = None   # added to platform-fulfilled delivery
    packaging: str | None = None             # packaging type of every parcel


@dataclass
class MonthEndChanges:
    """What a policy changes at a month end: (merchant, category) cells to delist."""

    delist_merchants: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    delist_categories: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


# The hooks the model calls, and how PolicySet combines the enabled policies' answers (in registry
# order): "each" calls them, "collect" lists what is not None, "sum" adds, "product" multiplies,
# "chain" hands each policy the last argument as the one before returned it (None: unchanged). A new
# hook is a method below (a no-op or neutral default) and a line here; the model calls
# `policies.<hook>(...)`. An answer is read only: a policy may hand out an array it keeps (and one
# policy's answer is passed on as it is).
HOOKS: dict[str, str] = {
    "setup": "collect", "merchants_created": "each", "day_start": "each", "join_probability": "sum",
    "on_joins": "chain", "purchase_multiplier": "product", "dropout_multiplier": "product", "on_orders": "each",
    "order_discounts": "sum",
    "day_end": "each", "month_end": "collect", "start_measuring": "each",
}


class Policy:
    """Base class: every hook is a no-op, so a policy overrides only what it changes."""

    name: ClassVar[str] = "policy"
    title: ClassVar[str] = "Policy"
    Config: ClassVar[type]  # the policy's config section (a sim.schema.PolicySection), under policies.<name>
    flows: ClassVar[Flows] = {}  # ledger flows the policy books: name -> (payer, payee)
    kpis: ClassVar[tuple[Kpi, ...]] = ()  # the summary keys summary() returns (targets may name them)
    # the summary keys (its own or the catalogue's) that answer the policy's question; `run` and
    # `compare` print them below the core KPIs when the policy is on
    headline: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Any, rng: np.random.Generator) -> None:
        self.config = config
        self.rng = rng  # the policy's own stream, spawned from the scenario seed

    @classmethod
    def check(cls, config: Any, market: MarketConfig) -> None:
        """Checks of the section against the rest of the scenario; raise ValueError naming the field."""

    @classmethod
    def carbon_factors(cls, config: Any, market: MarketConfig) -> list[tuple[str, str, str]]:
        """(stage, key, field) of every emission factor the policy may use (checked at load)."""
        return []

    def setup(self, ctx: PolicyContext) -> MarketChanges | None:
        """Once, after the market is built and before day 0 (fleet, packaging, ...)."""
        return None

    def merchants_created(self, ctx: PolicyContext, table: MerchantTable) -> None:
        """New merchants (day 0 and each entry), before their opening stock is bought.

        `table` holds only the new merchants; the policy may set their assortment and suppliers.
        """

    def day_start(self, ctx: PolicyContext) -> None:
        """Budgets, campaign windows."""

    def join_probability(self, ctx: PolicyContext) -> np.ndarray | float:
        """Extra daily join probability per shopper (array over shoppers, or a scalar); channel referral."""
        return 0.0

    def on_joins(self, ctx: PolicyContext, joiners: np.ndarray, channel: np.ndarray) -> np.ndarray | None:
        """Today's new customers and their channels (e.g. to pay referral rewards); may return the
        channels re-attributed (a word-of-mouth join claimed by a referral link), None: unchanged."""
        return None

    def purchase_multiplier(self, ctx: PolicyContext, who: np.ndarray) -> np.ndarray | float:
        """Multiplier on the purchase rate of shoppers `who` (today's candidates for a repeat purchase,
        sorted): an array aligned with `who`, or a scalar. Called once a day, before the day's orders."""
        return 1.0

    def dropout_multiplier(self, ctx: PolicyContext, who: np.ndarray) -> np.ndarray | float:
        """Multiplier on the dropout probability of shoppers `who` (today's repeat buyers): aligned or a scalar."""
        return 1.0

    def on_orders(self, ctx: PolicyContext, orders: OrderBatch) -> None:
        """Price, coupon and points effects of the day's orders; costs booked to ctx.ledger."""

    def order_discounts(self, ctx: PolicyContext, orders: OrderBatch) -> np.ndarray | float:
        """Per order of the day (after on_orders): what the shopper did not pay of the order value because
        of this policy (a return refunds the order value less it). 0: the shopper paid the value."""
        return 0.0

    def day_end(self, ctx: PolicyContext) -> None:
        """After the day's orders, deliveries and replenishment (e.g. charges on the day's carbon)."""

    def month_end(self, ctx: PolicyContext) -> MonthEndChanges | None:
        """Monthly settlement: budgets, tiers, fees; may delist (merchant, category) cells."""
        return None

    def start_measuring(self) -> None:
        """The end of a warm-up: counters reported in the summary start afresh (a policy's state carries on)."""
        totals = getattr(self, "totals", None)
        if isinstance(totals, dict):
            for key, value in totals.items():
                totals[key] = type(value)(0)

    def summary(self) -> dict[str, float]:
        """The values of the policy's KPIs (`kpis`) for summary.json."""
        return {}
