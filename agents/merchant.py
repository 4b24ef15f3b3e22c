"""Merchants: one row each in a column table, so daily arithmetic (stock, forecasts,
replenishment, profit) runs across all merchants at once; `Merchants` keeps their books and
their lifecycle (daily costs, write-offs, ratings, exit and entry).

Replenishment is order-up-to with a p-day moving-average forecast (Chen et al. 2000: order-up-to
level y_t = L x mean of the last p days' demand + z x sigma x sqrt(L); an order placed at the
end of day t arrives at the start of day t+L), or (s, S) in days of forecast demand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config import MerchantsConfig
from sim.ledger import Ledger

QUARTER_DAYS = 90
NOT_LEFT = np.iinfo(np.int32).max
MIN_GOODS_SHARE = 0.2  # goods are never priced below this share of the order value
AD_SHARE_LOG_SD = 0.5  # merchants' ad shares of sales: lognormal, most within 0.4-2.5 x the mean


@dataclass(frozen=True)
class Pricing:
    """What a merchant's price has to cover: the goods (cogs_share of what delivery leaves) and delivery."""

    order_value: np.ndarray          # (c,) expected order value per category at price index 1 [currency]
    cogs_share: float                # goods' share of the price net of delivery
    delivery_cost_self: float        # carrier fee + packaging per parcel, merchant-fulfilled [currency]
    delivery_cost_platform: float    # fulfilment fee per parcel, platform-fulfilled [currency]
    take_rate: float = 0.0           # the platform's commission
    reference: tuple[float, float, float] | None = None  # the calibrated market's (take rate, delivery cost self,
    # delivery cost platform): merchants pass part of the change of what they keep per order into prices

    def pass_through_factor(self, pass_through: float) -> np.ndarray:
        """Price factor by fulfilment mode (index 0: self, 1: platform): (kept per order in the calibrated
        market / kept now)^pass_through, what a merchant keeps being the mean order value net of commission
        and delivery (1 without a reference or at its fees)."""
        if self.reference is None or pass_through == 0:
            return np.ones(2)
        ref_rate, ref_self, ref_platform = self.reference
        value = float(self.order_value.mean())
        kept_then = (1.0 - ref_rate) * value - np.array([ref_self, ref_platform])
        kept_now = (1.0 - self.take_rate) * value - np.array([self.delivery_cost_self, self.delivery_cost_platform])
        return (kept_then / np.maximum(kept_now, 0.05 * value)) ** pass_through
MERCHANT_AXIS_1 = ("demand_history", "profit_days", "sales_days")  # arrays whose merchant axis is axis 1
DAYS_PER_MONTH = 365.0 / 12.0


@dataclass
class MerchantTable:
    """One row per merchant ever created; columns are numpy arrays. (m = merchants, c = categories)"""

    active: np.ndarray            # (m,) bool
    carries: np.ndarray           # (m, c) bool: assortment
    price_index: np.ndarray       # (m,) multiplies order value
    quality: np.ndarray           # (m,) 0-1
    listings: np.ndarray          # (m,) relative catalogue size (mean 1): more listings, more chances to be chosen
    rating: np.ndarray            # (m,) stars 1-5, moving average of shopper outcomes
    delivery_days: np.ndarray     # (m,) promised delivery
    platform_fulfilled: np.ndarray  # (m,) bool
    green_label: np.ndarray       # (m,) bool
    ad_share: np.ndarray          # (m,) share of its sales the merchant spends on ads
    ad_spend_month: np.ndarray    # (m,) currency/month paid to the platform (ad_share x last month's sales)
    overhead_month: np.ndarray    # (m,) currency/month, sized at opening to the expected sales
    supplier: np.ndarray          # (m, c) supplier row per carried category, -1 otherwise
    goods_cost: np.ndarray        # (m, c) currency/unit from an average supplier (every category)
    unit_cost: np.ndarray         # (m, c) currency/unit from its supplier (goods_cost x its cost factor)
    on_hand: np.ndarray           # (m, c) units
    on_order: np.ndarray          # (m, c) units ordered, not yet received
    demand_history: np.ndarray    # (p, m, c) units demanded on each of the last p days
    sigma0: np.ndarray            # (m, c) initial daily demand sd (fixed safety stock)
    mu0: np.ndarray               # (m, c) expected daily demand at opening (base stock)
    created_day: np.ndarray       # (m,) day the merchant joined
    left_day: np.ndarray          # (m,) day the merchant left (NOT_LEFT while active)
    profit_month: np.ndarray      # (m,) running month's profit (accrual, as merchant_profit)
    profit_days: np.ndarray       # (90, m) daily profit ring: the trailing quarter
    sales_days: np.ndarray        # (90, m) daily sales ring (value of served orders): the trailing quarter
    sales_month: np.ndarray       # (m,) running month's sales
    outcome_sum: np.ndarray       # (m,) sum of order outcomes this month (rating update)
    outcome_n: np.ndarray         # (m,) orders this month
    gmv_run: np.ndarray           # (m,) value of the merchant's served orders in the run
    last_review: np.ndarray       # (m, c) day the cell's stock was last reviewed for an order
    history_pos: int = 0
    days_of_history: int = 0

    @property
    def size(self) -> int:
        return self.active.shape[0]


