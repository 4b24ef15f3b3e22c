"""State the policies keep from the day's changes instead of recomputing it for every shopper every day
(issue 23): each kept value must equal a fresh computation on every day of a run, exactly. A missed
change (a coupon that expires unseen, a tier that decays unseen, a referrer who leaves the window
unseen) makes one of these fail."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import ROOT, SMALL
from sim.config import NetworkConfig
from sim.model import MarketModel
from sim.network import KeptSet, NeighbourCounts, build_network
from sim.policies.loyalty import Loyalty
from sim.policies.referral import Referral
from sim.policies.subsidy import Subsidy
from sim.scenario_io import load_scenario

DAYS = 150


def _bench(*extra: str):
    """The bench scenario (every policy on) at the small size, with `extra` overrides."""
    return load_scenario(ROOT / "scenarios" / "bench.yaml", [*SMALL, f"simulation.days={DAYS}", *extra])


def test_kept_purchase_multipliers_tiers_expiries_and_debts_equal_a_fresh_computation(monkeypatch):
    """Loyalty's and the subsidy's multipliers (PerShopper) against computing them afresh for today's
    candidates; loyalty's tiers against the trailing spend; the points that expire against a pass over
    every balance; the subsidy's debtors against every balance. Short expiry and small budgets make
    each kind of change happen within the run."""
    checked = {"loyalty": 0, "subsidy": 0, "expired": 0, "exhausted": 0}
    loyalty_mult, subsidy_mult = Loyalty.purchase_multiplier, Subsidy.purchase_multiplier
    loyalty_end = Loyalty.day_end

    def loyalty_checked(self, ctx, who):
        kept = loyalty_mult(self, ctx, who)
        np.testing.assert_array_equal(kept, self._purchase_multiplier(ctx, who))
        np.testing.assert_array_equal(self.tier, np.searchsorted(self.tier_min, self.spend_90d, side="right") - 1)
        checked["loyalty"] += 1
        return kept

    def subsidy_checked(self, ctx, who):
        kept = subsidy_mult(self, ctx, who)
        np.testing.assert_array_equal(self.coupon_multiplier, self._coupon_multiplier(ctx, who))
        np.testing.assert_array_equal(self.owing, np.flatnonzero(self.borrowed > 0))
        checked["exhausted"] += int(self.exhausted.any())
        checked["subsidy"] += 1
        return kept

    def expiry_checked(self, ctx):
        due = (self.points > 0) & (ctx.day - self.last_order >= self.config.points_expiry_days)
        before = self.points.copy()
        loyalty_end(self, ctx)
        assert (self.points[due] == 0).all()
        np.testing.assert_array_equal(self.points[~due], before[~due])
        checked["expired"] += int(due.sum())

    monkeypatch.setattr(Loyalty, "purchase_multiplier", loyalty_checked)
    monkeypatch.setattr(Subsidy, "purchase_multiplier", subsidy_checked)
    monkeypatch.setattr(Loyalty, "day_end", expiry_checked)
    MarketModel(_bench("policies.loyalty.points_expiry_days=30", "policies.subsidy.campaigns.0.monthly_budget=40",
                       "policies.subsidy.campaigns.1.monthly_budget=60")).run()
    assert checked["loyalty"] == checked["subsidy"] == DAYS
    assert checked["expired"] > 0 and checked["exhausted"] > 0  # the changes the caches must see happened


@pytest.mark.parametrize("eligibility, cap", [("active", "5"), ("customers", "1"), ("active", "null")])
def test_kept_referrers_are_the_eligible_referrers(eligibility, cap, monkeypatch):
    """The referral programme's eligible referrers (a KeptSet touched by joins, orders and rewards) and their
    counts among each shopper's neighbours, against a pass over every shopper and every tie."""
    days = []
    join_probability = Referral.join_probability

    def checked(self, ctx):
        p = join_probability(self, ctx)
        np.testing.assert_array_equal(self._can_refer, self._eligible(ctx))
        expected = ctx.network.adjacency @ self._can_refer.astype(np.float32)
        np.testing.assert_array_equal(self._referring.count, expected)
        days.append(ctx.day)
        return p

    monkeypatch.setattr(Referral, "join_probability", checked)
    MarketModel(_bench(f"policies.referral.eligibility={eligibility}",
                       f"policies.referral.cap_per_referrer={cap}", "network.kind=erdos_renyi",
                       "shoppers.lifecycle.new_days=10", "shoppers.lifecycle.dormant_after_days=20")).run()
    assert len(days) == DAYS


def test_kept_set_follows_a_windowed_rule_from_touches_alone():
    """A KeptSet whose members are the shoppers touched within the last `window` days, against the rule
    applied to everyone each day."""
    rng = np.random.default_rng(3)
    n, window = 2000, 7
    network = build_network(NetworkConfig(kind="watts_strogatz", mean_degree=6), n, np.zeros(n, dtype=np.int64),
                            np.random.default_rng(1))
    last = np.full(n, -100)

    def rule(day, who):
        return day - last[who] < window

    kept = KeptSet(NeighbourCounts(network), rule, window, lambda who: last[who])
    for day in range(60):
        kept.advance(day)
        np.testing.assert_array_equal(kept.members, rule(day, slice(None)))
        touched = rng.choice(n, 40, replace=False)
        last[touched] = day
        kept.touch(day, touched)


def test_a_referrer_is_drawn_among_the_rows_neighbours_in_the_set():
    """SocialNetwork.neighbours: for each row, the neighbour in the set at position floor(u x count) of its
    neighbours in the set (in the adjacency's order), -1 when it has none: against a loop over the rows."""
    rng = np.random.default_rng(4)
    n = 500
    for kind in ("erdos_renyi", "barabasi_albert"):
        network = build_network(NetworkConfig(kind=kind, mean_degree=4), n, np.zeros(n, dtype=np.int64),
                                np.random.default_rng(2))
        members = rng.random(n) < 0.3
        rows, u = rng.choice(n, 100, replace=False), rng.random(100)
        got = network.neighbours(rows, members, u)
        a = network.adjacency
        for row, ui, g in zip(rows, u, got, strict=True):
            inside = [j for j in a.indices[a.indptr[row]:a.indptr[row + 1]] if members[j]]
            assert g == (inside[min(int(ui * len(inside)), len(inside) - 1)] if inside else -1)
