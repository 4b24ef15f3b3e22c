"""Referral ("social fission"): customers bring their contacts in for a reward.

Response to the reward. The rewards (to the referrer for sending, to the friend for joining;
R = reward_referrer + reward_referee) buy effort with diminishing returns:
f(R) = R / (R + reward_half_response), 0 without a reward (an assumption to sweep; the direction
and the saturation follow the referral-reward experiments reviewed by Van den Bulte et al. 2018).

Mechanism. Each day every eligible referrer (an active customer, or any customer, who has
not reached the cap) invites its network neighbours: a prospect joins through the referral
channel with probability referral_q x f(R) x (share of its neighbours who can refer), on top of
the Bass channels (sim/acquisition.py): these joins are additional. Some friends would have
joined anyway: a word-of-mouth joiner is claimed by a referral link with probability
f(R) x (share of its customer neighbours who can refer); the claim is rewarded like any referral
but brings no one new (`referral_cannibalised_joins`). The referrer is one of the joiner's
eligible neighbours, chosen at random.

Referred customers. Schmitt, Skiera & Van den Bulte (2011) found referred bank customers at
least 16% more valuable, mostly through higher, lasting retention; Van den Bulte et al. (2018)
found the lower churn only while the referrer stays. A referred customer's dropout probability
is multiplied by referred_dropout_factor (1/1.16) while its referrer is (latently) alive.

Money. The referrer earns `reward_referrer` per referred customer; the referee earns
`reward_referee` in cash at sign-up or as a coupon on its first served order. Fake sign-ups
(Poisson, mean rewarded referrals x fraud_share / (1 - fraud_share) x R / fraud_reference_reward:
fraud rises with the reward) pay the referrer (and count towards the cap) and a cash referee
reward; a coupon is never used; fakes never buy and are not customers. A referrer at its cap
stops inviting; referrals of one day beyond the cap still bring the customer in but earn the
referrer nothing. Every reward is the ledger flow `referral` (platform -> shoppers).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from sim.acquisition import CHANNELS
from sim.arrays import rank_within_groups
from sim.kpis import Kpi
from sim.network import KeptSet, NeighbourCounts
from sim.orders import OrderBatch
from sim.policies.base import Policy, PolicyContext
from sim.schema import NonNegative, PolicySection, Positive, Probability


class ReferralConfig(PolicySection):
    """The referral ("social fission") policy: rewards for referrer and referee, spread on the network."""

    reward_referrer: NonNegative = Field(10.0,
                                         description="Reward to the referrer per referred new customer [currency]")
    reward_referee: NonNegative = Field(10.0, description="Reward to the new customer [currency]")
    reward_type: Literal["cash", "coupon"] = Field(
        "coupon", description="cash: the referee is paid at sign-up; coupon: only when its first order is served"
    )
    referral_q: NonNegative = Field(
        0.004, description="Daily join probability of a prospect per unit share of neighbours who can refer, at a "
        "reward large enough that the response saturates"
    )
    reward_half_response: Positive = Field(
        10.0, description="Total reward (referrer + referee) that buys half the saturated referral effort [currency]"
    )
    eligibility: Literal["active", "customers"] = Field(
        "active", description="Who can refer: active customers (bought within the dormancy window) or any customer"
    )
    cap_per_referrer: int | None = Field(
        5, ge=0, description="Most rewards one referrer can earn in the run (none: no cap)"
    )
    fraud_share: float = Field(
        0.05, ge=0.0, lt=1.0,
        description="Share of rewarded referrals that are fake sign-ups that never buy, at fraud_reference_reward"
    )
    fraud_reference_reward: Positive = Field(
        20.0, description="Total reward at which fraud_share holds; fakes per genuine referral scale with the reward "
        "[currency]"
    )
    referred_dropout_factor: Probability = Field(
        0.862, description="Multiplies a referred customer's dropout probability while its referrer is alive"
    )


class Referral(Policy):
    name = "referral"
    title = "Referral programme"
    headline = ("referral_cost", "new_customers_referral", "cac_referral", "cac_paid", "k_factor",
                "referral_cannibalised_joins", "referral_fake_signups")
    Config = ReferralConfig
    flows = {"referral": ("platform", "shoppers")}  # rewards to referrers and referees
    kpis = (
        Kpi("referral_fake_signups", "sign-ups", "fake sign-ups rewarded", "lower", label="fake referral sign-ups"),
        Kpi("referral_rewards_to_referrers", "rewards", "referrer rewards paid (real and fake referrals)"),
        Kpi("referral_rewards_to_referees", "rewards", "referee rewards paid"),
        Kpi("distinct_referrers", "customers", "shoppers who earned at least one referrer reward", "higher"),
        Kpi("referral_cannibalised_joins", "customers", "rewarded referrals of friends who joined by word of mouth "
            "anyway", "lower", label="referred joins that came anyway"),
        Kpi("referral_cannibalisation_share", "share", "cannibalised / all rewarded referred joins", "lower"),
    )
    config: ReferralConfig

    def __init__(self, config: ReferralConfig, rng: np.random.Generator) -> None:
        super().__init__(config, rng)
        self.totals = {"fake_signups": 0, "referrer_rewards": 0, "referee_rewards": 0, "cannibalised": 0,
                       "referred": 0}
        reward = config.reward_referrer + config.reward_referee
        self.response = reward / (reward + config.reward_half_response)  # f(R), 0 without a reward
        # fake sign-ups draw from their own stream, so that fraud changes no genuine shopper's draws (CRN)
        self.fraud_rng = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0])

    def setup(self, ctx: PolicyContext) -> None:
        n = ctx.shoppers.n
        self.rewards_earned = np.zeros(n, dtype=np.int64)  # per shopper, as referrer
        self.referred_by = np.full(n, -1, dtype=np.int64)
        self.coupon_held = np.zeros(n, dtype=bool)  # a referee's coupon, until its first served order
        self._referring = NeighbourCounts(ctx.network, track_changes=True)  # eligible referrers among neighbours
        self._join_p = np.zeros(n)  # the programme's join probability per shopper, kept as the counts change
        # who can refer changes only with a shopper's joins, orders and rewards, and as its last order leaves the
        # dormancy window (active eligibility): kept from those changes (touched in on_joins and on_orders)
        window = ctx.market.shoppers.lifecycle.dormant_after_days if self.config.eligibility == "active" else None
        self._referrers = KeptSet(self._referring, lambda day, who: self._eligible(ctx, who), window,
                                  lambda who: ctx.shoppers.last_day[who])

    def _eligible(self, ctx: PolicyContext, who: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Which of shoppers `who` can refer today."""
        ok = ctx.active(who) if self.config.eligibility == "active" else ctx.shoppers.is_customer[who].copy()
        if self.config.cap_per_referrer is not None:
            ok &= self.rewards_earned[who] < self.config.cap_per_referrer
        return ok

    def join_probability(self, ctx: PolicyContext) -> np.ndarray | float:
        self._referrers.advance(ctx.day)
        self._can_refer = self._referrers.members
        if ctx.network.complete:  # the same for everyone
            return self.config.referral_q * self.response * self._referring.share(None)
        changed = self._referring.take_changes()  # a shopper's chance changes only with its count
        self._join_p[changed] = self.config.referral_q * self.response * self._referring.share(changed)
        return self._join_p  # read only

    def on_joins(self, ctx: PolicyContext, joiners: np.ndarray, channel: np.ndarray) -> np.ndarray:
        """Pay for today's referred joins; word-of-mouth joins claimed by a referral link become referrals."""
        cfg = self.config
        self._referrers.touch(ctx.day, joiners)  # customers now
        channel = self._claim_word_of_mouth(ctx, joiners, channel)
        referred = joiners[channel == CHANNELS["referral"]]
        if referred.size == 0:
            return channel
        self.totals["referred"] += int(referred.size)
        referrer = ctx.network.neighbours(referred, self._can_refer, self.rng.random(referred.size))
        self.referred_by[referred] = referrer
        self.coupon_held[referred] = cfg.reward_type == "coupon"
        # fake sign-ups ride on the same referrers; more of them as the reward rises
        reward = cfg.reward_referrer + cfg.reward_referee
        ratio = cfg.fraud_share / (1.0 - cfg.fraud_share) * reward / cfg.fraud_reference_reward
        fakes = int(self.fraud_rng.poisson(referred.size * ratio))
        fake_referrer = referrer[self.fraud_rng.integers(0, referred.size, fakes)] if fakes else referrer[:0]
        paid_to = self._within_cap(np.concatenate([referrer[referrer >= 0], fake_referrer[fake_referrer >= 0]]))
        np.add.at(self.rewards_earned, paid_to, 1)
        self._referrers.touch(ctx.day, paid_to)  # nearer their cap
        cost = paid_to.size * cfg.reward_referrer
        if cfg.reward_type == "cash":
            cost += (referred.size + fakes) * cfg.reward_referee
            self.totals["referee_rewards"] += referred.size + fakes
        ctx.ledger.post("referral", cost)
        self.totals["fake_signups"] += int(fakes)
        self.totals["referrer_rewards"] += int(paid_to.size)
        return channel

    def _claim_word_of_mouth(self, ctx: PolicyContext, joiners: np.ndarray, channel: np.ndarray) -> np.ndarray:
        """Friends who joined by word of mouth anyway but through a referral link: rewarded, not additional."""
        wom = np.flatnonzero(channel == CHANNELS["word_of_mouth"])
        if wom.size == 0 or self.response == 0:
            return channel
        shopper = joiners[wom]
        referring = self._referring.share(shopper)
        customers = ctx.word_of_mouth.share(shopper)
        with np.errstate(divide="ignore", invalid="ignore"):
            p_claim = self.response * np.where(customers > 0, referring / customers, 0.0)
        claimed = wom[self.rng.random(wom.size) < np.minimum(p_claim, 1.0)]
        if claimed.size == 0:
            return channel
        channel = channel.copy()
        channel[claimed] = CHANNELS["referral"]
        self.totals["cannibalised"] += int(claimed.size)
        return channel

    def dropout_multiplier(self, ctx: PolicyContext, who: np.ndarray) -> np.ndarray | float:
        """Referred customers stay longer while their referrer stays (social enrichment)."""
        referrer = self.referred_by[who]
        kept = (referrer >= 0) & ctx.shoppers.alive[np.maximum(referrer, 0)]
        return np.where(kept, self.config.referred_dropout_factor, 1.0)

    def _within_cap(self, referrers: np.ndarray) -> np.ndarray:
        """The referrals that still earn a reward: at most the referrer's remaining cap today."""
        cap = self.config.cap_per_referrer
        if cap is None or referrers.size == 0:
            return referrers
        return referrers[rank_within_groups(referrers) < cap - self.rewards_earned[referrers]]

    def on_orders(self, ctx: PolicyContext, orders: OrderBatch) -> None:
        served = orders.shopper[orders.fulfilled]
        self._referrers.touch(ctx.day, served)  # their last order is today's
        if self.config.reward_type != "coupon":
            return
        redeem = served[self.coupon_held[served]]  # the referee's first served order, whenever it comes
        if redeem.size:
            self.coupon_held[redeem] = False
            ctx.ledger.post("referral", redeem.size * self.config.reward_referee)
            self.totals["referee_rewards"] += int(redeem.size)

    def summary(self) -> dict[str, float]:
        t = self.totals
        return {
            "referral_fake_signups": t["fake_signups"],
            "referral_rewards_to_referrers": t["referrer_rewards"],
            "referral_rewards_to_referees": t["referee_rewards"],
            "distinct_referrers": int((self.rewards_earned > 0).sum()),
            "referral_cannibalised_joins": t["cannibalised"],
            "referral_cannibalisation_share": t["cannibalised"] / t["referred"] if t["referred"] else 0.0,
        }
