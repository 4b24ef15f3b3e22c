"""The platform: takes commission, spends on marketing, runs the policies, books money flows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.config import Platform as PlatformConfig
from sim.ledger import Ledger
from sim.policies import Policy

if TYPE_CHECKING:
    from sim.orders import OrderBatch


class Platform(mesa.Agent):
    """Take rate, marketing budget and fees; the only agent that calls policy hooks."""

    def __init__(self, model: mesa.Model, cfg: PlatformConfig, policies: list[Policy],
                 ledger: Ledger) -> None:
        super().__init__(model)
        self.cfg = cfg
        self.policies = policies
        self.ledger = ledger

    def setup(self) -> None:
        """Policies adjust the market once, after it is built and before day 0."""
        for policy in self.policies:
            policy.setup(self.model)

    def merchants_created(self, table) -> None:
        """Policies see new merchants (day 0 and entry) before they are stocked."""
        for policy in self.policies:
            policy.merchants_created(self.model, table)

    def day_end(self, day: int) -> None:
        for policy in self.policies:
            policy.day_end(self.model, day)

    def join_probability(self, day: int) -> np.ndarray | float:
        """Extra daily join probability per shopper that policies create (channel: referral)."""
        extra: np.ndarray | float = 0.0
        for policy in self.policies:
            extra = extra + policy.join_probability(self.model, day)
        return extra

    def on_joins(self, day: int, joiners: np.ndarray, channel: np.ndarray) -> None:
        for policy in self.policies:
            policy.on_joins(self.model, day, joiners, channel)

    def day_start(self, day: int) -> float:
        """Book the day's marketing and fixed costs, run policies' day start; returns marketing spend."""
        spend = self.cfg.marketing_spend_per_day
        self.ledger.post("marketing", spend)
        self.ledger.post("platform_fixed", self.cfg.fixed_cost_per_day)
        for policy in self.policies:
            policy.day_start(self.model, day)
        return spend

    def purchase_multiplier(self, day: int) -> np.ndarray | float:
        mult: np.ndarray | float = 1.0
        for policy in self.policies:
            mult = mult * policy.purchase_multiplier(self.model, day)
        return mult

    def dropout_multiplier(self, day: int) -> np.ndarray | float:
        mult: np.ndarray | float = 1.0
        for policy in self.policies:
            mult = mult * policy.dropout_multiplier(self.model, day)
        return mult

    def settle_orders(self, day: int, orders: OrderBatch) -> np.ndarray:
        """Sales and commission in the ledger; policies' order effects; commission per order."""
        gmv = float(orders.value.sum())
        commission = orders.value * self.cfg.take_rate
        self.ledger.post("sale", gmv)
        self.ledger.post("commission", float(commission.sum()))
        for policy in self.policies:
            policy.on_orders(self.model, day, orders)
        return commission

    def month_end(self, day: int) -> None:
        for policy in self.policies:
            policy.month_end(self.model, day)
