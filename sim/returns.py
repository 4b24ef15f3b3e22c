"""Returns: decided when an order is placed, refunded and restocked `delay_days` later.

The probability of a return rises as quality falls and depends on the category: p = (base_rate +
quality_slope x (1 - merchant quality x supplier quality)) x the category's return_multiplier. A
returned unit is fit to sell again with probability restock_share (it goes back on the
merchant's shelf), otherwise it is scrapped.
The shopper gets the order value back; the platform refunds its commission.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.merchant import Merchants
from sim.config import ReturnsConfig
from sim.ledger import Ledger
from sim.logistics import LastMile


@dataclass
class ReturnBatch:
    """Returns falling due on one day (one row per returned order)."""

    merchant: np.ndarray
    category: np.ndarray
    region: np.ndarray
    value: np.ndarray
    commission: np.ndarray
    restock: np.ndarray  # bool: fit to sell again

    @property
    def size(self) -> int:
        return int(self.merchant.size)


def return_probability(cfg: ReturnsConfig, merchant_quality: np.ndarray, supplier_quality: np.ndarray,
                       category_multiplier: np.ndarray | float = 1.0) -> np.ndarray:
    p = (cfg.base_rate + cfg.quality_slope * (1.0 - merchant_quality * supplier_quality)) * category_multiplier
    return np.clip(p, 0.0, 1.0)


class ReturnsBook:
    """Pending returns by due day."""

    def __init__(self, cfg: ReturnsConfig, category_multiplier: np.ndarray) -> None:
        self.cfg = cfg
        self.category_multiplier = category_multiplier
        self.decided_by_category = np.zeros(category_multiplier.size, dtype=np.int64)  # orders flagged
        self._pending: dict[int, list[ReturnBatch]] = {}

    def decide(self, u: np.ndarray, probability: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(returned, restock) masks from one uniform per order (restock is a subset of returned)."""
        returned = u < probability
        restock = u < probability * self.cfg.restock_share
        return returned, restock

    def take(self, day: int, u: np.ndarray, merchant_quality: np.ndarray, supplier_quality: np.ndarray,
             merchant: np.ndarray, category: np.ndarray, region: np.ndarray, value: np.ndarray,
             commission: np.ndarray) -> np.ndarray:
        """Decide which of the day's served orders come back (one uniform each) and schedule them."""
        p = return_probability(self.cfg, merchant_quality, supplier_quality, self.category_multiplier[category])
        returned, restock = self.decide(u, p)
        self.decided_by_category += np.bincount(category[returned], minlength=self.decided_by_category.size)
        self.schedule(day, ReturnBatch(merchant[returned], category[returned], region[returned],
                                       value[returned], commission[returned], restock[returned]))
        return returned

    def settle(self, day: int, ledger: Ledger, last_mile: LastMile,
               merchants: Merchants) -> tuple[int, tuple[np.ndarray, np.ndarray]]:
        """Returns due today: refund, commission back, collection, restock or scrap; returns how many, and
        the (merchant, category) of the units back on a shelf."""
        batch = self.due(day)
        if batch is None:
            return 0, (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        ledger.post("refund", float(batch.value.sum()))
        ledger.post("commission_refund", float(batch.commission.sum()))
        ledger.post("logistics", last_mile.reverse(batch.region))
        merchants.charge(batch.merchant, batch.value - batch.commission)
        restocked = merchants.restock_returns(batch.merchant[batch.restock], batch.category[batch.restock])
        return batch.size, restocked

    def schedule(self, day: int, batch: ReturnBatch) -> None:
        if batch.size:
            self._pending.setdefault(day + self.cfg.delay_days, []).append(batch)

    def due(self, day: int) -> ReturnBatch | None:
        batches = self._pending.pop(day, [])
        if not batches:
            return None
        return ReturnBatch(*(np.concatenate([getattr(b, f) for b in batches])
                             for f in ("merchant", "category", "region", "value", "commission", "restock")))

    def outstanding(self) -> int:
        return sum(b.size for batches in self._pending.values() for b in batches)