def build_merchants(cfg: MerchantsConfig, n_categories: int, demand_share: np.ndarray,
                    pricing: Pricing, n_suppliers_by_cat: list[np.ndarray],
                    supplier_cost_factor: np.ndarray, rng: np.random.Generator, n: int,
                    day: int = 0, typical_outcome: float = 1.0) -> MerchantTable:
    """Draw `n` merchants: assortment by demand share, prices, quality, fulfilment, suppliers.

    Goods cost what the merchant's price leaves for them (cost-plus pricing): cogs_share x (the
    order value at the merchant's price position - its delivery cost per parcel), so a cheaper
    merchant sells cheaper goods and a low-value category is not sold at a loss per parcel.

    A new merchant's rating is where the monthly rating update settles for its quality at the
    typical order outcome (1 + 4 x quality x typical_outcome), so ratings do not drift down
    from an all-perfect start in an unchanged market."""
    k = cfg.categories_per_merchant
    # Assortment: k distinct categories, more likely the popular ones (Gumbel top-k trick).
    keys = np.log(demand_share)[None, :] + rng.gumbel(size=(n, n_categories))
    top = np.argsort(-keys, axis=1)[:, :k]
    carries = np.zeros((n, n_categories), dtype=bool)
    np.put_along_axis(carries, top, True, axis=1)
    price_index = cfg.price_index_mean * np.exp(rng.normal(0.0, cfg.price_index_sd, n) - cfg.price_index_sd**2 / 2)
    quality = np.clip(rng.normal(cfg.quality_mean, cfg.quality_sd, n), 0.0, 1.0)
    platform = rng.random(n) < cfg.platform_fulfilment_share
    delivery_days = np.where(platform, cfg.delivery_days_platform, cfg.delivery_days_self)
    green = rng.random(n) < cfg.green_label_share
    ad_share = np.minimum(cfg.ad_share_of_sales_mean * rng.lognormal(-AD_SHARE_LOG_SD**2 / 2, AD_SHARE_LOG_SD, n), 0.5)
    cost_position = price_index ** cfg.unit_cost_follows_price  # cheaper merchants sell cheaper goods
    price_index = price_index * pricing.pass_through_factor(cfg.cost_pass_through)[platform.astype(np.int64)]
    delivery = np.where(platform, pricing.delivery_cost_platform, pricing.delivery_cost_self)
    price = pricing.order_value[None, :] * cost_position[:, None]
    goods_cost = pricing.cogs_share * np.maximum(price - delivery[:, None], MIN_GOODS_SHARE * price)
    supplier = np.full((n, n_categories), -1, dtype=np.int64)
    unit_cost = np.zeros((n, n_categories))
    for c in range(n_categories):  # loop over categories, not merchants
        pick = rng.integers(0, len(n_suppliers_by_cat[c]), size=n)
        rows = n_suppliers_by_cat[c][pick]
        supplier[:, c] = np.where(carries[:, c], rows, -1)
        unit_cost[:, c] = np.where(carries[:, c], goods_cost[:, c] * supplier_cost_factor[rows], 0.0)
    # catalogue size: a merchant with k listings is k alternatives to a logit chooser (+ log k in utility)
    sd = cfg.listings_log_sd
    listings = np.exp(rng.normal(-sd**2 / 2, sd, n)) if sd else np.ones(n)
    p = cfg.replenishment.forecast_window_days
    return MerchantTable(
        active=np.ones(n, dtype=bool),
        carries=carries,
        price_index=price_index,
        quality=quality,
        listings=listings,
        rating=1.0 + 4.0 * quality * typical_outcome,
        delivery_days=delivery_days.astype(np.float64),
        platform_fulfilled=platform,
        green_label=green,
        ad_share=ad_share,
        ad_spend_month=np.zeros(n),
        overhead_month=np.zeros(n),
        supplier=supplier,
        goods_cost=goods_cost,
        unit_cost=unit_cost,
        on_hand=np.zeros((n, n_categories), dtype=np.int64),
        on_order=np.zeros((n, n_categories), dtype=np.int64),
        demand_history=np.zeros((p, n, n_categories)),
        sigma0=np.zeros((n, n_categories)),
        mu0=np.zeros((n, n_categories)),
        created_day=np.full(n, day, dtype=np.int32),
        left_day=np.full(n, NOT_LEFT, dtype=np.int32),
        profit_month=np.zeros(n),
        profit_days=np.zeros((QUARTER_DAYS, n)),
        sales_days=np.zeros((QUARTER_DAYS, n)),
        sales_month=np.zeros(n),
        outcome_sum=np.zeros(n),
        outcome_n=np.zeros(n),
        gmv_run=np.zeros(n),
        last_review=np.full((n, n_categories), -(10**6), dtype=np.int32),
    )


