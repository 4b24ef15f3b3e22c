"""Acquisition: prospects join by a Bass (1969) process on the social network.

Each day a prospect joins with probability

    p_paid + p_innovation + q x (share of its neighbours who recommend) + p_policy

where p_paid is bought by marketing spend with diminishing returns (`paid_joins`), the
recommenders are the customers still latently alive who bought recently (`recommenders`: a
customer base that has dropped out recommends nothing), their share among the prospect's
neighbours comes from the network (sim/network.py; the complete graph gives the population
share: mean-field Bass), and
p_policy is what policies add (the referral programme). The uniform that decides a join
also attributes it to its channel: the slices of [0, 1) are paid, organic, word of mouth
and referral, in that order.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from sim.config import AcquisitionConfig, MarketConfig

CHANNELS = {"initial": 0, "paid": 1, "organic": 2, "word_of_mouth": 3, "referral": 4}


def paid_joins(marketing_spend: float, cfg: AcquisitionConfig) -> float:
    """Paid new customers a day bought by `marketing_spend`, with diminishing returns: at the reference
    spend (where `paid_cac` was measured) spend / paid_cac of them; away from it they scale as
    (spend / reference)^elasticity, so each extra unit of spend buys fewer and the CAC rises with spend
    (elasticity 1: linear, a constant CAC)."""
    if marketing_spend <= 0:
        return 0.0
    ref = cfg.paid_reference_spend_per_day
    if ref <= 0:
        return marketing_spend / cfg.paid_cac
    return ref / cfg.paid_cac * (marketing_spend / ref) ** cfg.paid_spend_elasticity


def paid_join_probability(marketing_spend: float, cfg: AcquisitionConfig, prospects: int) -> float:
    """Daily join probability bought by marketing: the day's paid joins (paid_joins) spread on prospects."""
    if prospects <= 0 or marketing_spend <= 0:
        return 0.0
    return min(1.0, paid_joins(marketing_spend, cfg) / prospects)


def recommenders(shoppers, day: int, cfg: AcquisitionConfig) -> np.ndarray:
    """Who spreads word of mouth today: customers still latently alive who bought within
    `recommend_window_days` (all latently alive ones when it is null). A customer who dropped out, or
    has not bought for longer, recommends nothing."""
    active = shoppers.alive & shoppers.is_customer
    if cfg.recommend_window_days is None:
        return active
    return active & (day - shoppers.last_day <= cfg.recommend_window_days)


def _at(values: np.ndarray | float, idx: np.ndarray) -> np.ndarray | float:
    return values[idx] if np.ndim(values) else values


def joiners(prospect: np.ndarray, u_join: np.ndarray, cfg: AcquisitionConfig, p_paid: float,
            adopted_share: np.ndarray | float, p_policy: np.ndarray | float = 0.0,
            offer: np.ndarray | float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of prospects joining today and their channel codes (CHANNELS).

    Every channel's probability is multiplied by `offer`, the prospect's purchase-rate multiplier of
    the platform's offer (sim/choice.py, exactly 1 in the calibrated market): a first purchase is a
    purchase occasion too, and a worse offer (or a better rival) wins fewer of them."""
    idx = np.flatnonzero(prospect)
    u = u_join[idx]
    scale = _at(offer, idx)
    paid_end = p_paid * scale
    org_end = paid_end + cfg.innovation_p * scale
    wom_end = org_end + cfg.imitation_q * _at(adopted_share, idx) * scale
    join = u < wom_end + _at(p_policy, idx) * scale
    idx, u = idx[join], u[join]
    paid_end, org_end, wom_end = (x[join] if np.ndim(x) else x for x in (paid_end, org_end, wom_end))
    channel = np.select([u < paid_end, u < org_end, u < wom_end],
                        [CHANNELS["paid"], CHANNELS["organic"], CHANNELS["word_of_mouth"]], CHANNELS["referral"])
    return idx, channel.astype(np.int8)


def read_schedule(path: str, first_day: dt.date, days: int, free: int, source: str) -> np.ndarray:
    """First purchases per simulated day from a CSV (date, customers), for `acquisition.schedule_file`.

    first_day is the first simulated day (the warm-up's, if any); a date outside the simulated days,
    a count that is not a non-negative integer, or more joiners than prospects is bad input.
    """
    import pandas as pd

    from sim.errors import ScenarioError

    field = "acquisition.schedule_file"
    if not Path(path).is_file():
        raise ScenarioError(source, field, f"{path}: file not found")
    try:
        frame = pd.read_csv(path, dtype=str, comment="#")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ScenarioError(source, field, f"{path}: cannot read the schedule ({exc})") from None
    if not {"date", "customers"} <= set(frame.columns) or frame.empty:
        raise ScenarioError(source, field, f"{path}: needs rows under the header 'date,customers' "
                            f"(got columns {list(frame.columns)})")
    dates = pd.to_datetime(frame["date"].str.strip(), format="%Y-%m-%d", errors="coerce")
    counts = pd.to_numeric(frame["customers"].str.strip(), errors="coerce")
    bad = dates.isna() | counts.isna() | (counts < 0) | (counts % 1 != 0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ScenarioError(source, field, f"{path}: line {row + 2}: needs a date YYYY-MM-DD and a whole number of "
                            f"customers >= 0 (got {frame['date'].iloc[row]!r}, {frame['customers'].iloc[row]!r})")
    day = (dates - pd.Timestamp(first_day)).dt.days.to_numpy()
    outside = (day < 0) | (day >= days)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        last = first_day + dt.timedelta(days=days - 1)
        raise ScenarioError(source, field, f"{path}: line {row + 2}: {frame['date'].iloc[row].strip()} is outside "
                            f"the simulated days {first_day} to {last}")
    joins = np.bincount(day, weights=counts.to_numpy(), minlength=days).astype(np.int64)
    if joins.sum() > free:
        raise ScenarioError(source, field, f"{path}: schedules {int(joins.sum()):,} first purchases but only {free:,} "
                            "shoppers are prospects (shoppers.count less the initial customers): raise shoppers.count")
    return joins


def scenario_schedule(cfg: MarketConfig, source: str) -> np.ndarray | None:
    """The scenario's first purchases per simulated day (None without `acquisition.schedule_file`): read
    and checked against the simulated days (warm-up included) and the prospects at the start (the
    shoppers less the initial customers, rounded as ShopperPopulation rounds them)."""
    if not cfg.acquisition.schedule_file:
        return None
    sim, sh = cfg.simulation, cfg.shoppers
    return read_schedule(cfg.acquisition.schedule_file, sim.start_date - dt.timedelta(days=sim.warmup_days),
                         sim.warmup_days + sim.days, sh.count - int(round(sh.initial_customer_share * sh.count)),
                         source)


def scheduled_joiners(prospect: np.ndarray, joins_today: int) -> tuple[np.ndarray, np.ndarray]:
    """The day's scheduled first purchases: the first `joins_today` prospects by index (shoppers are drawn
    independently, so any prospects are a random draw), as organic joins."""
    idx = np.flatnonzero(prospect)[:joins_today]
    return idx, np.full(idx.size, CHANNELS["organic"], dtype=np.int8)
