"""The scenario schema: every field typed, bounded and documented with its unit and default.

Defaults and their sources are listed in docs/parameters.md. Loading (YAML, `extends:`,
`--set` overrides and error messages) lives in sim/scenario_io.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from sim.schema import NonNegative, Positive, Probability, Section

# --- simulation --------------------------------------------------------------------------


class SimulationConfig(Section):
    days: int = Field(365, ge=1, le=3650, description="Length of the measured period [days]")
    start_date: dt.date = Field(
        dt.date(2025, 1, 1), description="Calendar date of day 0, the first measured day (places seasonal peaks)"
    )
    warmup_days: int = Field(
        180, ge=0, le=3650, description="Days simulated before day 0 with everything on but nothing measured: "
        "start-up transients (opening stock, merchants' first exits, returns and lots ramping up) settle first, "
        "and churn counted from the run's start is observable from day 0 when this is at least "
        "shoppers.lifecycle.churned_after_days [days]"
    )
    policies_start: Literal["launch", "in_place"] = Field(
        "launch", description="When the scenario's policies start: launch, on day 0 of the measured period (the "
        "year measured is the policy's first; the warm-up runs without them), or in_place, from the first "
        "simulated day (the warm-up runs with them: the year measured is a policy already running). The same "
        "without a warm-up"
    )
    currency: str = Field("USD", min_length=3, max_length=3, description="ISO 4217 code")


# --- shoppers ----------------------------------------------------------------------------


class BGNBDConfig(Section):
    """BG/NBD purchase and dropout (Fader, Hardie & Lee 2005); weekly time unit, CDNOW fit."""

    r: Positive = Field(0.243, description="Gamma shape of the weekly purchase rate")
    alpha: Positive = Field(4.414, description="Gamma rate of the weekly purchase rate [weeks]")
    a: Positive = Field(0.793, description="Beta a of the dropout probability after a repeat")
    b: Positive = Field(2.426, description="Beta b of the dropout probability after a repeat")


class GammaGammaConfig(Section):
    """Gamma-Gamma spend per order (Fader, Hardie & Lee 2005b); CDNOW fit, in currency."""

    p: Positive = Field(6.25, description="Gamma shape of spend per order")
    q: float = Field(3.74, gt=1.0, description="Gamma shape of the shopper's spend scale (>1)")
    gamma: Positive = Field(15.44, description="Gamma rate of the shopper's spend scale [currency]")


class SegmentConfig(Section):
    name: str = Field(min_length=1, description="Segment name (unique; used in reports and policy targeting)")
    share: float = Field(gt=0.0, le=1.0, description="Share of shoppers in the segment")
    purchase_rate_multiplier: Positive = Field(
        1.0, description="Multiplies the BG/NBD purchase rate of the segment's shoppers (1: the population fit)"
    )
    dropout_multiplier: Positive = Field(
        1.0, description="Multiplies the BG/NBD dropout probability of the segment's shoppers (capped at 1)"
    )
    price_sensitivity: NonNegative = Field(
        2.0, description="Logit coefficient on log price index (higher: more price-driven)"
    )
    green_preference: Probability = Field(
        0.0, description="Weight on the merchant's green label in choice [0-1]"
    )
    spend_multiplier: Positive = Field(1.0, description="Multiplies Gamma-Gamma spend per order")
    category_preferences: dict[str, Positive] = Field(
        default_factory=dict,
        description="Multipliers on the catalogue's demand shares, by category name (default 1)",
    )


class LifecycleConfig(Section):
    """Observable states by days since last purchase (what the platform can see)."""

    new_days: int = Field(30, ge=1, description="A first-time buyer is 'new' this long [days]")
    dormant_after_days: int = Field(90, ge=1, description="No purchase this long: dormant [days]")
    churned_after_days: int = Field(180, ge=2, description="No purchase this long: churned [days]")

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleConfig:
        if not self.new_days <= self.dormant_after_days < self.churned_after_days:
            raise ValueError(
                "need new_days <= dormant_after_days < churned_after_days "
                f"(got {self.new_days}, {self.dormant_after_days}, {self.churned_after_days})"
            )
        return self


class ExperienceConfig(Section):
    """How service feeds back into purchase rate and dropout, relative to the calibration's average
    experience (an average shopper's expected friction changes nothing)."""

    satisfaction_memory: Probability = Field(
        0.3, description="Weight of the latest order outcome in satisfaction (EWMA)"
    )
    reference_outcome: Probability = Field(
        0.91, description="The average order outcome the BG/NBD calibration already contains: satisfaction starts "
        "here, and only better or worse than this moves purchase rate and dropout"
    )
    stockout_outcome: Probability = Field(
        0.2, description="Order outcome when the wanted item was out of stock and the sale lost"
    )
    fallback_outcome: Probability = Field(
        0.7, description="Order outcome when the shopper had to fall back to another merchant"
    )
    purchase_sensitivity: Probability = Field(
        0.5, description="Purchase rate multiplier is 1 - this x (reference_outcome - satisfaction)"
    )
    dropout_sensitivity: NonNegative = Field(
        1.0, description="Dropout multiplier is 1 + this x (reference_outcome - satisfaction), at least 0"
    )
    late_outcome: Probability = Field(0.6, description="Order outcome when delivered later than promised")
    return_outcome: Probability = Field(0.5, description="Order outcome when the item is returned")


class ShoppersConfig(Section):
    count: int = Field(100_000, ge=10, le=10_000_000, description="Population size simulated [shoppers]")
    represents: int | None = Field(
        None, ge=10, le=10_000_000_000, description="The platform's population this run is a sample of: the "
        "scenario's merchants, suppliers, marketing spend, fixed costs and policy budgets are the platform's and "
        "are scaled by count / represents for the run, and the results add the platform's totals (null: count, "
        "the run is the whole platform) [shoppers]"
    )
    initial_customer_share: Probability = Field(
        0.2, description="Share of shoppers who are already customers on day 0"
    )
    initial_history_days: int = Field(
        365,
        ge=0,
        le=3650,
        description="Initial customers' first purchases are spread over this many days before "
        "day 0 and their history simulated (0: all first purchases just before day 0, a cohort)",
    )
    bgnbd: BGNBDConfig = Field(default_factory=BGNBDConfig)
    spend: GammaGammaConfig = Field(default_factory=GammaGammaConfig)
    segments: list[SegmentConfig] = Field(
        default_factory=lambda: [SegmentConfig(name="mainstream", share=1.0)], min_length=1
    )
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    experience: ExperienceConfig = Field(default_factory=ExperienceConfig)
    purchase_rate_multiplier: Positive = Field(
        1.0, description="Buying frequency relative to the calibrated one (a market uncertainty: multiplies every "
        "customer's BG/NBD purchase rate; lifetimes in calendar time are unchanged)"
    )
    price_sensitivity_multiplier: NonNegative = Field(
        1.0, description="Price sensitivity relative to the segments' own (a market uncertainty: multiplies every "
        "segment's price_sensitivity, in merchant choice and in buy-or-not; 1: as configured)"
    )
    stockout_behaviour: Literal["fallback", "lost"] = Field(
        "fallback", description="On a stock-out: try the next-best merchant once, or lose the sale"
    )

    @model_validator(mode="after")
    def _segments_consistent(self) -> ShoppersConfig:
        total = sum(s.share for s in self.segments)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"segment shares must add up to 1 (they add up to {total:.6g})")
        names = [s.name for s in self.segments]
        if len(set(names)) != len(names):
            raise ValueError(f"segment names must be unique (got {names})")
        if self.represents is not None and self.represents < self.count:
            raise ValueError(f"represents ({self.represents:,}) must be at least count ({self.count:,}): a run is a "
                             "sample of the platform, never more than it")
        return self

    @property
    def sample_fraction(self) -> float:
        """count / represents: the share of the platform's shoppers simulated (1 without represents)."""
        return 1.0 if self.represents is None else self.count / self.represents

    def price_sensitivities(self) -> list[float]:
        """Each segment's logit coefficient on log price, times the market's multiplier."""
        return [s.price_sensitivity * self.price_sensitivity_multiplier for s in self.segments]


