"""Closed-form BG/NBD and Gamma-Gamma quantities, used to validate the model against theory."""

from __future__ import annotations

import numpy as np
from scipy.special import hyp2f1


def expected_repeat_transactions(t_weeks: float | np.ndarray, r: float, alpha: float, a: float,
                                 b: float) -> float | np.ndarray:
    """E[X(t)]: expected repeat transactions in (0, t] of a customer who joined at 0.

    Fader, Hardie & Lee (2005), "Counting your customers the easy way", eq. 9.
    """
    t = np.asarray(t_weeks, dtype=float)
    z = t / (alpha + t)
    return (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1.0, z))


def expected_spend(p: float, q: float, gamma: float) -> float:
    """Population mean spend per transaction of the Gamma-Gamma model: p gamma / (q - 1)."""
    return p * gamma / (q - 1.0)
