"""Policy plug-ins (the levers strategists compare) and the PolicySet that runs them.

A policy is a module here with a config section under `policies:` in the scenario (a
sim.schema.PolicySection), the ledger flows it books, the KPIs it reports, and hooks the model
calls through the PolicySet (interface: sim/policies/base.py). To add one: write its module
with a Policy subclass (`name`, `title`, `Config`, `flows`, `kpis`, hooks) and add the class to
PLUGINS below; `policies.<name>` then exists in the scenario schema, its flows in the ledger
and its KPIs in summary.json and the KPI catalogue.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from sim.kpis import Kpi
from sim.ledger import Flows
from sim.policies.assortment import Assortment
from sim.policies.base import HOOKS, MarketChanges, MonthEndChanges, Policy, PolicyContext
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
    """The enabled policies, in a fixed order; `policies.<hook>(...)` fans a hook of base.HOOKS out to
    every one of them and combines their answers as HOOKS says."""

    def __init__(self, policies_config: Any, generator: Callable[[str], np.random.Generator]) -> None:
        """`generator(name)` gives a named random stream (sim.rng.Streams.generator)."""
        self.policies: list[Policy] = [REGISTRY[name](getattr(policies_config, name), generator(f"policy/{name}"))
                                       for name in enabled_policies(policies_config)]

    @classmethod
    def none(cls) -> PolicySet:
        """No policy at all (the warm-up before the scenario's policies launch)."""
        empty = cls.__new__(cls)
        empty.policies = []
        return empty

    def __iter__(self):
        return iter(self.policies)

    def __getattr__(self, hook: str) -> Callable[..., Any]:
        if hook not in HOOKS:
            raise AttributeError(f"{type(self).__name__} has no hook {hook!r} (sim/policies/base.HOOKS)")
        # a sum or product asks only the policies that override the hook: the base class's neutral 0 or 1
        # changes nothing, and adding it to an array over every shopper would cost a copy of it each day
        # (other hooks ask every policy: a base method may act, e.g. start_measuring clears the totals)
        combine = HOOKS[hook]
        fan_out = _fan_out(combine, [getattr(p, hook) for p in self.policies
                                     if combine not in ("sum", "product")
                                     or getattr(type(p), hook) is not getattr(Policy, hook)])
        setattr(self, hook, fan_out)  # built once per run
        return fan_out

    def kpis(self) -> list[Kpi]:
        """The KPIs the enabled policies declare."""
        return [k for p in self.policies for k in p.kpis]

    def summary(self) -> dict[str, float]:
        """Every enabled policy's KPIs from its totals; each must report exactly the KPIs it declares
        but those computed from its ledger flows."""
        out: dict[str, float] = {}
        for p in self.policies:
            values = p.summary()
            declared = [k.name for k in p.kpis if not k.flows]  # flow KPIs: the ledger's totals (metrics)
            if sorted(values) != sorted(declared):
                raise AssertionError(f"policy {p.name} reports {sorted(values)}, declares {sorted(declared)}")
            out.update(values)
        return out


def _fan_out(combine: str, methods: list[Callable[..., Any]]) -> Callable[..., Any]:
    """One callable for a hook: each policy's bound method, combined as base.HOOKS says."""
    if combine == "each":
        def each(*args: Any) -> None:
            for method in methods:
                method(*args)
        return each
    if combine == "collect":
        return lambda *args: [r for method in methods if (r := method(*args)) is not None]
    if combine in ("sum", "product"):
        join, start = (operator.add, 0.0) if combine == "sum" else (operator.mul, 1.0)

        def fold(*args: Any) -> Any:
            if not methods:
                return start
            total: Any = methods[0](*args)  # (start + x or start x would be x, in a new array)
            for method in methods[1:]:
                total = join(total, method(*args))
            return total
        return fold
    if combine == "chain":
        def chain(*args: Any) -> Any:
            *fixed, value = args
            for method in methods:
                changed = method(*fixed, value)
                value = value if changed is None else changed
            return value
        return chain
    raise ValueError(f"unknown way to combine a hook: {combine!r}")