# --- catalogue -----------------------------------------------------------------------------


class CategoryConfig(Section):
    name: str = Field(min_length=1, description="Category name (unique)")
    demand_share: Positive = Field(description="Relative share of orders (normalised)")
    price_level: Positive = Field(1.0, description="Multiplies spend per order in this category")
    unit_weight_kg: Positive = Field(1.0, description="Shipping weight of one unit [kg]")
    return_multiplier: Positive = Field(
        1.0, description="Multiplies the return probability of the category's orders (apparel comes back far more "
        "often than books)"
    )


def _default_categories() -> list[CategoryConfig]:
    shares = {
        "fashion": 0.23, "electronics": 0.20, "home": 0.14, "beauty": 0.10,
        "grocery": 0.10, "books_media": 0.08, "toys": 0.08, "sports": 0.07,
    }
    levels = {
        "fashion": 0.9, "electronics": 2.0, "home": 1.3, "beauty": 0.7,
        "grocery": 0.6, "books_media": 0.5, "toys": 0.8, "sports": 1.1,
    }
    # online return rates by category inside the industry benchmarks (apparel 20-40%: 34%, electronics 8-15%:
    # 13%, home 10-15%: 14%, beauty 5-10%: 8.5%, books 2-5%: 4%; grocery 3.5%, toys 15%, sports 16%, assumed),
    # relative to their demand-weighted mean (16.2%, the market's rate, NRF & Appriss 16.5-17.6%), so the
    # market's return rate stays where returns.base_rate puts it and each category lands in its band
    returns = {
        "fashion": 2.10, "electronics": 0.80, "home": 0.86, "beauty": 0.52,
        "grocery": 0.22, "books_media": 0.25, "toys": 0.92, "sports": 0.99,
    }
    return [CategoryConfig(name=n, demand_share=s, price_level=levels[n], return_multiplier=returns[n])
            for n, s in shares.items()]


