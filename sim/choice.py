"""Where a shopper's category and merchant are decided: grouped inverse-CDF draws.

Choice probabilities are tabulated per group (segment for categories; segment x category for
merchants, multinomial logit) and every order is drawn with one `searchsorted` over the
tables laid end to end, so the cost is O(orders x log(table)) with no Python loop.
"""

from __future__ import annotations

import numpy as np


def cumulative_table(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-normalised cumulative probabilities of a (groups, options) weight table.

    Returns (cum, has_support): rows whose weights are all zero have no support.
    """
    weights = np.asarray(weights, dtype=np.float64)
    totals = weights.sum(axis=1)
    has_support = totals > 0
    cum = np.cumsum(weights, axis=1) / np.where(has_support, totals, 1.0)[:, None]
    cum[:, -1] = 1.0  # exact end of each row: no draw spills into the next group
    cum[~has_support] = 1.0
    return cum, has_support


def grouped_draw(cum: np.ndarray, has_support: np.ndarray, group: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Option index per draw from row `group` of `cum` with uniform `u`; -1 where no support."""
    n_groups, n_options = cum.shape
    flat = (cum + np.arange(n_groups)[:, None]).ravel()
    group = np.asarray(group, dtype=np.int64)
    pos = np.searchsorted(flat, group + np.asarray(u, dtype=np.float64), side="right")
    option = np.minimum(pos - group * n_options, n_options - 1)
    return np.where(has_support[group], option, -1)


def logit_weights(utility: np.ndarray, available: np.ndarray) -> np.ndarray:
    """exp(utility) where available, 0 elsewhere; stabilised per row (last axis)."""
    masked = np.where(available, utility, -np.inf)
    top = masked.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return np.where(available, np.exp(masked - top), 0.0)


def rank_within_groups(group: np.ndarray, priority: np.ndarray | None = None) -> np.ndarray:
    """Each element's 0-based place among the elements of its group, in priority order.

    Ties (and no priority) keep the input order. Used to serve scarce things first come, first
    served: stock to shoppers, fleet capacity to parcels, reward caps to referrals.
    """
    group = np.asarray(group)
    if group.size == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(group, kind="stable") if priority is None else np.lexsort((priority, group))
    ranked = group[order]
    starts = np.r_[0, np.flatnonzero(ranked[1:] != ranked[:-1]) + 1]
    rank = np.empty(group.size, dtype=np.int64)
    rank[order] = np.arange(group.size) - np.repeat(starts, np.diff(np.r_[starts, group.size]))
    return rank
