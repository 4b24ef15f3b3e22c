"""Acquisition: prospects join by a Bass (1969) process.

Each day a prospect joins with probability p_paid + p_innov + q x (share of customers among
the shoppers it hears from). In this engine that share is the population mean (mean-field
Bass); the network issue replaces it with each prospect's own neighbours. The uniform that
decides a join also attributes it to a channel: paid, organic (innovation) or word of mouth.
"""

from __future__ import annotations

import numpy as np

from sim.config import Acquisition

CHANNELS = {"initial": 0, "paid": 1, "organic": 2, "word_of_mouth": 3}


def paid_join_probability(marketing_spend: float, paid_cac: float, prospects: int) -> float:
    """Daily join probability bought by marketing: spend / CAC new customers, spread on prospects."""
    if prospects <= 0 or marketing_spend <= 0:
        return 0.0
    return min(1.0, marketing_spend / paid_cac / prospects)


def joiners(prospect: np.ndarray, u_join: np.ndarray, cfg: Acquisition, p_paid: float,
            adopted_share: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of prospects joining today and their channel codes (CHANNELS)."""
    idx = np.flatnonzero(prospect)
    u = u_join[idx]
    wom = cfg.imitation_q * (adopted_share[idx] if np.ndim(adopted_share) else adopted_share)
    p_org = cfg.innovation_p
    join = u < p_paid + p_org + wom
    idx, u = idx[join], u[join]
    channel = np.where(u < p_paid, CHANNELS["paid"],
                       np.where(u < p_paid + p_org, CHANNELS["organic"], CHANNELS["word_of_mouth"]))
    return idx, channel.astype(np.int8)
