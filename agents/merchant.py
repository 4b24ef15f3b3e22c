"""Merchants: Mesa agents whose numbers live in one column table, so daily arithmetic
(stock, forecasts, replenishment, profit) runs across all merchants at once.

Replenishment is order-up-to with a p-day moving-average forecast (Chen et al. 2000: order-up-to
level y_t = L x mean of the last p days' demand + z x sigma x sqrt(L); an order placed at the
end of day t arrives at the start of day t+L), or (s, S) in days of forecast demand.
"""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np

from sim.config import Merchants

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
    history_pos: int = 0
    days_of_history: int = 0

    @property
    def size(self) -> int:
        return self.active.shape[0]


def build_merchants(cfg: Merchants, n_categories: int, demand_share: np.ndarray,
                    base_unit_cost: np.ndarray, n_suppliers_by_cat: list[np.ndarray],
                    supplier_cost_factor: np.ndarray, rng: np.random.Generator, n: int,
                    day: int = 0) -> MerchantTable:
    """Draw `n` merchants: assortment by demand share, prices, quality, fulfilment, suppliers."""
    k = cfg.categories_per_merchant
    # Assortment: k distinct categories, more likely the popular ones (Gumbel top-k trick).
    keys = np.log(demand_share)[None, :] + rng.gumbel(size=(n, n_categories))
    top = np.argsort(-keys, axis=1)[:, :k]
    carries = np.zeros((n, n_categories), dtype=bool)
    np.put_along_axis(carries, top, True, axis=1)
    price_index = np.exp(rng.normal(0.0, cfg.price_index_sd, n) - cfg.price_index_sd**2 / 2)
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
        rating=1.0 + 4.0 * quality,
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
    )


def stock_to_expected_demand(table: MerchantTable, rows: np.ndarray, expected_daily: np.ndarray,
                             cfg: Merchants) -> None:
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


def replenishment_orders(table: MerchantTable, cfg: Merchants) -> np.ndarray:
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


class Merchant(mesa.Agent):
    """A merchant as a Mesa agent: a named view on its row of the MerchantTable."""

    def __init__(self, model: mesa.Model, row: int) -> None:
        super().__init__(model)
        self.row = row

    @property
    def table(self) -> MerchantTable:
        return self.model.merchant_table

    @property
    def categories(self) -> np.ndarray:
        return np.flatnonzero(self.table.carries[self.row])

    @property
    def rating(self) -> float:
        return float(self.table.rating[self.row])

    @property
    def trailing_quarter_profit(self) -> float:
        return float(self.table.profit_days[:, self.row].sum())

    def leave(self) -> None:
        """Exit the platform: stock is written off, the agent removed."""
        self.model.write_off_stock(self.row)
        self.table.active[self.row] = False
        self.remove()
