"""The platform: takes commission, spends on marketing, pays its fixed costs.

The policies it runs are plug-ins (sim/policies/, fanned out by PolicySet); this agent only
books the platform's own money flows.
"""

from __future__ import annotations

import numpy as np

from sim.config import PlatformConfig
from sim.ledger import Ledger
from sim.mesa_core import Agent, Model


class Platform(Agent):
    """Take rate, card processing, marketing budget and fixed cost."""

    def __init__(self, model: Model, cfg: PlatformConfig, ledger: Ledger) -> None:
        super().__init__(model)
        self.cfg = cfg
        self.ledger = ledger

    def day_start(self) -> float:
        """Book the day's marketing and fixed costs; returns the marketing spend."""
        spend = self.cfg.marketing_spend_per_day
        self.ledger.post("marketing", spend)
        self.ledger.post("platform_fixed", self.cfg.fixed_cost_per_day)
        return spend

    def settle_orders(self, value: np.ndarray) -> np.ndarray:
        """Sales, commission and card processing in the ledger; returns the commission of each order.
        Card fees are not returned on refunds (as card processors do)."""
        commission = value * self.cfg.take_rate
        self.ledger.post("sale", float(value.sum()))
        self.ledger.post("commission", float(commission.sum()))
        self.ledger.post("payment_processing", float(value.sum()) * self.cfg.payment_rate
                         + self.cfg.payment_fee_per_order * int(np.count_nonzero(value)))
        return commission
