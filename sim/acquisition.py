"""Acquisition: prospects join by a Bass (1969) process on the social network.

Each day a prospect joins with probability

    p_paid + p_innovation + q x (share of its neighbours who recommend) + p_policy

where p_paid is bought by marketing spend with diminishing returns (`paid_joins`), the
recommenders are the customers still latently alive who bought recently (`recommenders`: a
customer base that has dropped out recommends nothing), their share among the prospect's
neighbours comes from the network (sim/network.py; the complete graph gives the population
share: mean-field Bass), and
p_policy is what policies add (the referral programme). Where a join fell in the day's
probability also attributes it to its channel: the slices are paid, organic, word of mouth
and referral, in that order. Draws cost what changes, not every prospect every day: the
segment-wide part runs on each prospect's join clock (`JoinClocks`), and only prospects with
a recommending neighbour (or a policy's chance) draw a uniform of the day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sim.arrays import in_sorted
from sim.config import AcquisitionConfig, MarketConfig
from sim.network import KeptSet, NeighbourCounts
from sim.rng import CounterUniforms

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


def recommenders(shoppers, day: int, cfg: AcquisitionConfig, who: np.ndarray | slice = slice(None)) -> np.ndarray:
    """Who of shoppers `who` (default all) spreads word of mouth today: customers still latently alive who
    bought within `recommend_window_days` (all latently alive ones when it is null). A customer who
    dropped out, or has not bought for longer, recommends nothing."""
    active = shoppers.alive[who] & shoppers.is_customer[who]
    if cfg.recommend_window_days is None:
        return active
    return active & (day - shoppers.last_day[who] <= cfg.recommend_window_days)


_BELOW_ONE = np.nextafter(1.0, 0.0)  # where a clock fell in the day's probability stays below 1 (rounding)


class Recommending(KeptSet):
    """The recommenders (`recommenders`) as a KeptSet: a shopper enters or leaves the set only on a day it
    joined, bought or dropped out (`touch`), or when its last purchase leaves the window, window + 1 days
    after it was touched."""

    def __init__(self, shoppers, cfg: AcquisitionConfig, counts: NeighbourCounts) -> None:
        self.shoppers, self.window = shoppers, cfg.recommend_window_days
        window = self.window
        super().__init__(counts, lambda day, who: recommenders(shoppers, day, cfg, who),
                         None if window is None else window + 1, lambda who: shoppers.last_day[who])


class JoinClocks:
    """Each prospect's clock for the joins that reach every prospect of a segment alike (paid, organic, and
    word of mouth or a policy on the complete graph): an Exp(1) hazard per shopper, drawn once, against the
    segment's cumulative hazard -sum ln(1 - a_t) of the days' join probabilities a_t. A prospect joins on
    the day the cumulative hazard passes its clock: P(join today | not yet) = a_t exactly, as a daily
    uniform would give, but a day's joiners are a range of the clocks sorted by segment, found by binary
    search, without a draw for each prospect (and a prospect's clock is the same in every scenario)."""

    def __init__(self, prospects: np.ndarray, segment: np.ndarray, n_segments: int, clocks: CounterUniforms) -> None:
        hazard = clocks.exponential(-1, prospects)
        seg = segment[prospects]
        order = np.lexsort((hazard, seg))
        self.shopper, self.hazard = prospects[order], hazard[order]
        self.bounds = np.searchsorted(seg[order], np.arange(n_segments + 1))
        self.elapsed = np.zeros(n_segments)  # cumulative hazard per segment

    def ring(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Advance one day at join probability `p` per segment; the shoppers whose clock ran out today and
        for each a uniform in (0, 1) (where in the day's probability its clock fell: it picks the channel)."""
        who, where = [], []
        p = np.minimum(p, 1.0 - 1e-12)
        for s in range(p.size):
            if p[s] <= 0:
                continue
            lo, hi = self.bounds[s], self.bounds[s + 1]
            before = self.elapsed[s]
            after = before - float(np.log1p(-p[s]))
            self.elapsed[s] = after
            first, last = lo + np.searchsorted(self.hazard[lo:hi], [before, after], side="right")
            if last > first:
                who.append(self.shopper[first:last])
                where.append(np.minimum(-np.expm1(before - self.hazard[first:last]) / p[s], _BELOW_ONE))
        if not who:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(who), np.concatenate(where)


SLICE = 1 << 17  # shoppers a slice of uniforms_below: its arrays (about 1 MB each) stay in the cache


def uniforms_below(reached: np.ndarray, is_customer: np.ndarray, u_join: Callable[[np.ndarray], np.ndarray],
                   bound: float) -> tuple[np.ndarray, np.ndarray]:
    """The prospects `reached` today (not yet customers) whose uniform of the day is at most `bound`
    (ascending), and those uniforms. Computed slice by slice of the shoppers, each slice's prospects, bits
    and uniforms kept in the cache: the same numbers as one pass over the whole pool (a prospect's uniform
    is its own), which at 10,000,000 shoppers (about 5 million prospects a day) went to memory at every step
    of the generator."""
    found, below = [], []
    for start in range(0, reached.size, SLICE):
        pool = np.flatnonzero(reached[start:start + SLICE] & ~is_customer[start:start + SLICE])
        if pool.size:
            pool += start
            u = u_join(pool)
            near = np.flatnonzero(u <= bound)
            found.append(pool[near])
            below.append(u[near])
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    return np.concatenate(found), np.concatenate(below)


def joiners(is_customer: np.ndarray, clocks: JoinClocks, segment: np.ndarray, offer: np.ndarray,
            cfg: AcquisitionConfig, p_paid: float, word_of_mouth: NeighbourCounts, p_policy: np.ndarray | float,
            u_join: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Indices of prospects joining today (sorted) and their channel codes (CHANNELS).

    Every channel's probability is multiplied by `offer` (per segment), the purchase-rate multiplier of
    the platform's offer (sim/choice.py, exactly 1 in the calibrated market): a first purchase is a
    purchase occasion too, and a worse offer (or a better rival) wins fewer of them.

    What is the same for every prospect of a segment (paid, organic; word of mouth on the complete graph
    and the policies' `p_policy` when a scalar) runs on the join clocks; what differs by prospect (the
    share of recommending neighbours, `word_of_mouth`, and p_policy when an array over shoppers) is
    decided, for the prospects it reaches, by a uniform of the day (`u_join`) among those the clocks did
    not take, with probability b / (1 - a): the day's join probability is a + b, as in Bass's daily hazard."""
    reached = word_of_mouth.reached()
    wom_seg = cfg.imitation_q * word_of_mouth.share(reached) if reached is None else 0.0
    pol_seg = 0.0 if np.ndim(p_policy) else p_policy
    parts = np.cumsum([p_paid, cfg.innovation_p, wom_seg, pol_seg])
    a = offer * parts[-1]  # per segment
    rung, where = clocks.ring(a)
    keep = ~is_customer[rung]
    rung, where = rung[keep], where[keep]
    channel = np.array([CHANNELS["paid"], CHANNELS["organic"], CHANNELS["word_of_mouth"], CHANNELS["referral"]],
                       dtype=np.int8)[np.minimum(np.searchsorted(parts / parts[-1], where, side="right"), 3)] \
        if parts[-1] > 0 else np.zeros(0, dtype=np.int8)
    by_neighbours = reached is not None  # word of mouth differs by prospect (not the complete graph)
    if np.ndim(p_policy):
        reached = p_policy > 0 if reached is None else reached | (p_policy > 0)
    if reached is not None:
        scale = offer / np.maximum(1.0 - np.minimum(a, 1.0), 1e-12)  # per segment
        wom_scale = cfg.imitation_q * scale  # per segment, times the share of recommending neighbours
        # A prospect's chance wom + pol is at most `bound` (a share is at most 1, and rounding is monotone),
        # so only the prospects whose uniform is below it need their chance (0.4% of the bench's pool):
        # the same joiners as comparing every prospect's uniform with its chance. (fmax: a NaN chance,
        # which joins nobody, does not make the bound NaN for the others.)
        bound = ((np.fmax.reduce(wom_scale, initial=0.0) if by_neighbours else 0.0)
                 + (float(np.fmax.reduce(p_policy, initial=0.0)) * np.fmax.reduce(scale, initial=0.0)
                    if np.ndim(p_policy) else 0.0))
        candidate, u = uniforms_below(reached, is_customer, u_join, bound)
        seg = segment[candidate]
        wom = wom_scale[seg] * word_of_mouth.share(candidate) if by_neighbours else 0.0
        pol = p_policy[candidate] * scale[seg] if np.ndim(p_policy) else 0.0
        hit = np.flatnonzero(u < wom + pol)
        if rung.size:  # those the clocks took today joined already
            hit = hit[~in_sorted(np.sort(rung), candidate[hit])]
        more = candidate[hit]
        more_channel = np.where(u[hit] < (wom[hit] if np.ndim(wom) else wom), CHANNELS["word_of_mouth"],
                                CHANNELS["referral"]).astype(np.int8)
        rung, channel = np.concatenate([rung, more]), np.concatenate([channel, more_channel])
    order = np.argsort(rung, kind="stable")
    return rung[order], channel[order]


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