class CatalogConfig(Section):
    categories: list[CategoryConfig] = Field(default_factory=_default_categories, min_length=1)
    listings_index: Positive = Field(
        1.0, description="The platform's catalogue relative to the calibrated market's: listings per category, "
        "shared among however many merchants are simulated (2: twice the listings in every category)"
    )
    cogs_share: float = Field(
        0.50, gt=0.0, lt=1.0, description="Supplier unit cost as a share of the category's mean order value "
        "(at price index 1: the cost-of-goods share of sales)"
    )

    @model_validator(mode="after")
    def _unique(self) -> CatalogConfig:
        names = [c.name for c in self.categories]
        if len(set(names)) != len(names):
            raise ValueError(f"category names must be unique (got {names})")
        return self


# --- merchants, suppliers, platform ------------------------------------------------------------


class ReplenishmentConfig(Section):
    policy: Literal["order_up_to", "s_S", "base_stock"] = Field(
        "order_up_to",
        description="Order-up-to with moving-average forecast (Chen et al. 2000), (s, S), or base stock "
        "(a fixed level from the expected demand at opening: L x mean + z x sd x sqrt(L))",
    )
    lead_time_days: int = Field(
        5, ge=1, le=365, description="L: an order placed at the end of day t arrives at the start of day t+L"
    )
    forecast_window_days: int = Field(14, ge=1, le=365, description="p: moving-average window [days]")
    safety_z: NonNegative = Field(1.65, description="Safety factor z on the demand sd over the lead time")
    fixed_safety_stock: bool = Field(
        False, description="Use the initial demand sd for safety stock instead of re-estimating it"
    )
    reorder_point_days: Positive = Field(7.0, description="(s, S): s in days of forecast demand")
    order_cost: NonNegative = Field(
        0.25, description="Fixed cost of one replenishment order line (merchant, category): raising, shipping and "
        "receiving it [currency]"
    )
    economic_order_cycle: bool = Field(
        False, description="Order-up-to: review each (merchant, category) every R days, R the economic order "
        "quantity's cycle from order_cost and the holding cost (Harris 1913), instead of every day"
    )
    order_up_to_days: Positive = Field(21.0, description="(s, S): S in days of forecast demand")

    @model_validator(mode="after")
    def _s_below_S(self) -> ReplenishmentConfig:
        if self.reorder_point_days >= self.order_up_to_days:
            raise ValueError("reorder_point_days (s) must be below order_up_to_days (S)")
        return self


class MerchantEntryConfig(Section):
    """New sellers join in proportion to what selling here earns (a two-sided network effect)."""

    monthly_rate: Probability = Field(
        0.035, description="New merchants per month as a share of active ones when the marketplace's trailing-quarter "
        "net margin equals reference_margin (scaled by margin / reference_margin, between 0 and 2)"
    )
    reference_margin: float = Field(
        0.10, gt=0.0, lt=1.0, description="Net margin (merchants' trailing-quarter profit / their sales) at which "
        "entry runs at monthly_rate"
    )
    max_count: int = Field(20_000, ge=1, description="Upper bound on merchants ever created")


class MerchantExitConfig(Section):
    """A merchant leaves when its trailing quarter does not pay, and sells off its stock."""

    margin_threshold: float = Field(
        -0.10, ge=-1.0, le=1.0, description="A merchant at least min_age_days old leaves at a month end when its "
        "trailing-quarter profit is below this share of its trailing-quarter sales (-0.10: losing more than 10% of "
        "sales; scale-free, so small and large merchants are judged alike)"
    )
    min_age_days: int = Field(90, ge=0, le=3650, description="Merchants younger than this do not leave [days]")
    salvage_share: Probability = Field(
        0.3, description="Share of its stock's cost a leaving merchant recovers by liquidating it"
    )


class MerchantsConfig(Section):
    count: int = Field(40, ge=1, le=100_000, description="Merchants on day 0")
    categories_per_merchant: int = Field(3, ge=1, description="Categories each merchant carries")
    price_index_mean: Positive = Field(
        1.0, description="The market's price level relative to today's: multiplies every merchant's price index "
        "(1.05: prices 5% higher everywhere)"
    )
    price_index_sd: NonNegative = Field(0.10, description="Log-sd of merchants' price index (mean price_index_mean)")
    listings_log_sd: NonNegative = Field(
        1.0, description="Log-sd of merchants' catalogue sizes (lognormal, mean 1): a merchant with twice the "
        "listings is twice as likely to be chosen, all else equal (0: every merchant the same size)"
    )
    quality_mean: Probability = Field(0.8, description="Mean product quality [0-1]")
    quality_sd: NonNegative = Field(0.1, description="Sd of product quality")
    platform_fulfilment_share: Probability = Field(
        0.5, description="Share of merchants using platform fulfilment"
    )
    delivery_days_platform: Positive = Field(2.0, description="Promised delivery, platform-fulfilled [days]")
    delivery_days_self: Positive = Field(4.0, description="Promised delivery, merchant-fulfilled [days]")
    green_label_share: Probability = Field(0.2, description="Share of merchants with a green label")
    cost_pass_through: Probability = Field(
        0.6, description="Share of a change in what a merchant keeps per order (commission, delivery cost per "
        "parcel, against the calibrated market's: choice.reference) that it passes into its prices (Besanko, "
        "Dube & Gupta 2005: own-cost pass-through above 60% in 9 of 11 categories; 0: prices ignore fees)"
    )
    unit_cost_follows_price: NonNegative = Field(
        1.0, description="Elasticity of a merchant's unit cost to its price index (1: a cheaper merchant sells "
        "cheaper goods at the same margin; 0: the same goods at a thinner margin)"
    )
    ad_share_of_sales_mean: Probability = Field(
        0.06, description="Mean share of its last month's sales a merchant spends on ads with the platform "
        "(lognormal across merchants, log-sd 0.5, capped at 0.5)"
    )
    overhead_share: Probability = Field(
        0.08, description="A merchant's overhead (staff, software, premises) per month, set when it opens at this "
        "share of its expected sales then (a business sized to the demand it expects)"
    )
    overhead_adjustment: Probability = Field(
        0.1, description="Share of the gap to overhead_share x its trailing-quarter monthly sales a merchant closes at "
        "each month end (0: overhead fixed at opening; 0.1: resized over about ten months)"
    )
    holding_cost_rate_per_year: NonNegative = Field(
        0.25, description="Inventory carrying cost as a share of unit cost per year"
    )
    initial_stock_days: NonNegative = Field(21.0, description="Opening stock in days of expected demand")
    unlimited_stock: bool = Field(False, description="Never out of stock (validation runs)")
    replenishment: ReplenishmentConfig = Field(default_factory=ReplenishmentConfig)
    exit: MerchantExitConfig = Field(default_factory=MerchantExitConfig)
    entry: MerchantEntryConfig = Field(default_factory=MerchantEntryConfig)


