"""The referral policy: it brings customers in through the network and pays for them."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import small_scenario
from sim.model import MarketModel
from sim.runner import run_scenario

REF = "policies.referral"


@pytest.fixture(scope="module")
def base():
    return run_scenario(small_scenario())


def with_referral(*sets: str):
    model = MarketModel(small_scenario(f"{REF}={{}}", *sets))
    model.run()
    return model


def test_without_the_policy_nobody_is_referred(base):
    assert base.summary["new_customers_referral"] == 0 and base.summary["referral_cost"] == 0


def test_idle_policy_reproduces_the_baseline(base):
    idle = run_scenario(small_scenario(f"{REF}={{referral_q: 0, reward_referrer: 0, reward_referee: 0}}"))
    assert idle.summary["gmv"] == base.summary["gmv"]
    assert idle.summary["new_customers"] == base.summary["new_customers"]


def test_referral_brings_customers_and_books_every_reward(base):
    model = with_referral()
    s = run_summary(model)
    assert s["new_customers_referral"] > 100
    assert s["new_customers"] > base.summary["new_customers"]
    p = next(p for p in model.policies if p.name == "referral")
    cfg = p.config
    assert s["referral_cost"] == pytest.approx(p.totals["referrer_rewards"] * cfg.reward_referrer
                                               + p.totals["referee_rewards"] * cfg.reward_referee)
    assert s["cac_referral"] == pytest.approx(s["referral_cost"] / s["new_customers_referral"])
    assert s["k_factor"] > 0
    # every referred customer has a referrer who is a network neighbour
    referred = np.flatnonzero(model.shoppers.channel == 4)
    referrer = p.referred_by[referred]
    assert (referrer >= 0).all()
    assert np.asarray(model.network.adjacency[referred, referrer]).ravel().all()


def run_summary(model: MarketModel) -> dict:
    from sim.metrics import summarize
    return summarize(model.recorder.frame(), model.run_end(), model.policies.summary())


def test_cap_per_referrer_is_never_exceeded():
    model = with_referral(f"{REF}.cap_per_referrer=1", f"{REF}.referral_q=0.05")
    p = next(p for p in model.policies if p.name == "referral")
    assert p.rewards_earned.max() == 1
    assert (p.rewards_earned == 1).sum() > 50


def test_any_customer_refers_more_than_only_active_ones():
    active = run_summary(with_referral(f"{REF}.eligibility=active"))
    everyone = run_summary(with_referral(f"{REF}.eligibility=customers"))
    assert everyone["new_customers_referral"] > 1.5 * active["new_customers_referral"]


def test_fraud_costs_rewards_but_brings_no_customers():
    honest = run_summary(with_referral(f"{REF}.fraud_share=0", f"{REF}.reward_type=cash",
                                       f"{REF}.cap_per_referrer=null"))
    fraud = run_summary(with_referral(f"{REF}.fraud_share=0.5", f"{REF}.reward_type=cash",
                                      f"{REF}.cap_per_referrer=null"))
    assert honest["referral_fake_signups"] == 0
    assert fraud["new_customers_referral"] == honest["new_customers_referral"]  # same shoppers join
    assert fraud["referral_fake_signups"] == pytest.approx(fraud["new_customers_referral"], rel=0.2)  # 0.5/(1-0.5)
    assert fraud["referral_cost"] > 1.6 * honest["referral_cost"]
    assert fraud["cac_referral"] > honest["cac_referral"]


def test_coupons_are_paid_only_on_served_first_orders():
    cash = run_summary(with_referral(f"{REF}.reward_type=cash", f"{REF}.fraud_share=0.2"))
    coupon = run_summary(with_referral(f"{REF}.reward_type=coupon", f"{REF}.fraud_share=0.2"))
    assert coupon["referral_cost"] < cash["referral_cost"]  # fakes never redeem a coupon


def test_a_referee_coupon_waits_for_the_first_served_order():
    from sim.orders import OrderBatch

    model = MarketModel(small_scenario(f"{REF}={{reward_type: coupon, reward_referee: 7}}"))
    p = next(p for p in model.policies if p.name == "referral")
    p.coupon_held[[5, 6]] = True

    def batch(served: bool) -> OrderBatch:
        one = np.array([5])
        return OrderBatch(shopper=one, is_first=np.array([False]), category=np.array([0]),
                          merchant=np.array([0 if served else -1]), first_choice=np.array([0]),
                          fell_back=np.array([False]), value=np.array([30.0 if served else 0.0]),
                          outcome=np.array([1.0]))

    p.on_orders(model.context, batch(served=False))  # a lost order: the coupon stays
    assert p.coupon_held[5] and model.ledger.totals.get("referral", 0.0) == 0.0
    p.on_orders(model.context, batch(served=True))   # the first served order uses it, once
    p.on_orders(model.context, batch(served=True))
    assert not p.coupon_held[5] and p.coupon_held[6]
    assert model.ledger.totals["referral"] == 7.0


def test_referrals_answer_to_the_reward_with_diminishing_returns():
    """More reward, more new customers, less per unit of reward; no reward: word of mouth only."""
    plain = run_scenario(small_scenario("simulation.days=240")).summary
    joined, fakes, cannibalised = [], [], []
    for total in (0, 10, 20, 40):
        s = run_scenario(small_scenario("simulation.days=240", f"{REF}={{reward_referrer: {total / 2}, "
                                        f"reward_referee: {total / 2}, cap_per_referrer: null}}")).summary
        joined.append(s["new_customers"])
        fakes.append(s["referral_fake_signups"])
        cannibalised.append(s["referral_cannibalised_joins"])
    assert joined[0] == plain["new_customers"]  # a reward of 0 adds nothing beyond word of mouth
    assert joined == sorted(joined) and joined[-1] > joined[0]
    gains = np.diff(joined) / np.diff([0, 10, 20, 40])
    assert gains[0] > gains[1] > gains[2] > 0  # diminishing returns per unit of reward
    assert fakes == sorted(fakes) and fakes[-1] > fakes[1]  # fraud rises with the reward
    assert cannibalised[0] == 0 and cannibalised[-1] > 0  # some rewarded friends would have come anyway


def test_referred_customers_stay_longer_while_their_referrer_stays():
    model = with_referral()
    p = next(p for p in model.policies if p.name == "referral")
    mult = p.dropout_multiplier(model.context, np.arange(model.shoppers.n))
    referred = p.referred_by >= 0
    assert referred.any()
    alive_referrer = referred & model.shoppers.alive[np.maximum(p.referred_by, 0)]
    assert np.all(mult[alive_referrer] == p.config.referred_dropout_factor)
    assert np.all(mult[~referred] == 1.0)
