"""Policy plug-ins (the levers strategists compare) and the PolicySet that runs them.

A policy is a module here with a config section under `policies:` in the scenario (a
sim.schema.PolicySection), the ledger flows it books, the KPIs it reports, and hooks the model
calls through the PolicySet (interface: sim/policies/base.py). To add one: write its module
with a Policy subclass (`name`, `title`, `Config`, `flows`, `kpis`, hooks) and add the class to
PLUGINS below; `policies.<name>` then exists in the scenario schema, its flows in the ledger
and its KPIs in summary.json and the KPI catalogue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from agents.merchant import MerchantTable
from sim.kpis import Kpi
from sim.ledger import Flows
from sim.orders import OrderBatch
from sim.policies.assortment import Assortment
from sim.policies.base import MarketChanges, MonthEndChanges, Policy, PolicyContext
from sim.policies.green_logistics import GreenLogistics
from sim.policies.loyalty import Loyalty
from sim.policies.recommendation import Recommendation
from sim.policies.referral import Referral
from sim.policies.subsidy import Subsidy

PLUGINS: tuple[type[Policy], ...] = (Assortment, GreenLogistics, Loyalty, Recommendation, Referral, Subsidy)
REGISTRY: dict[str, type[Policy]] = {cls.name: cls for cls in sorted(PLUGINS, key=lambda c: c.name)}

__all__ = ["REGISTRY", "MarketChanges", "MonthEndChanges", "Policy", "PolicyContext", "PolicySet",
           "enabled_policies", "policy_flows", "policy_kpis"]


def policy_flows() -> Flows:
    """Ledger flows of every registered policy (on or off: a flow of a policy that is off stays 0)."""
    flows: Flows = {}
    for name in sorted(REGISTRY):
        flows.update(REGISTRY[name].flows)
    return flows


def enabled_policies(policies_config: Any) -> list[str]:
    """Names of the policies a scenario's `policies` section switches on, in registry order."""
    return [name for name in sorted(REGISTRY)
            if (section := getattr(policies_config, name, None)) is not None and section.enabled]


def policy_kpis() -> list[Kpi]:
    """KPIs of every registered policy (reported only when the policy is on)."""
    return [k for name in sorted(REGISTRY) for k in REGISTRY[name].kpis]


class PolicySet:
    """The enabled policies, in a fixed order, and the fan-out of every hook to them."""

    def __init__(self, policies_config: Any, generator: Callable[[str], np.random.Generator]) -> None:
        """`generator(name)` gives a named random stream (sim.rng.Streams.generator)."""
        self.policies: list[Policy] = [REGISTRY[name](getattr(policies_config, name), generator(f"policy/{name}"))
                                       for name in enabled_policies(policies_config)]

    def __iter__(self):
        return iter(self.policies)

    def setup(self, ctx: PolicyContext) -> list[MarketChanges]:
        return [c for p in self.policies if (c := p.setup(ctx)) is not None]

    def merchants_created(self, ctx: PolicyContext, table: MerchantTable) -> None:
        for p in self.policies:
            p.merchants_created(ctx, table)

    def day_start(self, ctx: PolicyContext) -> None:
        for p in self.policies:
            p.day_start(ctx)

    def join_probability(self, ctx: PolicyContext) -> np.ndarray | float:
        extra: np.ndarray | float = 0.0
        for p in self.policies:
            extra = extra + p.join_probability(ctx)
        return extra

    def on_joins(self, ctx: PolicyContext, joiners: np.ndarray, channel: np.ndarray) -> np.ndarray:
        """Today's joins to every policy; returns the channels as the policies attribute them."""
        for p in self.policies:
            changed = p.on_joins(ctx, joiners, channel)
            channel = channel if changed is None else changed
        return channel

    def purchase_multiplier(self, ctx: PolicyContext) -> np.ndarray | float:
        mult: np.ndarray | float = 1.0
        for p in self.policies:
            mult = mult * p.purchase_multiplier(ctx)
        return mult

    def dropout_multiplier(self, ctx: PolicyContext) -> np.ndarray | float:
        mult: np.ndarray | float = 1.0
        for p in self.policies:
            mult = mult * p.dropout_multiplier(ctx)
        return mult

    def on_orders(self, ctx: PolicyContext, orders: OrderBatch) -> None:
        for p in self.policies:
            p.on_orders(ctx, orders)

    def day_end(self, ctx: PolicyContext) -> None:
        for p in self.policies:
            p.day_end(ctx)

    def month_end(self, ctx: PolicyContext) -> list[MonthEndChanges]:
        return [c for p in self.policies if (c := p.month_end(ctx)) is not None]

    def start_measuring(self) -> None:
        for p in self.policies:
            p.start_measuring()

    def summary(self) -> dict[str, float]:
        """Every enabled policy's KPIs; each must report exactly the KPIs it declares."""
        out: dict[str, float] = {}
        for p in self.policies:
            values = p.summary()
            declared = [k.name for k in p.kpis]
            if sorted(values) != sorted(declared):
                raise AssertionError(f"policy {p.name} reports {sorted(values)}, declares {sorted(declared)}")
            out.update(values)
        return out