def budget_for_expected_sales(table: MerchantTable, rows: np.ndarray, expected_daily: np.ndarray,
                              cfg: MerchantsConfig, order_value: np.ndarray) -> None:
    """Ad budget and overhead of `rows` for their expected sales (`order_value`: expected value of an
    order per category at price index 1)."""
    sales_day = (expected_daily[rows] * order_value[None, :]).sum(axis=1) * table.price_index[rows]
    table.ad_spend_month[rows] = table.ad_share[rows] * sales_day * DAYS_PER_MONTH
    table.overhead_month[rows] = cfg.overhead_share * sales_day * DAYS_PER_MONTH


def stock_to_expected_demand(table: MerchantTable, rows: np.ndarray, expected_daily: np.ndarray,
                             cfg: MerchantsConfig, order_value: np.ndarray) -> None:
    """Open `rows` in steady state: forecast history at the expected demand, stock for it, an ad
    budget and overhead for the expected sales."""
    exp_d = expected_daily[rows]
    budget_for_expected_sales(table, rows, expected_daily, cfg, order_value)
    table.demand_history[:, rows, :] = exp_d[None, :, :]
    table.days_of_history = table.demand_history.shape[0]  # the pre-filled window is the forecast's history
    table.sigma0[rows] = np.sqrt(exp_d)  # Poisson demand: sd = sqrt(mean)
    table.mu0[rows] = exp_d
    table.on_hand[rows] = np.ceil(exp_d * cfg.initial_stock_days).astype(np.int64)


def stock_cells(table: MerchantTable, rows: np.ndarray, cats: np.ndarray, expected_daily: np.ndarray,
                cfg: MerchantsConfig) -> None:
    """Open (merchant, category) cells of running merchants (a range added): forecast history at the
    expected demand, stock for it; the merchants' other cells, budgets and overhead are left as they are."""
    exp_d = expected_daily[rows, cats]
    table.demand_history[:, rows, cats] = exp_d[None, :]
    table.sigma0[rows, cats] = np.sqrt(exp_d)
    table.mu0[rows, cats] = exp_d
    table.on_hand[rows, cats] = np.ceil(exp_d * cfg.initial_stock_days).astype(np.int64)


