"""One validation case's outcome: what the model gave, what it is checked against, and whether it passed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Result:
    case: str
    model: float
    reference: float
    tolerance: str
    passed: bool
