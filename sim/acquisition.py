"""Acquisition: prospects join by a Bass (1969) process on the social network.

Each day a prospect joins with probability

    p_paid + p_innovation + q x (share of its neighbours who are customers) + p_policy

where p_paid is bought by marketing spend, the neighbour share comes from the network
(sim/network.py; the complete graph gives the population share: mean-field Bass), and
p_policy is what policies add (the referral programme). The uniform that decides a join
also attributes it to its channel: the slices of [0, 1) are paid, organic, word of mouth
and referral, in that order.
"""

from __future__ import annotations

import numpy as np

from sim.config import AcquisitionConfig

CHANNELS = {"initial": 0, "paid": 1, "organic": 2, "word_of_mouth": 3, "referral": 4}


def paid_join_probability(marketing_spend: float, paid_cac: float, prospects: int) -> float:
    """Daily join probability bought by marketing: spend / CAC new customers, spread on prospects."""
    if prospects <= 0 or marketing_spend <= 0:
        return 0.0
    return min(1.0, marketing_spend / paid_cac / prospects)


def _at(values: np.ndarray | float, idx: np.ndarray) -> np.ndarray | float:
    return values[idx] if np.ndim(values) else values


def joiners(prospect: np.ndarray, u_join: np.ndarray, cfg: AcquisitionConfig, p_paid: float,
            adopted_share: np.ndarray | float, p_policy: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of prospects joining today and their channel codes (CHANNELS)."""
    idx = np.flatnonzero(prospect)
    u = u_join[idx]
    p_org = cfg.innovation_p
    wom_end = p_paid + p_org + cfg.imitation_q * _at(adopted_share, idx)
    join = u < wom_end + _at(p_policy, idx)
    idx, u = idx[join], u[join]
    wom_end = wom_end[join] if np.ndim(wom_end) else wom_end
    channel = np.select([u < p_paid, u < p_paid + p_org, u < wom_end],
                        [CHANNELS["paid"], CHANNELS["organic"], CHANNELS["word_of_mouth"]], CHANNELS["referral"])
    return idx, channel.astype(np.int8)
