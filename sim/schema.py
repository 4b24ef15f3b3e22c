"""Building blocks of the scenario schema: the strict section base and bounded number types.

Kept apart from sim/config.py so that policy modules can declare their own config sections
(sim/policies/*) without importing the whole schema.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# allow_inf_nan=False here too, so that the bounds mean finite numbers even outside a Section
Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class Section(BaseModel):
    """Base of every scenario section: unknown keys are errors, numbers must be finite (no inf,
    nan or overflowing 1e400), values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class PolicySection(Section):
    """Base of every policy's config section (sim/policies/): present means on, unless enabled is false."""

    enabled: bool = Field(True, description="Switch the policy on or off")

    def at_sample(self, fraction: float) -> PolicySection:
        """This section for a run that simulates `fraction` of the platform's shoppers: a policy whose
        settings count platform-wide things (a budget, merchants onboarded) scales them; others keep them."""
        return self
