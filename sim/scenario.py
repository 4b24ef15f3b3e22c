"""The whole scenario: the market (sim/config.py), the policies' sections and the targets.

`policies:` has one optional section per registered policy, declared by the policy itself
(sim/policies/). Loading (YAML, `extends:`, `--set`, error messages) is sim/scenario_io.py.
"""

from __future__ import annotations

import difflib

from pydantic import Field, create_model, model_validator

from sim.config import MarketConfig
from sim.kpis import CATALOGUE, CATEGORY_RETURNS_PREFIX, SEGMENT_ORDERS_PREFIX, SUMMARY_KEYS
from sim.policies import REGISTRY, enabled_policies, policy_kpis
from sim.schema import Section


def known_kpis() -> set[str]:
    """Every summary key a target may name (segment order counts go by their prefix)."""
    return {k.name for k in CATALOGUE} | {k.name for k in policy_kpis()}


class PoliciesConfigBase(Section):
    """Base of `policies`: its fields are made from the policy registry (sim/policies/)."""


PoliciesConfig = create_model(
    "PoliciesConfig", __base__=PoliciesConfigBase, __doc__="Policy plug-ins by name (sim/policies/)",
    **{name: (cls.Config | None, Field(None, description=f"{cls.title} (off when absent)"))
       for name, cls in sorted(REGISTRY.items())},
)


class TargetConfig(Section):
    """A goal on one summary KPI: a change relative to the baseline, or a level."""

    kpi: str = Field(min_length=1,
                     description="A summary.json key, e.g. gmv, second_purchase_90d, merchant_satisfaction")
    relative_change_min: float | None = Field(
        None, description="Met when (scenario - baseline) / baseline is at least this (e.g. 0.20 for +20%)"
    )
    relative_change_max: float | None = Field(None, description="Met when the relative change is at most this")
    min: float | None = Field(None, description="Met when the scenario's value is at least this")
    max: float | None = Field(None, description="Met when the scenario's value is at most this")

    @model_validator(mode="after")
    def _one_goal(self) -> TargetConfig:
        known = known_kpis()
        if self.kpi not in known and not self.kpi.startswith((SEGMENT_ORDERS_PREFIX, CATEGORY_RETURNS_PREFIX)):
            close = difflib.get_close_matches(self.kpi, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown KPI {self.kpi!r}{hint} Allowed: the keys of summary.json, e.g. "
                             f"{', '.join(SUMMARY_KEYS)} (all in docs/kpis.md)")
        goals = [g for g in (self.relative_change_min, self.relative_change_max, self.min, self.max) if g is not None]
        if len(goals) != 1:
            raise ValueError("a target needs exactly one of relative_change_min, relative_change_max, min, max")
        return self


class Scenario(MarketConfig):
    """A scenario file, validated: the market, the policies switched on and the goals."""

    policies: PoliciesConfig = Field(default_factory=PoliciesConfig)
    targets: list[TargetConfig] = Field(default_factory=list, description="Goals reported by `compare` (met or not)")

    @model_validator(mode="after")
    def _policy_checks(self) -> Scenario:
        for name, section in self.policy_sections():  # each policy checks its section against the rest
            REGISTRY[name].check(section, self)
        return self

    def at_sample(self) -> Scenario:
        """The scenario as the run simulates it (MarketConfig.scaled_to_sample), policies' platform-wide
        settings scaled too (PolicySection.at_sample)."""
        f = self.shoppers.sample_fraction
        if f == 1.0:
            return self
        policies = self.policies.model_copy(update={name: section.at_sample(f)
                                                    for name, section in self.policy_sections()})
        return self.scaled_to_sample({"policies": policies})

    def policy_timing(self) -> str:
        """Which year is measured: the policies' launch or a policy already running ("" without policies)."""
        if not enabled_policies(self.policies):
            return ""
        w = self.simulation.warmup_days
        if self.simulation.policies_start == "launch" or w == 0:
            return "Policies launch on day 0 of the measured period" + (
                f" (the {w}-day warm-up runs without them)." if w else ".")
        return (f"Policies in place since the start of the {w}-day warm-up: the period measured follows {w} days "
                "of the policies, not their launch.")

    def policy_sections(self) -> list[tuple[str, Section]]:
        """(name, section) of every policy section present, in registry order."""
        return [(name, getattr(self.policies, name)) for name in sorted(REGISTRY)
                if getattr(self.policies, name) is not None]

    def policy_carbon_factors(self) -> list[tuple[str, str, str]]:
        """(stage, key, field) of the emission factors the policies may use."""
        return [f for name, section in self.policy_sections() for f in REGISTRY[name].carbon_factors(section, self)]
