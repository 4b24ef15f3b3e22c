"""Conservation checks run at the end of every run: units must balance.

DESIGN.md section 2: units satisfy
ordered = queued + produced, produced = in transit + received, and
initial + received + restocked returns = sold + on hand + written off.
A violation is a model bug, never bad input, so it raises instead of being reported. (The
ledger's accounts sum to zero by construction, double entry, so that is not checked here;
tests/test_conservation.py reconciles the money from independent sources.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.model import MarketModel


class ConservationError(AssertionError):
    """Units were created or lost inside the model."""


def violations(model: MarketModel) -> list[str]:
    """Every broken identity, as readable sentences (empty when all balance)."""
    found = []
    u = model.unit_balance()
    if u["ordered"] != u["queued"] + u["produced"]:
        found.append(f"units ordered {u['ordered']} != queued {u['queued']} + produced {u['produced']}")
    if u["produced"] != u["in_transit"] + u["received"]:
        found.append(f"units produced {u['produced']} != in transit {u['in_transit']} + received {u['received']}")
    if u["initial"] + u["received"] + u["restocked"] != u["sold"] + u["on_hand"] + u["written_off"]:
        found.append(f"units initial {u['initial']} + received {u['received']} + restocked returns "
                     f"{u['restocked']} != sold {u['sold']} + on hand {u['on_hand']} + written off {u['written_off']}")
    return found


def check(model: MarketModel) -> None:
    """Raise ConservationError if any identity is broken."""
    found = violations(model)
    if found:
        raise ConservationError("; ".join(found))
