"""Run specs and their seeds: which scenario, which replication, which seed; one run in a worker.

Replication i of every scenario runs with the same seed (the baseline's seed + i), so all
scenarios of a replication meet the same shoppers, networks and daily draws (common random
numbers) and their differences are the policies', not noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.scenario import Scenario

# daily series a comparison keeps for its charts
SERIES = ("gmv", "customers_total", "active_customers", "carbon_kg", "platform_profit", "new_state",
          "dormant_customers", "churned_customers")


@dataclass(frozen=True)
class RunSpec:
    scenario_index: int
    replication: int
    seed: int


def plan(scenarios: list[Scenario], replications: int) -> list[RunSpec]:
    """Every (scenario, replication) with its common seed: the baseline's seed + replication."""
    base_seed = scenarios[0].seed
    return [RunSpec(s, r, base_seed + r) for r in range(replications) for s in range(len(scenarios))]


def run_one(scenario: Scenario, seed: int) -> tuple[dict[str, Any], dict[str, list[float]], list[dict[str, Any]],
                                                    list[dict[str, Any]]]:
    """One run (in a worker): its summary, the kept daily series, its P&L lines (pnl.csv's rows) and its
    monthly cohorts' buyers (cohorts.csv's rows)."""
    from sim.runner import run_scenario

    result = run_scenario(scenario.model_copy(update={"seed": seed}))
    series = {name: result.daily[name].astype(float).tolist() for name in SERIES}
    return (result.summary, series, result.pnl[["party", "kind", "line", "amount"]].to_dict("records"),
            result.cohorts.to_dict("records"))