class LeadTimeDelayConfig(Section):
    """Random extra days on top of the planned lead time L (whole days, drawn per lot)."""

    distribution: Literal["none", "exponential", "gamma", "uniform"] = Field(
        "none", description="Shape of the delay: none, exponential(mean), gamma(mean, sd), uniform(low, high)"
    )
    mean_days: NonNegative = Field(0.0, description="Mean delay (exponential, gamma) [days]")
    sd_days: NonNegative = Field(0.0, description="Sd of the delay (gamma) [days]")
    low_days: NonNegative = Field(0.0, description="Smallest delay (uniform) [days]")
    high_days: NonNegative = Field(0.0, description="Largest delay (uniform) [days]")

    @model_validator(mode="after")
    def _possible(self) -> LeadTimeDelayConfig:
        d = self.distribution
        if d in ("exponential", "gamma") and self.mean_days <= 0:
            raise ValueError(f"a {d} delay needs mean_days > 0 (got {self.mean_days})")
        if d == "gamma" and self.sd_days <= 0:
            raise ValueError(f"a gamma delay needs sd_days > 0 (got {self.sd_days})")
        if d == "uniform" and self.low_days > self.high_days:
            raise ValueError(f"a uniform delay needs low_days <= high_days (got {self.low_days} > {self.high_days})")
        return self


class SuppliersConfig(Section):
    count: int = Field(50, ge=1, le=10_000, description="Suppliers")
    unit_cost_sd: NonNegative = Field(0.05, description="Log-sd of suppliers' unit cost factor")
    quality_mean: Probability = Field(0.85, description="Mean supplier quality [0-1]")
    quality_sd: NonNegative = Field(0.05, description="Sd of supplier quality")
    capacity_units_per_day: Positive | None = Field(
        None, description="Production capacity of each supplier [units/day]; none: unlimited"
    )
    lead_time_delay: LeadTimeDelayConfig = Field(default_factory=LeadTimeDelayConfig)
    carbon_kg_per_unit: NonNegative = Field(2.0, description="Mean production carbon intensity [kg CO2e/unit]")
    carbon_unit_sd: NonNegative = Field(0.3, description="Log-sd of production carbon intensity across suppliers")
    green_carbon_factor: Probability = Field(
        0.7, description="Production carbon of a green-certified supplier relative to others"
    )
    green_cost_premium: NonNegative = Field(
        0.05, description="Unit cost premium of a green-certified supplier (share of unit cost)"
    )
    freight_cost_per_tonne_km: NonNegative = Field(
        0.10, description="Line-haul cost paid by the merchant [currency/tonne-km]"
    )
    distance_km_mean: Positive = Field(500.0, description="Mean distance to merchants (exponential) [km]")
    transport_mode: Literal["road", "rail", "sea", "air"] = Field(
        "road", description="Line-haul mode from suppliers to merchants")
    green_certified_share: Probability = Field(0.2, description="Share of suppliers with a green certification")


class PlatformConfig(Section):
    take_rate: float = Field(0.12, ge=0.0, lt=1.0, description="Commission on GMV")
    marketing_spend_per_day: NonNegative = Field(1000.0, description="Paid acquisition [currency/day]")
    payment_rate: Probability = Field(
        0.029, description="Card processing cost as a share of each order's value, paid by the platform"
    )
    payment_fee_per_order: NonNegative = Field(0.30, description="Card processing cost per order [currency]")
    fixed_cost_per_day: NonNegative = Field(
        200.0, description="Platform operating cost: staff, technology, offices [currency/day]"
    )
    discount_rate_per_year: float = Field(
        0.10, ge=0.0, le=1.0, description="Discount rate of the customer equity left at the end of the run "
        "(customer_equity_end): future purchases are worth e^(-rate x years) [per year]"
    )