def append_rows(table: MerchantTable, extra: MerchantTable) -> MerchantTable:
    """Table with `extra` merchants appended (used for entry, rare: once a month at most)."""
    merged = {}
    for name in table.__dataclass_fields__:
        a, b = getattr(table, name), getattr(extra, name)
        if name in MERCHANT_AXIS_1:
            merged[name] = np.concatenate([a, b], axis=1)
        elif isinstance(a, np.ndarray):
            merged[name] = np.concatenate([a, b], axis=0)
        else:
            merged[name] = a
    return MerchantTable(**merged)


MAX_ORDER_CYCLE_DAYS = 90


def order_cycle_days(table: MerchantTable, cfg: MerchantsConfig, mean: np.ndarray) -> np.ndarray:
    """Days between a cell's orders: 1 (every day), or with `economic_order_cycle` the economic order
    quantity's cycle (Harris 1913): EOQ = sqrt(2 x order_cost x annual demand / holding cost per unit and
    year), so R = EOQ / daily demand = sqrt(2 x order_cost x 365 / (holding cost per unit-year x daily
    demand)), whole days, 1 to 90."""
    rp = cfg.replenishment
    if not rp.economic_order_cycle:
        return np.ones_like(mean)
    holding = cfg.holding_cost_rate_per_year * np.maximum(table.unit_cost, 1e-9)
    with np.errstate(divide="ignore"):
        cycle = np.sqrt(2.0 * rp.order_cost * 365.0 / (holding * mean))
    # no demand (an infinite or undefined cycle) -> the longest cycle; fmin takes 90 over NaN and inf
    return np.maximum(np.fmin(np.rint(cycle), MAX_ORDER_CYCLE_DAYS), 1)


def replenishment_orders(table: MerchantTable, cfg: MerchantsConfig, day: int = 0) -> np.ndarray:
    """Units each (merchant, category) orders at the end of `day` (0 where nothing is due).

    Order-up-to reviews a cell every R days (R = 1, or the economic order cycle: order_cycle_days) and
    raises its position to (L + R - 1) x mean + z x sigma x sqrt(L + R - 1): what covers the demand until
    the next order arrives (Chen et al. 2000 at R = 1). Order-up-to computes the demand's spread only
    for the cells that order today (with the economic cycle, about 1 in 70 a day: issue 23)."""
    rp = cfg.replenishment
    L = rp.lead_time_days
    window = min(max(table.days_of_history, 1), rp.forecast_window_days)
    hist = table.demand_history
    if window < hist.shape[0]:
        idx = (table.history_pos - 1 - np.arange(window)) % hist.shape[0]
        recent = hist[idx]
    else:
        recent = hist
    mean = recent.mean(axis=0)
    fixed_sigma = rp.fixed_safety_stock or window < 2
    if rp.policy == "order_up_to":
        cycle = order_cycle_days(table, cfg, mean)
        due = day - table.last_review >= cycle
        table.last_review[due] = day
        m, c = np.nonzero(due & table.carries & table.active[:, None])
        sigma = table.sigma0[m, c] if fixed_sigma else _cells_std(recent, mean, m, c)
        cover = L + cycle[m, c] - 1
        target = cover * mean[m, c] + rp.safety_z * sigma * np.sqrt(cover)
        qty = np.zeros(due.shape, dtype=np.int64)
        qty[m, c] = np.maximum(np.ceil(target - (table.on_hand[m, c] + table.on_order[m, c]) - 1e-9), 0.0)
        return qty
    position = table.on_hand + table.on_order
    if rp.policy == "base_stock":
        target = L * table.mu0 + rp.safety_z * table.sigma0 * np.sqrt(L)
        due = np.ones_like(position, dtype=bool)
    else:  # (s, S)
        target = rp.order_up_to_days * mean
        due = position < rp.reorder_point_days * mean
    qty = np.where(due, np.ceil(target - position - 1e-9), 0.0)
    qty = np.maximum(qty, 0.0).astype(np.int64)
    qty[~table.carries | ~table.active[:, None]] = 0
    return qty


