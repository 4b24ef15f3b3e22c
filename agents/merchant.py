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
MERCHANT_AXIS_1 = ("demand_history", "profit_days")  # arrays whose merchant axis is axis 1


@dataclass
class MerchantTable:
    """One row per merchant ever created; columns are numpy arrays. (m = merchants, c = categories)"""

    active: np.ndarray            # (m,) bool
    carries: np.ndarray           # (m, c) bool: assortment
    price_index: np.ndarray       # (m,) multiplies order value
    quality: np.ndarray           # (m,) 0-1
    rating: np.ndarray            # (m,) stars 1-5, moving average of shopper outcomes
    delivery_days: np.ndarray     # (m,) promised delivery
    platform_fulfilled: np.ndarray  # (m,) bool
    green_label: np.ndarray       # (m,) bool
    ad_spend_month: np.ndarray    # (m,) currency/month paid to the platform
    supplier: np.ndarray          # (m, c) supplier row per carried category, -1 otherwise
    unit_cost: np.ndarray         # (m, c) currency/unit from its supplier
    on_hand: np.ndarray           # (m, c) units
    on_order: np.ndarray          # (m, c) units ordered, not yet received
    demand_history: np.ndarray    # (p, m, c) units demanded on each of the last p days
    sigma0: np.ndarray            # (m, c) initial daily demand sd (fixed safety stock)
    mu0: np.ndarray               # (m, c) expected daily demand at opening (base stock)
    created_day: np.ndarray       # (m,) day the merchant joined
    profit_month: np.ndarray      # (m,) running month's profit (accrual, as merchant_profit)
    profit_days: np.ndarray       # (90, m) daily profit ring: the trailing quarter
    loss_streak: np.ndarray       # (m,) consecutive loss-making months
    outcome_sum: np.ndarray       # (m,) sum of order outcomes this month (rating update)
    outcome_n: np.ndarray         # (m,) orders this month
    gmv_run: np.ndarray           # (m,) value of the merchant's served orders in the run
    history_pos: int = 0
    days_of_history: int = 0

    @property
    def size(self) -> int:
        return self.active.shape[0]


