"""Array helpers the model's parts share: where runs start, places within runs and groups, look-ups in a sorted array.

Each is a few whole-array numpy operations. They run several times a day on arrays of a few to a
few thousand elements, where building index arrays in Python (np.r_, np.repeat of run lengths)
cost more than the arithmetic (issue 23).
"""

from __future__ import annotations

import numpy as np


def run_starts(*sorted_keys: np.ndarray) -> np.ndarray:
    """True where a run of equal values starts: at the first element, and wherever any of the keys (of one
    length, sorted together, or at least with equal rows next to each other) differs from the element
    before."""
    if not sorted_keys or any(k.ndim != 1 or k.shape != sorted_keys[0].shape for k in sorted_keys):
        raise ValueError("run_starts needs one or more 1-D keys of one length")
    n = sorted_keys[0].size
    first = np.empty(n, dtype=bool)
    if n == 0:
        return first
    first[0] = True
    np.not_equal(sorted_keys[0][1:], sorted_keys[0][:-1], out=first[1:])
    for key in sorted_keys[1:]:
        first[1:] |= key[1:] != key[:-1]
    return first


def rank_in_runs(sorted_keys: np.ndarray) -> np.ndarray:
    """Each element's 0-based place within its run of equal values (`sorted_keys` sorted, or at least
    with equal values next to each other)."""
    n = sorted_keys.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    first = run_starts(sorted_keys)
    place = np.arange(n)
    return place - np.maximum.accumulate(np.where(first, place, 0))  # less the place its run starts at


def rank_within_groups(group: np.ndarray, priority: np.ndarray | None = None) -> np.ndarray:
    """Each element's 0-based place among the elements of its group, in priority order.

    Ties (and no priority) keep the input order. Used to serve scarce things first come, first
    served: stock to shoppers, fleet capacity to parcels, reward caps to referrals.
    """
    group = np.asarray(group)
    if group.size == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(group, kind="stable") if priority is None else np.lexsort((priority, group))
    rank = np.empty(group.size, dtype=np.int64)
    rank[order] = rank_in_runs(group[order])
    return rank


def locate(pool: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of `values` is in the sorted array `pool`, and whether it is there at all: (place,
    found); the place is meaningless where not found (np.isin with places, without its fixed cost)."""
    if pool.size == 0:
        return np.zeros(values.size, dtype=np.int64), np.zeros(values.size, dtype=bool)
    at = np.minimum(np.searchsorted(pool, values), pool.size - 1)
    return at, pool[at] == values


def in_sorted(pool: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which of `values` are in the sorted array `pool`."""
    return locate(pool, values)[1]