class RegionConfig(Section):
    name: str = Field(min_length=1, description="Region name (unique)")
    share: float = Field(gt=0.0, le=1.0, description="Share of shoppers living in the region")
    km_per_parcel: Positive = Field(description="Last-mile distance driven per parcel delivered (per drop) [km]")


class VehicleTypeConfig(Section):
    parcels_per_day: Positive = Field(description="Parcels one vehicle delivers in a day")
    cost_per_day: NonNegative = Field(description="Vehicle and driver cost per vehicle-day [currency]")
    cost_per_km: NonNegative = Field(description="Energy and wear per km [currency/km]")


class PackagingTypeConfig(Section):
    cost_per_parcel: NonNegative = Field(description="Packaging cost of one parcel [currency]")


def _default_regions() -> list[RegionConfig]:
    # km per drop: 0.67 on average (a van round of about 120 drops over about 80 km, Edwards,
    # McKinnon & Cullinane 2010); the split by region is an assumption with that mean.
    return [RegionConfig(name="urban", share=0.55, km_per_parcel=0.4),
            RegionConfig(name="suburban", share=0.30, km_per_parcel=0.7),
            RegionConfig(name="rural", share=0.15, km_per_parcel=1.6)]


def _default_vehicles() -> dict[str, VehicleTypeConfig]:
    return {"diesel_van": VehicleTypeConfig(parcels_per_day=120, cost_per_day=160.0, cost_per_km=0.20),
            "ev_van": VehicleTypeConfig(parcels_per_day=120, cost_per_day=171.0, cost_per_km=0.06),
            "cargo_bike": VehicleTypeConfig(parcels_per_day=50, cost_per_day=110.0, cost_per_km=0.01)}


def _default_packaging() -> dict[str, PackagingTypeConfig]:
    return {"cardboard_box": PackagingTypeConfig(cost_per_parcel=0.30),
            "recycled_mailer": PackagingTypeConfig(cost_per_parcel=0.25),
            "reusable_bag": PackagingTypeConfig(cost_per_parcel=0.60)}