def build_merchants(cfg: MerchantsConfig, n_categories: int, demand_share: np.ndarray,
                    base_unit_cost: np.ndarray, n_suppliers_by_cat: list[np.ndarray],
                    supplier_cost_factor: np.ndarray, rng: np.random.Generator, n: int,
                    day: int = 0, typical_outcome: float = 1.0) -> MerchantTable:
    """Draw `n` merchants: assortment by demand share, prices, quality, fulfilment, suppliers.

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
    delivery = np.where(platform, cfg.delivery_days_platform, cfg.delivery_days_self)
    green = rng.random(n) < cfg.green_label_share
    ad = cfg.ad_spend_per_month_mean * rng.exponential(1.0, n)
    supplier = np.full((n, n_categories), -1, dtype=np.int64)
    unit_cost = np.zeros((n, n_categories))
    for c in range(n_categories):  # loop over categories, not merchants
        pick = rng.integers(0, len(n_suppliers_by_cat[c]), size=n)
        rows = n_suppliers_by_cat[c][pick]
        supplier[:, c] = np.where(carries[:, c], rows, -1)
        unit_cost[:, c] = np.where(carries[:, c], base_unit_cost[c] * supplier_cost_factor[rows], 0.0)
    p = cfg.replenishment.forecast_window_days
    return MerchantTable(
        active=np.ones(n, dtype=bool),
        carries=carries,
        price_index=price_index,
        quality=quality,
        rating=1.0 + 4.0 * quality * typical_outcome,
        delivery_days=delivery.astype(np.float64),
        platform_fulfilled=platform,
        green_label=green,
        ad_spend_month=ad,
        supplier=supplier,
        unit_cost=unit_cost,
        on_hand=np.zeros((n, n_categories), dtype=np.int64),
        on_order=np.zeros((n, n_categories), dtype=np.int64),
        demand_history=np.zeros((p, n, n_categories)),
        sigma0=np.zeros((n, n_categories)),
        mu0=np.zeros((n, n_categories)),
        created_day=np.full(n, day, dtype=np.int32),
        profit_month=np.zeros(n),
        profit_days=np.zeros((QUARTER_DAYS, n)),
        loss_streak=np.zeros(n, dtype=np.int32),
        outcome_sum=np.zeros(n),
        outcome_n=np.zeros(n),
        gmv_run=np.zeros(n),
    )


def stock_to_expected_demand(table: MerchantTable, rows: np.ndarray, expected_daily: np.ndarray,
                             cfg: MerchantsConfig) -> None:
    """Open `rows` in steady state: forecast history at the expected demand, stock for it."""
    exp_d = expected_daily[rows]
    table.demand_history[:, rows, :] = exp_d[None, :, :]
    table.days_of_history = table.demand_history.shape[0]  # the pre-filled window is the forecast's history
    table.sigma0[rows] = np.sqrt(exp_d)  # Poisson demand: sd = sqrt(mean)
    table.mu0[rows] = exp_d
    table.on_hand[rows] = np.ceil(exp_d * cfg.initial_stock_days).astype(np.int64)


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


def replenishment_orders(table: MerchantTable, cfg: MerchantsConfig) -> np.ndarray:
    """Units each (merchant, category) orders at the end of the day (0 where nothing is due)."""
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
    if rp.fixed_safety_stock or window < 2:
        sigma = table.sigma0
    else:
        sigma = recent.std(axis=0, ddof=1)
    position = table.on_hand + table.on_order
    if rp.policy == "order_up_to":
        target = L * mean + rp.safety_z * sigma * np.sqrt(L)
        due = np.ones_like(position, dtype=bool)
    elif rp.policy == "base_stock":
        target = L * table.mu0 + rp.safety_z * table.sigma0 * np.sqrt(L)
        due = np.ones_like(position, dtype=bool)
    else:  # (s, S)
        target = rp.order_up_to_days * mean
        due = position < rp.reorder_point_days * mean
    qty = np.where(due, np.ceil(target - position - 1e-9), 0.0)
    qty = np.maximum(qty, 0.0).astype(np.int64)
    qty[~table.carries | ~table.active[:, None]] = 0
    return qty


def record_demand(table: MerchantTable, demand: np.ndarray) -> None:
    """Push the day's (merchant, category) demand into the forecast window."""
    table.demand_history[table.history_pos] = demand
    table.history_pos = (table.history_pos + 1) % table.demand_history.shape[0]
    table.days_of_history += 1


