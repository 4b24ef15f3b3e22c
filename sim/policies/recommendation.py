"""Recommendation: how far ranking follows each shopper's own category preferences.

The personalisation level p (choice.personalisation is today's; this policy sets a new one)
acts in three places (sim/choice.py): category choice mixes the segment's own preferences
(weight p) with plain popularity (1 - p); the purchase rate of a segment changes by
match_sensitivity x (p - today's level) x its niche score (how far its preferences are from
popularity), since more relevant recommendations convert better; and merchant ranking adds a
popularity term
popularity_weight x (1 - p) x log(sales share), which concentrates sales on top merchants and
starves the long tail. The recommender's running cost is the ledger flow `technology`.
"""

from __future__ import annotations

from pydantic import Field

from sim.kpis import Kpi
from sim.policies.base import MarketChanges, Policy, PolicyContext
from sim.schema import NonNegative, PolicySection, Probability


class RecommendationConfig(PolicySection):
    """Personalisation of ranking: own category preferences versus plain popularity."""

    personalisation: Probability = Field(description="New personalisation level (choice.personalisation is today's)")
    cost_per_month: NonNegative = Field(0.0, description="Running cost of the recommender [currency/month]")

    def at_sample(self, fraction: float) -> RecommendationConfig:
        """The running cost is the platform's: a sample pays its share."""
        return self.model_copy(update={"cost_per_month": self.cost_per_month * fraction})


class Recommendation(Policy):
    name = "recommendation"
    title = "Personalisation lever"
    headline = ("top_decile_merchant_share", "return_rate")
    Config = RecommendationConfig
    flows = {"technology": ("platform", "external")}  # the recommender's running cost
    kpis = (Kpi("technology_cost", "currency", "the recommender's running cost, accrued daily", "lower",
                flows=("technology",)),)
    config: RecommendationConfig

    def setup(self, ctx: PolicyContext) -> MarketChanges:
        return MarketChanges(personalisation=self.config.personalisation)

    def day_end(self, ctx: PolicyContext) -> None:
        if self.config.cost_per_month:  # accrued daily, so a partial month costs its share
            ctx.ledger.post("technology", self.config.cost_per_month * 12.0 / 365.0)
