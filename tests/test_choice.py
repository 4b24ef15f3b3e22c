"""Grouped inverse-CDF draws and stock allocation: the right frequencies, never oversold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sim.choice import cumulative_table, grouped_draw, logit_weights
from sim.orders import allocate_stock


def test_grouped_draw_reproduces_each_rows_probabilities():
    weights = np.array([[1.0, 2.0, 7.0], [0.0, 5.0, 5.0], [3.0, 0.0, 0.0]])
    cum, support = cumulative_table(weights)
    rng = np.random.default_rng(1)
    n = 200_000
    for g, row in enumerate(weights):
        picks = grouped_draw(cum, support, np.full(n, g), rng.random(n))
        freq = np.bincount(picks, minlength=3) / n
        np.testing.assert_allclose(freq, row / row.sum(), atol=0.005)


def test_rows_without_support_give_minus_one_and_never_zero_weight_options():
    weights = np.array([[0.0, 0.0], [0.0, 1.0]])
    cum, support = cumulative_table(weights)
    u = np.linspace(0, 0.9999, 101)
    assert (grouped_draw(cum, support, np.zeros(101, int), u) == -1).all()
    assert (grouped_draw(cum, support, np.ones(101, int), u) == 1).all()


def test_logit_weights_follow_utility_differences_and_respect_availability():
    util = np.array([[0.0, np.log(3.0), 50.0]])
    w = logit_weights(util, np.array([[True, True, False]]))
    assert w[0, 2] == 0.0
    assert w[0, 1] / w[0, 0] == pytest.approx(3.0, rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(stock=arrays(np.int64, st.integers(1, 8), elements=st.integers(0, 5)),
       data=st.data())
def test_allocation_never_oversells_and_serves_whenever_stock_remains(stock, data):
    n = data.draw(st.integers(0, 40))
    cells = np.array(data.draw(st.lists(st.integers(0, stock.size - 1), min_size=n, max_size=n)), dtype=np.int64)
    priority = np.array(data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)), dtype=np.float64)
    on_hand = stock.copy()
    served = allocate_stock(cells, priority, on_hand)
    asked = np.bincount(cells, minlength=stock.size)
    got = np.bincount(cells[served], minlength=stock.size)
    np.testing.assert_array_equal(got, np.minimum(asked, stock))  # serve all that stock allows
    np.testing.assert_array_equal(on_hand, stock - got)
    assert (on_hand >= 0).all()
    for c in range(stock.size):  # the served ones are those with the lowest priority values
        mine = cells == c
        if served[mine].any() and (~served[mine]).any():
            assert priority[mine][served[mine]].max() <= priority[mine][~served[mine]].min()
