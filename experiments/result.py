"""One validation case's outcome: what the model gave, what it is checked against, and whether it passed."""

from __future__ import annotations

from dataclasses import dataclass

# What a case is (issue 21): a reader must tell a check the model was tuned to from one it was not.
THEORY = "theory"                  # a closed form the code does not compute itself
CALIBRATION = "calibration target"  # the model's inputs or tuning were chosen to land here
IN_SAMPLE = "in-sample fit"         # data the fitted parameters were estimated on
VALIDATION = "validation"           # a published figure or held-out data the model was not tuned to


@dataclass
class Result:
    case: str
    model: float
    reference: float
    tolerance: str
    passed: bool
    kind: str = VALIDATION