def _cells_std(recent: np.ndarray, mean: np.ndarray, m: np.ndarray, c: np.ndarray) -> np.ndarray:
    """`recent.std(axis=0, ddof=1)[m, c]` bit for bit, computed for the cells (m, c) alone (`mean` is
    `recent.mean(axis=0)`). Over the whole table numpy adds the days one after another; over the gathered
    cells, whose days are then the contiguous axis, it would add them pairwise and round differently (by an
    ulp, enough to move an order's ceiling now and then), so the days are added in order here."""
    deviation = recent[:, m, c] - mean[m, c]
    return np.sqrt(np.add.accumulate(deviation * deviation, axis=0)[-1] / (recent.shape[0] - 1))


def record_demand(table: MerchantTable, demand: np.ndarray) -> None:
    """Push the day's (merchant, category) demand into the forecast window."""
    table.demand_history[table.history_pos] = demand
    table.history_pos = (table.history_pos + 1) % table.demand_history.shape[0]
    table.days_of_history += 1


class Merchants:
    """The merchants of the market: their table, the books kept outside the ledger, entry and exit.

    Profit is accrual (docs/kpis.md): a day's profit per merchant is its order margin (from the
    model) plus the charges and credits booked here during the day (`charge`), less the daily
    costs; stock written off (net of what liquidation recovers) is the merchant's loss too.
    `accrual` keeps the run's totals of the P&L lines that are not ledger flows (cost of goods
    sold, restocked returns, write-offs), so the merchants' P&L table has every line.
    """

    def __init__(self, cfg: MerchantsConfig, table: MerchantTable, ledger: Ledger, order_value: np.ndarray) -> None:
        self.cfg = cfg
        self.table = table
        self.ledger = ledger
        self.order_value = order_value   # expected order value per category at price index 1 [currency]
        self.joined = 0                  # merchants added after the day-0 market
        self.left = 0                    # merchants who left
        self.units_initial = 0           # opening stock of every merchant, day 0 and entrants [units]
        self.units_restocked = 0         # returned units put back on a shelf
        self.units_written_off = 0
        self.opening_inventory_value = 0.0
        self.written_off_value_today = 0.0
        self.accrual = {"cost_of_goods_sold": 0.0, "returns_restocked": 0.0, "stock_written_off": 0.0}
        self._adjust = np.zeros(table.size)

    def start_measuring(self, inventory_value: float) -> None:
        """The end of a warm-up: the run's counters and accrual lines start afresh from today's stock."""
        self.joined = self.left = 0
        self.opening_inventory_value = inventory_value
        self.accrual = dict.fromkeys(self.accrual, 0.0)
        self.table.gmv_run[:] = 0.0

    def open(self, rows: np.ndarray, expected_daily: np.ndarray) -> None:
        """Stock `rows` for their expected daily demand (forecast history pre-filled) and count it."""
        table = self.table
        stock_to_expected_demand(table, rows, expected_daily, self.cfg, self.order_value)
        self.units_initial += int(table.on_hand[rows].sum())
        self.opening_inventory_value += float((table.on_hand[rows] * table.unit_cost[rows]).sum())

    def open_cells(self, rows: np.ndarray, cats: np.ndarray, expected_daily: np.ndarray) -> None:
        """Stock the new cells (rows[i], cats[i]) of running merchants for their expected daily demand, and count it."""
        table = self.table
        stock_cells(table, rows, cats, expected_daily, self.cfg)
        self.units_initial += int(table.on_hand[rows, cats].sum())
        self.opening_inventory_value += float((table.on_hand[rows, cats] * table.unit_cost[rows, cats]).sum())

    # --- the day's books -------------------------------------------------------------------------

    def start_day(self) -> None:
        self._adjust = np.zeros(self.table.size)
        self.written_off_value_today = 0.0

    def charge(self, rows: np.ndarray, amounts: np.ndarray) -> None:
        """Costs (or, negative, credits) booked outside the order flow; they enter today's profit."""
        if rows.size:
            adjust = np.bincount(rows, weights=amounts, minlength=self.table.size)
            if adjust.size > self._adjust.size:  # merchants joined since the day began
                self._adjust = np.r_[self._adjust, np.zeros(adjust.size - self._adjust.size)]
            self._adjust[: adjust.size] -= adjust

    def sell(self, day: int, rows: np.ndarray, cats: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Record the day's served orders' sales; returns the cost of the units sold per order."""
        t = self.table
        sales = np.bincount(rows, weights=value, minlength=t.size)
        t.gmv_run += sales
        t.sales_month += sales
        t.sales_days[day % QUARTER_DAYS] = sales
        cogs = t.unit_cost[rows, cats]
        self.accrual["cost_of_goods_sold"] += float(cogs.sum())
        return cogs

    def daily_costs(self) -> np.ndarray:
        """Holding, overhead and ad costs of the day per merchant, booked to the ledger."""
        t, mc, ledger = self.table, self.cfg, self.ledger
        holding = (t.on_hand * t.unit_cost).sum(axis=1) * mc.holding_cost_rate_per_year / 365.0
        fixed = np.where(t.active, t.overhead_month / DAYS_PER_MONTH, 0.0)
        ads = np.where(t.active, t.ad_spend_month / DAYS_PER_MONTH, 0.0)
        ledger.post("holding", float(holding.sum()))
        ledger.post("merchant_fixed", float(fixed.sum()))
        ledger.post("ad_fees", float(ads.sum()))
        return holding + fixed + ads

    def close_day(self, day: int, profit: np.ndarray) -> np.ndarray:
        """Add the day's charges to its profit and book it to the month and the trailing quarter."""
        profit += self._adjust
        self.table.profit_month += profit
        self.table.profit_days[day % QUARTER_DAYS] = profit
        return profit

    def rate_orders(self, first_choice: np.ndarray, outcome: np.ndarray) -> None:
        """Order outcomes count for the shopper's first choice (its stock-out caused any fallback)."""
        t = self.table
        seen = first_choice >= 0
        t.outcome_sum += np.bincount(first_choice[seen], weights=outcome[seen], minlength=t.size)
        t.outcome_n += np.bincount(first_choice[seen], minlength=t.size).astype(float)

    # --- stock leaving the market ------------------------------------------------------------------

    def restock_returns(self, rows: np.ndarray, cats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Returned units fit to sell go back on the shelf; a left merchant's or a delisted range's are scrapped.
        Returns the (merchant, category) of the units put back."""
        t = self.table
        self.units_restocked += int(rows.size)
        active = t.active[rows] & t.carries[rows, cats]
        np.add.at(t.on_hand, (rows[active], cats[active]), 1)
        # a restocked unit is inventory again: its cost comes back out of cost of goods sold
        credit = t.unit_cost[rows[active], cats[active]]
        self.charge(rows[active], -credit)
        self.accrual["returns_restocked"] += float(credit.sum())
        self.units_written_off += int((~active).sum())
        return rows[active], cats[active]

    def delist(self, rows: np.ndarray, cats: np.ndarray, day: int) -> None:
        """Merchants stop carrying single categories: the stock is liquidated, the loss is theirs."""
        t = self.table
        units = t.on_hand[rows, cats]
        loss = self._liquidate(int(units.sum()), units * t.unit_cost[rows, cats])
        # the loss counts towards the merchant's month and its quarter
        by_row = np.bincount(rows, weights=loss, minlength=t.size)
        t.profit_month -= by_row
        t.profit_days[day % QUARTER_DAYS] -= by_row
        t.on_hand[rows, cats] = 0
        t.carries[rows, cats] = False
        t.supplier[rows, cats] = -1

    def write_off_stock(self, rows: np.ndarray) -> None:
        """A departed merchant's stock leaves the market, liquidated: the loss is merchant profit's."""
        t = self.table
        self._liquidate(int(t.on_hand[rows].sum()), (t.on_hand[rows] * t.unit_cost[rows]).sum(axis=1))
        t.on_hand[rows] = 0

    def _liquidate(self, units: int, value: np.ndarray) -> np.ndarray:
        """Sell `units` worth `value` at cost for salvage_share of it (ledger flow salvage); returns the loss."""
        self.units_written_off += units
        recovered = value * self.cfg.exit.salvage_share
        self.ledger.post("salvage", float(recovered.sum()))
        loss = value - recovered
        self.written_off_value_today += float(loss.sum())
        self.accrual["stock_written_off"] += float(loss.sum())
        return loss

    # --- month end: ratings, exit, entry ------------------------------------------------------------

    def update_ratings(self) -> None:
        """Rating: moving average of 1 + 4 x quality x the month's mean order outcome."""
        t = self.table
        seen = t.outcome_n > 0
        month_outcome = np.where(seen, t.outcome_sum / np.maximum(t.outcome_n, 1), 1.0)
        target = 1.0 + 4.0 * t.quality * month_outcome
        t.rating = np.where(seen, 0.7 * t.rating + 0.3 * target, t.rating)

    def exits(self, day: int) -> np.ndarray:
        """Merchants old enough whose trailing-quarter margin is below the threshold leave; stock liquidated."""
        t, rule = self.table, self.cfg.exit
        old_enough = day + 1 - t.created_day >= rule.min_age_days
        trailing = t.profit_days.sum(axis=0)
        losing = trailing < rule.margin_threshold * t.sales_days.sum(axis=0)
        leaving = np.flatnonzero(t.active & old_enough & losing)
        if leaving.size:
            self.write_off_stock(leaving)
            t.active[leaving] = False
            t.left_day[leaving] = day
            self.left += int(leaving.size)
        return leaving

    def trailing_margin(self) -> float:
        """The active merchants' trailing-quarter profit / their trailing-quarter sales (net margin)."""
        t = self.table
        sales = float(t.sales_days[:, t.active].sum())
        return float(t.profit_days[:, t.active].sum()) / sales if sales > 0 else 0.0

    def entrants_due(self, rng: np.random.Generator) -> int:
        """Two-sided network effect: sellers join in proportion to what selling here earns."""
        t, entry = self.table, self.cfg.entry
        n_active = int(t.active.sum())
        if n_active == 0 or t.size >= entry.max_count:
            return 0
        pull = min(max(self.trailing_margin() / entry.reference_margin, 0.0), 2.0)
        n_new = int(np.floor(entry.monthly_rate * pull * n_active + rng.random()))
        return max(0, min(n_new, entry.max_count - t.size))

    def add(self, extra: MerchantTable) -> None:
        """Append new merchants (not yet stocked: `open` them for the demand they can expect)."""
        t = self.table
        extra.history_pos, extra.days_of_history = t.history_pos, t.days_of_history
        self.table = append_rows(t, extra)
        self.joined += extra.size

    def end_month(self, day: int) -> None:
        """Next month's ad budgets follow this month's sales, overhead moves towards recent sales; monthly
        counters restart."""
        t, cfg = self.table, self.cfg
        opened_now = t.created_day > day  # joined at this month end: keep the budget set for their expected sales
        t.ad_spend_month = np.where(opened_now, t.ad_spend_month, np.where(t.active, t.ad_share * t.sales_month, 0.0))
        # overhead follows the business slowly: a share of the gap to what its recent sales would carry
        target = cfg.overhead_share * t.sales_days.sum(axis=0) / QUARTER_DAYS * DAYS_PER_MONTH
        old_enough = day + 1 - t.created_day >= QUARTER_DAYS  # a full trailing quarter of sales
        t.overhead_month = np.where(old_enough, t.overhead_month + cfg.overhead_adjustment
                                    * (target - t.overhead_month), t.overhead_month)
        t.sales_month[:] = 0.0
        t.profit_month[:] = 0.0
        t.outcome_sum[:] = 0.0
        t.outcome_n[:] = 0.0
