"""Policy plug-ins.

A policy is a class with a config section under `policies:` in the scenario and the hooks
below; the model calls every enabled policy at each hook and never names a policy itself.
To add one: write a module here with its config section (a sim.schema.Section) and a Policy
subclass with `name`, `title` and `Config`, decorate it with @register, and import the module
at the bottom of this file; `policies.<name>` then exists in the scenario schema. Hooks that
change behaviour return multipliers that are exactly 1 when the policy does nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from agents.merchant import MerchantTable
    from sim.config import Scenario
    from sim.model import MarketModel
    from sim.orders import OrderBatch

REGISTRY: dict[str, type[Policy]] = {}


class Policy:
    """Base class: every hook is a no-op, so a policy overrides only what it changes."""

    name: ClassVar[str] = "policy"
    title: ClassVar[str] = "Policy"
    Config: ClassVar[type]  # the policy's config section (a sim.schema.Section), under policies.<name>
    kpis: ClassVar[tuple[str, ...]] = ()  # the keys summary() adds (targets may name them)

    def __init__(self, config: Any) -> None:
        self.config = config

    @classmethod
    def check(cls, config: Any, scenario: Scenario) -> None:
        """Checks of the section against the rest of the scenario; raise ValueError naming the field."""

    @classmethod
    def carbon_factors(cls, config: Any, scenario: Scenario) -> list[tuple[str, str, str]]:
        """(stage, key, field) of every emission factor the policy may use (checked at load)."""
        return []

    def setup(self, model: MarketModel) -> None:
        """Once, after the market is built and before day 0 (fleet, packaging, ...)."""

    def merchants_created(self, model: MarketModel, table: MerchantTable) -> None:
        """New merchants (day 0 and each entry), before their opening stock is bought."""

    def day_start(self, model: MarketModel, day: int) -> None:
        """Budgets, campaign windows."""

    def join_probability(self, model: MarketModel, day: int) -> np.ndarray | float:
        """Extra daily join probability per shopper (array over shoppers, or a scalar); channel referral."""
        return 0.0

    def on_joins(self, model: MarketModel, day: int, joiners: np.ndarray, channel: np.ndarray) -> None:
        """Today's new customers and their channels (e.g. to pay referral rewards)."""

    def purchase_multiplier(self, model: MarketModel, day: int) -> np.ndarray | float:
        """Multiplier on each shopper's purchase rate (array over shoppers, or a scalar)."""
        return 1.0

    def dropout_multiplier(self, model: MarketModel, day: int) -> np.ndarray | float:
        """Multiplier on each shopper's dropout probability."""
        return 1.0

    def on_orders(self, model: MarketModel, day: int, orders: OrderBatch) -> None:
        """Price, coupon and points effects of the day's orders; book costs to model.ledger."""

    def day_end(self, model: MarketModel, day: int) -> None:
        """After the day's orders, deliveries and replenishment (e.g. charges on the day's carbon)."""

    def month_end(self, model: MarketModel, day: int) -> None:
        """Monthly settlement: budgets, tiers, fees."""

    def summary(self, model: MarketModel) -> dict[str, float]:
        """Extra summary.json keys the policy reports (e.g. fake sign-ups)."""
        return {}


def register(cls: type[Policy]) -> type[Policy]:
    REGISTRY[cls.name] = cls
    return cls


def build_policies(policies_config: Any) -> list[Policy]:
    """Instantiate every policy whose section is present and enabled, in a fixed order."""
    active: list[Policy] = []
    for name in sorted(REGISTRY):
        section = getattr(policies_config, name, None)
        if section is not None and section.enabled:
            active.append(REGISTRY[name](section))
    return active


# Importing the policy modules registers them (keep this list sorted).
from sim.policies import assortment, green_logistics, loyalty, recommendation, referral, subsidy  # noqa: E402,F401
