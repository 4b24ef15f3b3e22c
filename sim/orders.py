"""The day's orders: category, merchant by logit, stock check (lost sale or fallback), value.

All orders of a day are handled together as arrays. When several shoppers want the last
units of one (merchant, category), a per-shopper random priority decides who gets them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.arrays import rank_within_groups
from sim.choice import cumulative_table, grouped_draw


@dataclass
class OrderBatch:
    """One row per purchase attempt of the day."""

    shopper: np.ndarray      # shopper index
    is_first: np.ndarray     # bool: the joining order
    category: np.ndarray     # category index
    merchant: np.ndarray     # merchant row that served it, -1 if lost
    first_choice: np.ndarray  # merchant row first chosen, -1 if none carries the category
    fell_back: np.ndarray    # bool: served by the fallback choice
    value: np.ndarray        # order value paid [currency], 0 if lost
    outcome: np.ndarray      # shopper's experience of the order, 1 = all well

    @property
    def fulfilled(self) -> np.ndarray:
        return self.merchant >= 0

    @property
    def attempts(self) -> int:
        return int(self.shopper.size)


def allocate_stock(cells: np.ndarray, priority: np.ndarray, on_hand_flat: np.ndarray) -> np.ndarray:
    """Serve requests for stock cells in priority order; returns served mask, decrements stock."""
    served = rank_within_groups(cells, priority) < on_hand_flat[cells]
    np.subtract.at(on_hand_flat, cells[served], 1)
    return served


@dataclass
class Market:
    """What order placement needs from the model, gathered once a day."""

    segment: np.ndarray          # (shoppers,) segment of each shopper
    category_cum: np.ndarray     # (segments, categories) cumulative category choice
    category_support: np.ndarray
    merchant_weights: np.ndarray  # (segments*categories, merchants) logit weights
    on_hand: np.ndarray          # (merchants, categories) units, updated in place
    unlimited_stock: bool
    fallback: bool
    price_level: np.ndarray      # (categories,)
    price_index: np.ndarray      # (merchants,)
    fallback_outcome: float
    stockout_outcome: float


def place_orders(market: Market, shoppers: np.ndarray, is_first: np.ndarray, spend: np.ndarray,
                 u_category: np.ndarray, u_merchant: np.ndarray, u_fallback: np.ndarray,
                 u_priority: np.ndarray, demand: np.ndarray) -> OrderBatch:
    """Resolve the day's purchase attempts; adds attempts per cell to `demand` (merchants x categories).
    The uniforms are aligned with `shoppers`."""
    n_cat = market.price_level.size
    seg = market.segment[shoppers]
    cat = grouped_draw(market.category_cum, market.category_support, seg, u_category)
    group = seg.astype(np.int64) * n_cat + cat
    cum, support = cumulative_table(market.merchant_weights)
    first = grouped_draw(cum, support, group, u_merchant)
    merchant = first.copy()
    fell_back = np.zeros(shoppers.size, dtype=bool)
    has_choice = first >= 0
    np.add.at(demand, (first[has_choice], cat[has_choice]), 1)
    if market.unlimited_stock:
        served = has_choice
    else:
        flat = market.on_hand.reshape(-1)
        served = np.zeros(shoppers.size, dtype=bool)
        cells = first[has_choice] * n_cat + cat[has_choice]
        served[has_choice] = allocate_stock(cells, u_priority[has_choice], flat)
        retry = has_choice & ~served
        if market.fallback and retry.any():
            in_stock = market.on_hand > 0  # (merchants, categories), after first-choice sales
            n_seg = market.category_cum.shape[0]
            weights = market.merchant_weights * np.tile(in_stock.T, (n_seg, 1))
            cum2, support2 = cumulative_table(weights)
            second = grouped_draw(cum2, support2, group[retry], u_fallback[retry])
            ok2 = second >= 0
            rows = np.flatnonzero(retry)[ok2]
            np.add.at(demand, (second[ok2], cat[rows]), 1)
            cells2 = second[ok2] * n_cat + cat[rows]
            got = allocate_stock(cells2, u_priority[rows], flat)
            merchant[rows[got]] = second[ok2][got]
            served[rows[got]] = True
            fell_back[rows[got]] = True
    merchant = np.where(served, merchant, -1)
    value = np.where(served, spend * market.price_level[np.maximum(cat, 0)]
                     * market.price_index[np.maximum(merchant, 0)], 0.0)
    outcome = np.where(served, np.where(fell_back, market.fallback_outcome, 1.0), market.stockout_outcome)
    return OrderBatch(shoppers, is_first, cat, merchant, first, fell_back, value, outcome)