class LogisticsConfig(Section):
    """Last mile: the platform's fleet per region for platform-fulfilled parcels; a carrier
    without capacity limit for merchant-fulfilled ones."""

    regions: list[RegionConfig] = Field(default_factory=_default_regions, min_length=1)
    vehicles: dict[str, VehicleTypeConfig] = Field(
        default_factory=_default_vehicles, description="Vehicle types the fleet may use"
    )
    fleet: dict[str, Probability] = Field(
        default_factory=lambda: {"diesel_van": 1.0},
        description="Share of the fleet's parcel capacity by vehicle type (adds up to 1)",
    )
    capacity_headroom: Positive = Field(
        1.5, description="Fleet capacity per region as a multiple of its expected daily parcels at opening"
    )
    resize_monthly: bool = Field(
        True, description="At each month end, resize each region's fleet to headroom x its mean daily parcels "
        "of the last 28 days (peaks inside a month still meet the old fleet)"
    )
    packaging_types: dict[str, PackagingTypeConfig] = Field(default_factory=_default_packaging,
                                                      description="Packaging types and their cost")
    packaging: str = Field("cardboard_box", description="Packaging used for every parcel")
    carrier_vehicle: str = Field("diesel_van", description="Vehicle type of the carrier of merchant-fulfilled parcels")
    carrier_cost_per_parcel: NonNegative = Field(
        4.5, description="Carrier fee a merchant-fulfilling merchant pays per parcel [currency]"
    )
    fulfilment_fee_per_parcel: NonNegative = Field(
        3.5, description="Fee a platform-fulfilled merchant pays the platform per parcel [currency]"
    )
    reverse_cost_per_parcel: NonNegative = Field(
        2.5, description="Cost of collecting one returned parcel, paid by the platform [currency]"
    )

    @model_validator(mode="after")
    def _consistent(self) -> LogisticsConfig:
        total = sum(r.share for r in self.regions)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"region shares must add up to 1 (they add up to {total:.6g})")
        names = [r.name for r in self.regions]
        if len(set(names)) != len(names):
            raise ValueError(f"region names must be unique (got {names})")
        return self

    @field_validator("fleet")
    @classmethod
    def _fleet_known(cls, fleet: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        vehicles = info.data.get("vehicles", {})
        for name in fleet:
            if name not in vehicles:
                raise ValueError(f"unknown vehicle type {name!r}; allowed: {', '.join(sorted(vehicles))}")
        if abs(sum(fleet.values()) - 1.0) > 1e-6:
            raise ValueError(f"fleet shares must add up to 1 (they add up to {sum(fleet.values()):.6g})")
        return fleet

    @field_validator("carrier_vehicle")
    @classmethod
    def _carrier_known(cls, name: str, info: ValidationInfo) -> str:
        vehicles = info.data.get("vehicles", {})
        if name not in vehicles:
            raise ValueError(f"unknown vehicle type {name!r}; allowed: {', '.join(sorted(vehicles))}")
        return name

    @field_validator("packaging")
    @classmethod
    def _packaging_known(cls, name: str, info: ValidationInfo) -> str:
        types = info.data.get("packaging_types", {})
        if name not in types:
            raise ValueError(f"unknown packaging {name!r}; allowed: {', '.join(sorted(types))}")
        return name


class ReturnsConfig(Section):
    """Returns: probability base_rate + quality_slope x (1 - merchant quality x supplier quality)."""

    base_rate: Probability = Field(0.08, description="Return probability of a perfect-quality item")
    quality_slope: NonNegative = Field(0.3, description="Extra return probability per unit of quality shortfall")
    delay_days: int = Field(14, ge=1, le=120, description="Days from order to refund and restock")
    restock_share: Probability = Field(0.7, description="Share of returned units fit to sell again")


class CarbonConfig(Section):
    factors_file: str | None = Field(
        None, description="CSV of emission factors (columns stage,key,factor,unit,source,year); "
        "none: the table shipped with ecomsim (sim/data/carbon_factors.csv)"
    )


class NetworkConfig(Section):
    """The shoppers' social network, on which word of mouth and referrals spread."""

    kind: Literal["complete", "erdos_renyi", "watts_strogatz", "barabasi_albert", "stochastic_block",
                  "edgelist"] = Field("complete", description="Graph model (complete: mean field, no ties stored)")
    mean_degree: float = Field(10.0, gt=0.0, description="Mean number of ties per shopper")
    rewiring_p: Probability = Field(0.1, description="watts_strogatz: probability a lattice tie is rewired")
    homophily: Probability = Field(0.8, description="stochastic_block: share of ties within the shopper's segment")
    edgelist_file: str | None = Field(
        None, description="edgelist: CSV or TSV of shopper index pairs (0-based), one tie per line"
    )
    clustering_sample: int = Field(2000, ge=10, le=1_000_000,
                                   description="Shoppers sampled to estimate average clustering (manifest)")

    @model_validator(mode="after")
    def _kind_needs(self) -> NetworkConfig:
        k = self.mean_degree
        if self.kind in ("watts_strogatz", "barabasi_albert") and (k != int(k) or int(k) % 2 or k < 2):
            raise ValueError(f"{self.kind} needs an even whole mean_degree >= 2 (got {k:g})")
        if self.kind == "edgelist" and not self.edgelist_file:
            raise ValueError("kind edgelist needs edgelist_file")
        if self.kind != "edgelist" and self.edgelist_file:
            raise ValueError(f"edgelist_file is only read with kind edgelist (kind is {self.kind})")
        return self


class AcquisitionConfig(Section):
    """Bass (1969) adoption, per day: innovation (marketing) + imitation x customer share."""

    innovation_p: Probability = Field(
        8.2e-5, description="Organic daily join probability of a prospect (Bass p, per day)"
    )
    imitation_q: Probability = Field(
        3.42e-3, description="Daily join probability per unit share of recommending neighbours (Bass q, per day; "
        "recommenders: recommend_window_days)"
    )
    paid_cac: Positive = Field(
        40.0, description="Marketing spend per paid new customer at the reference spend [currency]"
    )
    recommend_window_days: int | None = Field(
        180, ge=1, le=100_000, description="Word of mouth comes from customers still latently alive who bought "
        "within this many days (null: every latently alive customer); a customer who dropped out recommends "
        "nothing [days]"
    )
    paid_reference_spend_per_day: NonNegative = Field(
        400.0, description="Daily marketing spend at which paid_cac holds (the calibrated market's; 0: every "
        "spend buys spend / paid_cac joiners) [currency/day]"
    )
    paid_spend_elasticity: float = Field(
        0.24, gt=0.0, le=1.0, description="Elasticity of paid joins to spend: joins = (reference spend / paid_cac) "
        "x (spend / reference spend)^elasticity, so the CAC rises with spend (1: linear, no saturation)"
    )
    schedule_file: str | None = Field(
        None, description="CSV of first purchases (columns date, customers): on each date exactly that many "
        "prospects make their first purchase, instead of the Bass process (replay a real cohort; innovation_p, "
        "imitation_q and platform.marketing_spend_per_day must then be 0)"
    )


MONTH_DAY = r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
MonthDay = Annotated[str, Field(pattern=rf"^{MONTH_DAY}$")]


class PeakConfig(Section):
    name: str = Field(min_length=1, description="Name of the peak (e.g. black_friday)")
    date: str = Field(
        pattern=rf"^({MONTH_DAY}|black_friday|cyber_monday)$",
        description="MM-DD (the same date every year, e.g. 11-11 Singles' Day, 06-18), or black_friday (the day "
        "after the fourth Thursday of November) or cyber_monday (the Monday after), which move with the year"
    )
    duration_days: int = Field(1, ge=1, le=60, description="Consecutive days from the date [days]")
    multiplier: Positive = Field(description="Purchase-rate multiplier on those days (before normalising)")


class HolidaySeasonConfig(Section):
    start: MonthDay = Field("11-01", description="MM-DD, first day")
    end: MonthDay = Field("12-31", description="MM-DD, last day (before start: the season runs into the next year)")
    multiplier: Positive = Field(1.0, description="Purchase-rate multiplier of the season's days (before normalising)")


class SeasonalityConfig(Section):
    peaks: list[PeakConfig] = Field(default_factory=list)
    season: HolidaySeasonConfig | None = Field(None, description="A season of higher buying (none: no season)")
    normalise: bool = Field(
        True, description="Divide each calendar year's multipliers by their mean, so they average 1 over the year: "
        "the calibrated rate is the year-average rate"
    )


class ReferenceMarketConfig(Section):
    """The market the shoppers were calibrated in, as they saw it: buy or not compares every day's offer
    with this one. Fixed, not rebuilt from each scenario, so a scenario whose merchants promise slower
    delivery, sell worse goods or charge more than this market buys less (its defaults are the baseline's
    merchants; set them to your own market when you calibrate to it)."""

    price_index_mean: Positive = Field(1.0, description="Merchants' mean price index in the calibrated market")
    delivery_days_platform: Positive = Field(
        2.0, description="Promised delivery of platform-fulfilled merchants in the calibrated market [days]"
    )
    delivery_days_self: Positive = Field(
        4.0, description="Promised delivery of merchant-fulfilled merchants in the calibrated market [days]"
    )
    quality_mean: Probability = Field(
        0.8, description="Merchants' mean product quality in the calibrated market (ratings follow it) [0-1]"
    )
    take_rate: float = Field(
        0.12, ge=0.0, lt=1.0, description="The platform's commission in the calibrated market (merchants pass "
        "changes from it into their prices)"
    )
    delivery_cost_self: NonNegative = Field(
        4.8, description="What a merchant-fulfilling merchant paid per parcel in the calibrated market (carrier "
        "fee + packaging) [currency]"
    )
    delivery_cost_platform: NonNegative = Field(
        3.5, description="The fulfilment fee per parcel in the calibrated market [currency]"
    )


class RivalsConfig(Section):
    """The rival platforms: every purchase occasion can go to this platform, to a rival, or to nothing
    (nested logit, sim/choice.py `PlatformNest`). Their offer is described relative to the calibrated
    market (as the rivals were when the shoppers were calibrated): at the defaults the platform keeps
    exactly its calibrated share. Constant over the run unless `from_day` says when it changes."""

    platform_share: float = Field(
        0.5, gt=0.0, le=1.0, description="The platform's share of its shoppers' purchase occasions in its "
        "categories in the calibrated market (1: no rivals, buy or not is the only other choice); at least "
        "1 - switching_share, so that a better rival offer never raises the platform's orders"
    )
    switching_share: float = Field(
        0.75, ge=0.0, lt=1.0, description="Share of the platform's own-price elasticity of orders that is "
        "switching to and from rivals; the rest is buy or not (Bell, Chiang & Padmanabhan 1999: 75%)"
    )
    price_index: Positive = Field(
        1.0, description="Rivals' prices relative to the calibrated market's (0.95: rivals 5% cheaper than then)"
    )
    delivery_days_change: float = Field(
        0.0, ge=-10.0, le=30.0, description="Rivals' promised delivery relative to the calibrated market's "
        "(-1: a day faster than then) [days]"
    )
    assortment: Positive = Field(
        1.0, description="Rivals' catalogue relative to the calibrated market's (2: twice the listings)"
    )
    from_day: int | None = Field(
        None, ge=0, le=3650, description="Day of the measured period (0 = simulation.start_date) from which the "
        "rivals' offer above holds, before it the calibrated one (a rival's move during the year); null: from "
        "the first simulated day, warm-up included (the market as it is)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> RivalsConfig:
        if self.platform_share < 1.0 and self.platform_share < 1.0 - self.switching_share:
            raise ValueError(
                f"platform_share ({self.platform_share:g}) must be at least 1 - switching_share "
                f"({1.0 - self.switching_share:g}): below it the nest is inconsistent and a better rival offer would "
                "raise the platform's orders"
            )
        return self


class ChoiceConfig(Section):
    """Multinomial-logit merchant choice: utility weights (price weight is per segment)."""

    rating_weight: NonNegative = Field(
        0.8, description="Merchant choice: utility per rating star (1-5), as shoppers read the stars and the "
        "platform ranks by them"
    )
    rating_value_weight: NonNegative = Field(
        0.068, description="What a rating star is worth in the offer's value (buy or not, rivals): with the "
        "platform's response to its offer value, one star more on average brings about 7% more orders (Luca "
        "2016: a one-star Yelp rating increase, 5-9% more revenue)"
    )
    delivery_weight: NonNegative = Field(
        0.0144, description="Utility lost per promised delivery day: with the platform's response to its offer "
        "value (buy or not 0.25 + switching to rivals 0.75) a day slower costs 1.45% of orders (Fisher, Gallino & "
        "Xu 2019)"
    )
    green_weight: NonNegative = Field(1.5, description="Utility of a green label at green_preference 1")
    ad_weight: NonNegative = Field(
        0.3, description="Ranking utility per log(1 + the merchant's ad spend / the mean active merchant's) "
        "(ads move which merchant is chosen, not what the offer is worth)"
    )
    personalisation: Probability = Field(
        0.5, description="How far ranking follows each shopper's own category preferences (1) rather than plain "
        "popularity (0), today"
    )
    popularity_weight: NonNegative = Field(
        0.5, description="Utility per log sales share of a merchant, scaled by (1 - personalisation)"
    )
    match_sensitivity: Probability = Field(
        0.3, description="Change in a fully niche shopper's purchase rate per unit change of personalisation "
        "from today's level (exactly no change when no policy moves it)"
    )
    incidence_weight: float = Field(
        0.25, ge=0.0, le=5.0,
        description="Buy or not: the purchase rate is multiplied by exp(incidence_weight x the change of the "
        "offer's inclusive value from today's market) (nested logit; 0: the offer never changes how often "
        "shoppers buy). 0.25 gives a market-wide price elasticity of purchase incidence of -0.25 x the segment's "
        "price_sensitivity"
    )
    variety_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="What a category's catalogue is worth: its inclusive value grows by "
        "variety_weight x ln(listings relative to the calibrated market's) (1: plain logit, every listing a new "
        "taste draw; below 1 extra listings crowd each other, Ackerberg & Rysman 2005; 0: only the average offer "
        "counts)"
    )
    reference: ReferenceMarketConfig = Field(
        default_factory=ReferenceMarketConfig, description="The calibrated market buy or not compares with"
    )


# --- the market a scenario describes ------------------------------------------------------


class MarketConfig(Section):
    """Everything a scenario says about the market; sim/scenario.py adds policies and targets."""

    name: str = Field("scenario", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$",
                      description="Scenario name: letters, digits, _ . - (names the results folder)")
    description: str = Field("", description="The question this scenario answers (one paragraph)")
    seed: int = Field(42, ge=0, description="Root of every random stream (SeedSequence)")
    simulation: SimulationConfig = Field(default_factory=SimulationConfig)
    shoppers: ShoppersConfig = Field(default_factory=ShoppersConfig)
    catalog: CatalogConfig = Field(default_factory=CatalogConfig)
    merchants: MerchantsConfig = Field(default_factory=MerchantsConfig)
    suppliers: SuppliersConfig = Field(default_factory=SuppliersConfig)
    platform: PlatformConfig = Field(default_factory=PlatformConfig)
    acquisition: AcquisitionConfig = Field(default_factory=AcquisitionConfig)
    choice: ChoiceConfig = Field(default_factory=ChoiceConfig)
    rivals: RivalsConfig = Field(default_factory=RivalsConfig)
    seasonality: SeasonalityConfig = Field(default_factory=SeasonalityConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    logistics: LogisticsConfig = Field(default_factory=LogisticsConfig)
    returns: ReturnsConfig = Field(default_factory=ReturnsConfig)
    carbon: CarbonConfig = Field(default_factory=CarbonConfig)

    def scaled_to_sample(self, update: dict | None = None):
        """This market as the run simulates it: with `shoppers.represents`, the platform's counts and money
        amounts (merchants, suppliers, marketing spend and its reference, fixed costs) times the sample
        fraction (counts rounded, at least 1), so that per-shopper results do not depend on the sample size."""
        f = self.shoppers.sample_fraction
        if f == 1.0:
            return self

        def count(n: int) -> int:
            return max(1, round(n * f))

        m, pl, acq = self.merchants, self.platform, self.acquisition
        return self.model_copy(update={
            "merchants": m.model_copy(update={"count": count(m.count)}),
            "suppliers": self.suppliers.model_copy(update={"count": count(self.suppliers.count)}),
            "platform": pl.model_copy(update={"marketing_spend_per_day": pl.marketing_spend_per_day * f,
                                              "fixed_cost_per_day": pl.fixed_cost_per_day * f}),
            "acquisition": acq.model_copy(update={
                "paid_reference_spend_per_day": acq.paid_reference_spend_per_day * f}),
            **(update or {}),
        })

    def input_files(self) -> list[str]:
        """The files a run reads besides the scenario itself (factor table, edge list, schedule), if set."""
        return [f for f in (self.carbon.factors_file, self.network.edgelist_file, self.acquisition.schedule_file) if f]

    @model_validator(mode="after")
    def _cross_checks(self) -> MarketConfig:
        names = {c.name for c in self.catalog.categories}
        for i, seg in enumerate(self.shoppers.segments):
            unknown = sorted(set(seg.category_preferences) - names)
            if unknown:
                raise ValueError(
                    f"shoppers.segments.{i}.category_preferences: unknown categories {unknown}; "
                    f"allowed: {sorted(names)}"
                )
        if self.network.kind not in ("complete", "edgelist") and self.network.mean_degree >= self.shoppers.count:
            raise ValueError(f"network.mean_degree ({self.network.mean_degree:g}) must be below shoppers.count "
                             f"({self.shoppers.count})")
        acq = self.acquisition
        if acq.schedule_file and (acq.innovation_p or acq.imitation_q or self.platform.marketing_spend_per_day):
            raise ValueError(
                "acquisition.schedule_file replaces the Bass process: set acquisition.innovation_p, "
                "acquisition.imitation_q and platform.marketing_spend_per_day to 0 (got "
                f"{acq.innovation_p:g}, {acq.imitation_q:g}, {self.platform.marketing_spend_per_day:g}), so that "
                "no join and no marketing cost come from elsewhere"
            )
        if self.merchants.categories_per_merchant > len(names):
            raise ValueError(
                f"merchants.categories_per_merchant ({self.merchants.categories_per_merchant}) "
                f"exceeds the {len(names)} catalogue categories"
            )
        return self
