"""sim.arrays: places within runs and groups, look-ups in a sorted array, against plain definitions."""

import numpy as np
import pytest

from sim.arrays import in_sorted, locate, rank_in_runs, rank_within_groups, run_starts


def test_rank_within_groups_orders_each_group_by_priority_then_input():
    group = np.array([2, 0, 2, 2, 0])
    assert rank_within_groups(group).tolist() == [0, 0, 1, 2, 1]  # no priority: input order
    assert rank_within_groups(group, np.array([0.9, 0.5, 0.1, 0.5, 0.2])).tolist() == [2, 1, 0, 1, 0]
    assert rank_within_groups(np.array([], dtype=int)).size == 0


@pytest.mark.parametrize("size", [0, 1, 2, 7, 500])
def test_places_match_counting_the_equal_values_before(size):
    rng = np.random.default_rng(size)
    keys = np.sort(rng.integers(0, max(size // 3, 1), size))
    expected = [int((keys[:i] == keys[i]).sum()) for i in range(size)]  # equal values before it
    assert rank_in_runs(keys).tolist() == expected
    assert rank_in_runs(keys).dtype == np.int64
    group, priority = rng.integers(0, 5, size), rng.random(size)
    ranks = rank_within_groups(group, priority)
    assert ranks.tolist() == [int(((group == group[i]) & (priority < priority[i])).sum()) for i in range(size)]


@pytest.mark.parametrize("pool_size", [0, 1, 5, 300])
def test_look_ups_match_isin_and_find_the_place(pool_size):
    rng = np.random.default_rng(pool_size)
    pool = np.unique(rng.integers(0, 400, pool_size))
    values = rng.integers(-5, 405, 1000)
    at, found = locate(pool, values)
    assert found.tolist() == np.isin(values, pool).tolist()
    assert (pool[at[found]] == values[found]).all() if pool.size else not found.any()
    assert in_sorted(pool, values).tolist() == found.tolist()
    assert in_sorted(pool, values[:0]).size == 0


def test_runs_need_only_be_grouped_and_ties_keep_the_input_order():
    grouped = np.array([5, 5, 1, 1, 1, 9, 5])  # equal values together, not sorted; the last 5 starts a new run
    assert rank_in_runs(grouped).tolist() == [0, 1, 0, 1, 2, 0, 0]
    group, priority = np.array([3, 3, 3, 1, 3]), np.array([0.5, 0.2, 0.5, 0.1, 0.2])
    assert rank_within_groups(group, priority).tolist() == [2, 0, 3, 0, 1]  # equal priorities: input order


def test_look_ups_find_values_in_a_pool_with_repeats():
    pool = np.array([1, 3, 3, 3, 7])
    at, found = locate(pool, np.array([3, 2, 7, 8, 0]))
    assert found.tolist() == [True, False, True, False, False]
    assert pool[at[found]].tolist() == [3, 7]


@pytest.mark.parametrize("size", [0, 1, 2, 9, 400])
def test_run_starts_mark_the_first_of_each_run_of_equal_rows(size):
    rng = np.random.default_rng(size)
    a, b = rng.integers(0, 3, size), rng.integers(0, 2, size)
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    rows = list(zip(a.tolist(), b.tolist(), strict=True))
    assert run_starts(a, b).tolist() == [i == 0 or rows[i] != rows[i - 1] for i in range(size)]
    assert run_starts(a).tolist() == [i == 0 or a[i] != a[i - 1] for i in range(size)]
    assert run_starts(a).dtype == bool


def test_run_starts_take_keys_of_any_dtype_and_refuse_keys_of_other_lengths():
    a, b = np.array([1, 1, 2, 2], dtype=np.int8), np.array(["x", "y", "y", "y"])
    assert run_starts(a, b, np.array([0.5, 0.5, 0.5, 1.5])).tolist() == [True, True, True, True]
    assert run_starts(a, b).tolist() == [True, True, True, False]
    assert run_starts(np.zeros(0), np.zeros(0)).size == 0
    for bad in [(), (a, b[:2]), (a.reshape(2, 2),)]:
        with pytest.raises(ValueError):
            run_starts(*bad)
