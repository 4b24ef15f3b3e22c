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
    every balance; the subsidy's debtors against every balance, and who may be given a coupon against their
    coupons' expiry and last issue. Short expiry and small budgets make
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
        reissue = np.array([c.reissue_after_days for c in self.config.campaigns])[:, None]
        np.testing.assert_array_equal(self.eligible_from <= ctx.day,  # may be given a coupon today
                                      (self.expiry < ctx.day) & (ctx.day - self.last_issue >= reissue))
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
                       "policies.subsidy.campaigns.1.monthly_budget=60",
                       "policies.subsidy.campaigns.1.reissue_after_days=7")).run()  # reissued before its expiry
    assert checked["loyalty"] == checked["subsidy"] == DAYS
    assert checked["expired"] > 0 and checked["exhausted"] > 0  # the changes the caches must see happened


def test_every_change_of_a_kept_input_is_marked(monkeypatch):
    """Stricter than comparing values (a change of the offer recomputes everyone and can hide a missed mark):
    a shopper whose kept multiplier was computed and not marked since must have the same inputs now as
    then - loyalty's points, tier and membership, and whether each of the subsidy's coupons is valid."""
    from sim.policies import base

    unmarked = []
    setup_loyalty, setup_subsidy = Loyalty.setup, Subsidy.setup
    of, mark = base.PerShopper.of, base.PerShopper.mark

    def watch(kept, inputs):
        kept.inputs, kept.seen = inputs, np.zeros(kept.fresh.size, dtype=bool)  # computed, not marked since
        kept.snapshot = np.zeros_like(inputs())
        compute = kept.compute

        def computed(who):
            kept.seen[who], kept.snapshot[who] = True, kept.inputs()[who]
            return compute(who)
        kept.compute = computed

    def loyalty_setup(self, ctx):
        setup_loyalty(self, ctx)
        watch(self.multiplier, lambda: np.c_[self.points, self.tier, self.member])

    def subsidy_setup(self, ctx):
        setup_subsidy(self, ctx)
        watch(self.coupon, lambda: (self.expiry >= ctx.day).T)

    def checked_of(self, who, key):
        changed = self.seen & (self.snapshot != self.inputs()).any(axis=1)
        unmarked.append(int(changed.sum()))
        return of(self, who, key)

    def watched_mark(self, who):
        self.seen[who] = False
        mark(self, who)

    monkeypatch.setattr(Loyalty, "setup", loyalty_setup)
    monkeypatch.setattr(Subsidy, "setup", subsidy_setup)
    monkeypatch.setattr(base.PerShopper, "of", checked_of)
    monkeypatch.setattr(base.PerShopper, "mark", watched_mark)
    MarketModel(_bench("policies.loyalty.points_expiry_days=30", "policies.subsidy.campaigns.0.monthly_budget=40",
                       "policies.loyalty.membership.consideration=1")).run()
    assert len(unmarked) == 2 * DAYS and sum(unmarked) == 0


def test_a_warm_up_with_the_policies_in_place_restarts_their_counters(monkeypatch):
    """At the end of a warm-up every policy's summary counters start afresh (Policy.start_measuring), also
    for policies that do not override it."""
    start = MarketModel._start_measuring
    checked = []

    def checked_start(self):
        start(self)
        for policy in self.policies:
            totals = getattr(policy, "totals", {})
            assert all(v == 0 for v in totals.values()), (policy.name, totals)
            checked.append(policy.name)

    monkeypatch.setattr(MarketModel, "_start_measuring", checked_start)
    MarketModel(_bench("simulation.warmup_days=30", "simulation.policies_start=in_place")).run()
    assert {"loyalty", "subsidy", "referral"} <= set(checked)


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
        degree = ctx.network.degree
        for counts in (self._referring, ctx.word_of_mouth):  # what the counts keep beside them
            count = ctx.network.adjacency @ counts.members.astype(np.float32)
            np.testing.assert_array_equal(counts.has_member, count > 0)
            np.testing.assert_array_equal(counts.shares, np.divide(counts.count, degree, out=np.zeros(degree.size),
                                                                   where=degree > 0))
        fresh = np.zeros(degree.size)  # the programme's join chance, computed for every reached shopper
        reached = np.flatnonzero(expected > 0)
        fresh[reached] = self.config.referral_q * self.response * (expected[reached] / degree[reached])
        np.testing.assert_array_equal(p, fresh)
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