class Merchants:
    """The merchants of the market: their table, the books kept outside the ledger, entry and exit.

    Profit is accrual (docs/kpis.md): a day's profit per merchant is its order margin (from the
    model) plus the charges and credits booked here during the day (`charge`), less the daily
    costs; stock written off is the merchant's loss too.
    """

    def __init__(self, cfg: MerchantsConfig, table: MerchantTable) -> None:
        self.cfg = cfg
        self.table = table
        self.joined = 0                  # merchants added after the day-0 market
        self.units_initial = 0           # opening stock of every merchant, day 0 and entrants [units]
        self.units_restocked = 0         # returned units put back on a shelf
        self.units_written_off = 0
        self.opening_inventory_value = 0.0
        self.written_off_value_today = 0.0
        self._adjust = np.zeros(table.size)

    def open(self, rows: np.ndarray, expected_daily: np.ndarray, table: MerchantTable | None = None) -> None:
        """Stock `rows` for their expected daily demand (forecast history pre-filled) and count it."""
        table = self.table if table is None else table
        stock_to_expected_demand(table, rows, expected_daily, self.cfg)
        self.units_initial += int(table.on_hand[rows].sum())
        self.opening_inventory_value += float((table.on_hand[rows] * table.unit_cost[rows]).sum())

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

    def daily_costs(self, ledger: Ledger) -> np.ndarray:
        """Holding, fixed and ad costs of the day per merchant, booked to the ledger."""
        t, mc = self.table, self.cfg
        holding = (t.on_hand * t.unit_cost).sum(axis=1) * mc.holding_cost_rate_per_year / 365.0
        fixed = np.where(t.active, mc.fixed_cost_per_month * 12.0 / 365.0, 0.0)
        ads = np.where(t.active, t.ad_spend_month * 12.0 / 365.0, 0.0)
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

    def restock_returns(self, rows: np.ndarray, cats: np.ndarray) -> None:
        """Returned units fit to sell go back on the shelf; a left merchant's or a delisted range's are scrapped."""
        t = self.table
        self.units_restocked += int(rows.size)
        active = t.active[rows] & t.carries[rows, cats]
        np.add.at(t.on_hand, (rows[active], cats[active]), 1)
        # a restocked unit is inventory again: its cost comes back out of cost of goods sold
        self.charge(rows[active], -t.unit_cost[rows[active], cats[active]])
        self.units_written_off += int((~active).sum())

    def delist(self, rows: np.ndarray, cats: np.ndarray, day: int) -> None:
        """Merchants stop carrying single categories: the stock is written off, the loss is theirs."""
        t = self.table
        value = t.on_hand[rows, cats] * t.unit_cost[rows, cats]
        self.units_written_off += int(t.on_hand[rows, cats].sum())
        self.written_off_value_today += float(value.sum())
        # the loss counts towards the merchant's month, its quarter and its exit
        loss = np.bincount(rows, weights=value, minlength=t.size)
        t.profit_month -= loss
        t.profit_days[day % QUARTER_DAYS] -= loss
        t.on_hand[rows, cats] = 0
        t.carries[rows, cats] = False
        t.supplier[rows, cats] = -1

    def write_off_stock(self, rows: int | np.ndarray) -> None:
        """A departed merchant's stock is lost to the market: a loss in merchant profit."""
        t = self.table
        self.units_written_off += int(t.on_hand[rows].sum())
        self.written_off_value_today += float((t.on_hand[rows] * t.unit_cost[rows]).sum())
        t.on_hand[rows] = 0

    # --- month end: ratings, exit, entry ------------------------------------------------------------

    def update_ratings(self) -> None:
        """Rating: moving average of 1 + 4 x quality x the month's mean order outcome."""
        t = self.table
        seen = t.outcome_n > 0
        month_outcome = np.where(seen, t.outcome_sum / np.maximum(t.outcome_n, 1), 1.0)
        target = 1.0 + 4.0 * t.quality * month_outcome
        t.rating = np.where(seen, 0.7 * t.rating + 0.3 * target, t.rating)

    def exits(self) -> np.ndarray:
        """Merchants with `exit_after_loss_months` loss-making months in a row leave; stock written off."""
        t = self.table
        t.loss_streak = np.where(t.active & (t.profit_month < 0), t.loss_streak + 1, 0)
        leaving = np.flatnonzero(t.active & (t.loss_streak >= self.cfg.exit_after_loss_months))
        for row in leaving:  # few a month; one at a time keeps the write-off sums as booked
            self.write_off_stock(row)
            t.active[row] = False
        return leaving

    def entrants_due(self, rng: np.random.Generator) -> int:
        """Two-sided network effect: merchants join when trailing profit on the platform pays."""
        t, entry = self.table, self.cfg.entry
        active = np.flatnonzero(t.active)
        if active.size == 0 or t.size >= entry.max_count:
            return 0
        mean_profit = float(t.profit_days[:, active].sum(axis=0).mean())
        if mean_profit <= entry.profit_threshold:
            return 0
        n_new = int(np.floor(entry.monthly_rate * active.size + rng.random()))
        return max(0, min(n_new, entry.max_count - t.size))

    def add(self, extra: MerchantTable) -> None:
        """Append new merchants, stocked for the recent demand of their categories."""
        t = self.table
        carriers = t.carries & t.active[:, None]
        recent = t.demand_history.mean(axis=0)
        per_cat = (recent * carriers).sum(axis=0) / np.maximum(carriers.sum(axis=0), 1)
        self.open(np.arange(extra.size), extra.carries * per_cat[None, :], table=extra)
        extra.history_pos, extra.days_of_history = t.history_pos, t.days_of_history
        self.table = append_rows(t, extra)
        self.joined += extra.size

    def end_month(self) -> None:
        t = self.table
        t.profit_month[:] = 0.0
        t.outcome_sum[:] = 0.0
        t.outcome_n[:] = 0.0
