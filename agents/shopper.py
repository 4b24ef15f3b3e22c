"""The shopper population, stored as columns (one row per shopper), never one object each.

Purchase and dropout follow BG/NBD (Fader, Hardie & Lee 2005): a latent weekly rate
lambda ~ Gamma(r, alpha), daily purchase probability 1 - exp(-lambda_eff / 7), and after
each repeat purchase dropout with probability p ~ Beta(a, b) (never after the first
purchase). The daily purchase is drawn as a clock: each customer holds an Exp(1) hazard to
wait, uses up lambda_eff / 7 of it a day and buys on the day it runs out (then draws the
next); P(buy today) = 1 - exp(-lambda_eff / 7) exactly, the k-th wait is the same in every
scenario that shares the seed, and a day's purchase draws cost a subtraction per alive customer. Spend per
order is Gamma-Gamma (Fader, Hardie & Lee 2005b). Everything here
works on whole arrays; nothing loops over shoppers in Python.
"""

from __future__ import annotations

import numpy as np

from sim.config import ShoppersConfig
from sim.deferred import submodules
from sim.rng import CounterUniforms, uniforms_at

NEVER = np.iinfo(np.int32).max // 2  # 'day' of an event that has not happened
QUANTILE_GRID = 4097  # points of the spend inverse-CDF table


DRAWS = ("join", "drop", "category", "merchant", "fallback", "spend", "priority", "ret")
PURCHASE_DRAWS = ("spend", "category", "merchant", "fallback", "priority", "ret", "drop")  # by purchase number


class DailyDraws:
    """A day's uniforms per shopper, one named stream each (DRAWS): the word-of-mouth join, dropout after
    a repeat purchase, category, merchant, fallback merchant, spend, stock priority and the return
    decision. Counter-based (sim/rng.py, CounterUniforms): a prospect's join draw depends on the seed,
    the stream, the shopper and the day; a purchase's draws on the shopper and its purchase number, so a
    shopper's k-th purchase meets the same draws in every scenario sharing the seed, whichever day it
    falls on (common random numbers), and the day computes just the draws it needs."""

    def __init__(self, streams: dict[str, CounterUniforms], day: int, occasions: np.ndarray) -> None:
        self.streams, self.day, self.occasions = streams, day, occasions

    def of(self, name: str, shoppers: np.ndarray) -> np.ndarray:
        """Today's uniforms of stream `name` for `shoppers` (float32 in (0, 1)): by day for "join", by the
        shopper's purchase number (today's included) for the others."""
        if name == "join":
            return self.streams[name].uniform(self.day, shoppers)
        return self.streams[name].uniform_at(self.occasions[shoppers], shoppers)

    def at_purchase(self, names: tuple[str, ...], shoppers: np.ndarray) -> dict[str, np.ndarray]:
        """`of(name, shoppers)` for several streams but "join", computed together (sim/rng.py uniforms_at):
        the same numbers, while the shoppers' purchase numbers stay as they are now."""
        rows = uniforms_at([self.streams[name] for name in names], self.occasions[shoppers], shoppers)
        return dict(zip(names, rows, strict=True))


class DayCounts:
    """How many shoppers have each day as a date (their last purchase, their first): counts by recency
    read from a short array of days instead of a pass over every shopper, kept current by the few
    shoppers whose date changes each day."""

    def __init__(self, days: np.ndarray, earliest: int) -> None:
        self.earliest = earliest  # no date before it
        self.count = np.bincount(days - earliest, minlength=1024).astype(np.int64)

    def add(self, days: np.ndarray, sign: int = 1) -> None:
        """Count `days` in (sign +1) or out (-1)."""
        if days.size == 0:
            return
        pos = days - self.earliest
        top = int(pos.max())
        if top >= self.count.size:
            self.count = np.concatenate([self.count, np.zeros(max(top + 1, 2 * self.count.size) - self.count.size,
                                                              dtype=np.int64)])
        np.add.at(self.count, pos, sign)

    def after(self, day: int) -> int:
        """How many dates fall after `day`."""
        return int(self.count[max(day + 1 - self.earliest, 0):].sum())

    def at(self, day: int) -> int:
        """How many dates are `day`."""
        pos = day - self.earliest
        return int(self.count[pos]) if 0 <= pos < self.count.size else 0


def _gammaincinv():
    """SciPy's gammaincinv (the Gamma(p, 1) quantile, what scipy.stats.gamma.ppf computes) from the compiled
    module that holds it, without scipy.special's __init__ (0.15 s of start-up, sim/deferred.py) where that
    module is found; else from scipy.special."""
    try:
        return submodules("scipy.special", "_ufuncs")[0].gammaincinv
    except (ImportError, AttributeError):
        from scipy.special import gammaincinv
        return gammaincinv


def calendar_time_scale(rate_weekly: np.ndarray, multiplier: np.ndarray | float) -> np.ndarray:
    """What dropout per purchase is multiplied by on a day whose purchase rate is multiplied by m, so that
    the daily hazard P(buy today) x p stays as it was: (1 - exp(-lambda/7)) / (1 - exp(-lambda m/7))."""
    return (-np.expm1(-rate_weekly / 7.0)) / (-np.expm1(-rate_weekly * multiplier / 7.0))


class ShopperPopulation:
    """Columns of shopper state plus the vectorised BG/NBD rules that update them."""

    def __init__(self, cfg: ShoppersConfig, rng: np.random.Generator, history_rng: np.random.Generator,
                 clocks: CounterUniforms) -> None:
        self.cfg = cfg
        self.clocks = clocks  # the purchase clocks' draws: the wait after purchase k is keyed by k
        n = cfg.count
        self.n = n
        shares = np.array([s.share for s in cfg.segments])
        self.segment = rng.choice(len(shares), size=n, p=shares / shares.sum()).astype(np.int16)
        bg, gg = cfg.bgnbd, cfg.spend
        rate_mult = np.array([s.purchase_rate_multiplier for s in cfg.segments])
        drop_mult = np.array([s.dropout_multiplier for s in cfg.segments])
        # segments differ in behaviour too: their multipliers on the population's BG/NBD draws
        self.rate_weekly = rng.gamma(bg.r, 1.0 / bg.alpha, size=n) * rate_mult[self.segment]
        self.dropout_p = np.minimum(rng.beta(bg.a, bg.b, size=n) * drop_mult[self.segment], 1.0)
        # Gamma-Gamma: the shopper's scale nu ~ Gamma(q, rate gamma); spend ~ Gamma(p, rate nu).
        self.spend_rate = rng.gamma(gg.q, 1.0 / gg.gamma, size=n)
        spend_mult = np.array([s.spend_multiplier for s in cfg.segments])
        self.spend_multiplier = spend_mult[self.segment]
        grid = np.linspace(0.0, 1.0, QUANTILE_GRID)
        self._spend_quantiles = _gammaincinv()(gg.p, np.clip(grid, 1e-9, 1 - 1e-9))

        self.is_customer = np.zeros(n, dtype=bool)
        self.alive = np.zeros(n, dtype=bool)
        self.first_day = np.full(n, NEVER, dtype=np.int32)
        self.last_day = np.full(n, NEVER, dtype=np.int32)  # last purchase day
        self.second_day = np.full(n, NEVER, dtype=np.int32)  # first repeat purchase day
        self.dropout_day = np.full(n, NEVER, dtype=np.int32)  # latent, for analysis
        self.orders_in_run = np.zeros(n, dtype=np.int32)
        self.repeats_in_run = np.zeros(n, dtype=np.int32)
        # experience starts at the average the calibration contains: only better or worse moves behaviour
        self.reference_satisfaction = np.float32(cfg.experience.reference_outcome)
        self.satisfaction = np.full(n, self.reference_satisfaction, dtype=np.float32)
        # sim.acquisition.CHANNELS: 0 initial, 1 paid, 2 organic, 3 word of mouth
        self.channel = np.zeros(n, dtype=np.int8)
        self.purchase_clock = np.full(n, np.inf)  # hazard left before the next purchase (customers)
        self.occasions = np.zeros(n, dtype=np.int32)  # purchase occasions (joining is the first; 1 at the start)
        self.exposed = np.zeros(0, dtype=np.int64)  # today's alive customers who joined before today
        self.exposed_clock = np.zeros(0)  # their clocks at the day's start (counterfactuals: would_buy)

        self._seed_initial_customers(rng, history_rng)
        self.customers = int(np.count_nonzero(self.is_customer))
        self.alive_count = int(np.count_nonzero(self.alive))
        earliest = -cfg.initial_history_days - 1
        self.last_days = DayCounts(self.last_day[self.is_customer], earliest)  # customers' last purchase
        self.first_days = DayCounts(self.first_day[self.is_customer], earliest)
        self.alive_last_days = DayCounts(self.last_day[self.alive], earliest)  # latently alive customers
        self.occasions[self.is_customer] = 1
        alive = np.flatnonzero(self.alive)
        self.purchase_clock[alive] = clocks.exponential_at(self.occasions[alive], alive)

    # --- set-up -----------------------------------------------------------------------------

    def _seed_initial_customers(self, rng: np.random.Generator, history_rng: np.random.Generator) -> None:
        """Initial customers with a simulated pre-run history, so lifecycle states start sensible."""
        k = int(round(self.cfg.initial_customer_share * self.n))
        if k == 0:
            return
        chosen = np.sort(rng.choice(self.n, size=k, replace=False))
        hist = self.cfg.initial_history_days
        first = -1 - rng.integers(0, hist, size=k) if hist > 0 else np.full(k, -1)
        self.is_customer[chosen] = True
        self.alive[chosen] = True
        self.first_day[chosen] = first
        self.last_day[chosen] = first
        # Pre-run history: the same BG/NBD rule, day by day, vectorised over initial customers.
        rate = -np.expm1(-self.rate_weekly[chosen] / 7.0)
        p = self.dropout_p[chosen]
        alive = np.ones(k, dtype=bool)
        last = first.astype(np.int32).copy()
        second = np.full(k, NEVER, dtype=np.int32)
        died = np.full(k, NEVER, dtype=np.int32)
        # A day's uniforms fill one buffer (the same numbers as a new (2, k) array: the stream is drawn in
        # the same order); only the few whose uniform is below their rate can buy, so the day's other
        # tests run on them, not on every initial customer (at 10,000,000 shoppers: 2,000,000 a day)
        u = np.empty((2, k))
        for day in range(-hist, 0):
            history_rng.random(out=u)
            could = np.flatnonzero(u[0] < rate)
            buys = could[alive[could] & (first[could] < day)]
            last[buys] = day
            second[buys[second[buys] == NEVER]] = day
            drops = buys[u[1, buys] < p[buys]]
            alive[drops] = False
            died[drops] = day
        self.alive[chosen] = alive
        self.last_day[chosen] = last
        self.second_day[chosen] = second
        self.dropout_day[chosen] = died

    # --- daily rules ------------------------------------------------------------------------

    def exposed_today(self, day: int) -> np.ndarray:
        """Alive customers who joined before `day`: today's candidates for a repeat purchase (sorted)."""
        return np.flatnonzero(self.alive & (self.first_day < day))

    def repeat_buyers(self, day: int, exposed: np.ndarray, multiplier: np.ndarray | float) -> np.ndarray:
        """Of `exposed` (exposed_today), those who buy today: their clock runs out under today's hazard
        lambda x multiplier / 7 (seasonality x experience x policies; aligned with `exposed`, or a scalar).
        Buyers draw their next wait."""
        clock = self.purchase_clock[exposed]
        left = clock - self.rate_weekly[exposed] * multiplier / 7.0
        self.exposed, self.exposed_clock = exposed, clock
        buy = left <= 0.0
        self.purchase_clock[exposed] = left
        buyers = exposed[buy]
        self.occasions[buyers] += 1
        self.purchase_clock[buyers] = self.clocks.exponential_at(self.occasions[buyers], buyers)
        return buyers

    def would_buy(self, shoppers: np.ndarray, multiplier: np.ndarray | float) -> np.ndarray:
        """Whether today's exposed `shoppers` (a subset of `exposed`, e.g. repeat buyers; others would be
        misread) would have bought at rate multiplier `multiplier` (the same clock against another hazard:
        the counterfactual of common random numbers)."""
        clock = self.exposed_clock[np.searchsorted(self.exposed, shoppers)]
        return clock <= self.rate_weekly[shoppers] * multiplier / 7.0

    def experience_rate_multiplier(self, who: np.ndarray) -> np.ndarray:
        """Purchase-rate multiplier from satisfaction of shoppers `who`: exactly 1 at the calibration's
        average experience."""
        relative = self.reference_satisfaction - self.satisfaction[who]  # float32: exactly 0 at the reference
        return 1.0 - self.cfg.experience.purchase_sensitivity * relative

    def join(self, day: int, joiners: np.ndarray, channel: np.ndarray | int) -> None:
        """Prospects become customers; joining is their first order."""
        self.is_customer[joiners] = True
        self.alive[joiners] = True
        self.first_day[joiners] = day
        self.last_day[joiners] = day  # recency counts from joining, even if the first order is lost
        self.channel[joiners] = channel
        days = np.full(joiners.size, day, dtype=np.int32)
        for counts in (self.last_days, self.first_days, self.alive_last_days):
            counts.add(days)
        self.occasions[joiners] = 1
        self.purchase_clock[joiners] = self.clocks.exponential_at(self.occasions[joiners], joiners)
        self.customers += joiners.size
        self.alive_count += joiners.size

    def record_orders(self, day: int, buyers: np.ndarray) -> None:
        """Recency and counts of today's buyers (joiners and repeat buyers alike)."""
        repeat = buyers[self.first_day[buyers] < day]
        self.second_day[repeat[self.second_day[repeat] == NEVER]] = day
        before, today = self.last_day[buyers], np.full(buyers.size, day, dtype=np.int32)
        for counts in (self.last_days, self.alive_last_days):  # today's buyers are alive (dropout comes later)
            counts.add(before, -1)
            counts.add(today)
        self.last_day[buyers] = day
        self.orders_in_run[buyers] += 1  # a shopper places at most one order a day
        self.repeats_in_run[repeat] += 1

    def order_spend(self, buyers: np.ndarray, u_spend: np.ndarray) -> np.ndarray:
        """Gamma-Gamma spend per order before category and merchant price factors [currency]; `u_spend`
        aligned with `buyers`."""
        pos = u_spend.astype(np.float64) * (QUANTILE_GRID - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, QUANTILE_GRID - 1)
        frac = pos - lo
        z = self._spend_quantiles[lo] * (1 - frac) + self._spend_quantiles[hi] * frac
        return z / self.spend_rate[buyers] * self.spend_multiplier[buyers]

    def update_satisfaction(self, buyers: np.ndarray, outcome: np.ndarray) -> None:
        """EWMA of order outcomes (1 = all well)."""
        w = np.float32(self.cfg.experience.satisfaction_memory)
        s = self.satisfaction[buyers]
        self.satisfaction[buyers] = s + w * (outcome.astype(np.float32) - s)

    def dropouts(self, day: int, repeat_buyers: np.ndarray, u_drop: np.ndarray,
                 multiplier: np.ndarray | float, rate_multiplier: np.ndarray | float = 1.0) -> np.ndarray:
        """Latent dropout after today's repeat purchases; returns who dropped out.

        `u_drop` is aligned with `repeat_buyers`, as `multiplier` and `rate_multiplier` when arrays;
        `multiplier` scales the dropout probability (retention levers). Scaling by the day's
        purchase-rate multiplier keeps lifetimes in calendar time: BG/NBD's daily hazard,
        P(buy today) x dropout per purchase, is then unchanged by anything that only changes how
        often a customer buys.
        """
        relative = self.reference_satisfaction - self.satisfaction[repeat_buyers]
        p = self.dropout_p[repeat_buyers] * np.maximum(1.0 + self.cfg.experience.dropout_sensitivity * relative, 0.0)
        p = p * multiplier
        # the daily hazard P(buy today) x p stays at its value without the multiplier m:
        # p x (1 - exp(-lambda/7)) / (1 - exp(-lambda m/7)), exactly 1 x p when m = 1
        lam = self.rate_weekly[repeat_buyers]
        p = p * calendar_time_scale(lam, rate_multiplier)  # a buyer's m is > 0; exactly 1 at m = 1
        out = repeat_buyers[u_drop < np.minimum(p, 1.0)]
        self.alive[out] = False
        self.alive_last_days.add(self.last_day[out], -1)
        self.purchase_clock[out] = np.inf
        self.alive_count -= out.size
        self.dropout_day[out] = day
        return out

    # --- observable lifecycle ----------------------------------------------------------------

    def lifecycle_counts(self, day: int) -> dict[str, int]:
        """Counts per observable state at the end of `day` (by days since last purchase)."""
        lc = self.cfg.lifecycle
        customers = self.customers
        new = self.first_days.after(day - lc.new_days)  # joined within new_days
        within_active = self.last_days.after(day - lc.dormant_after_days)  # recency < dormant_after_days
        churned = customers - self.last_days.after(day - lc.churned_after_days)  # recency >= churned_after_days
        dormant = customers - within_active - churned
        return {
            "prospect": self.n - customers,
            "new": new,
            "active": within_active - new,
            "dormant": dormant,
            "churned": churned,
        }

    def recommenders(self, day: int, window: int | None) -> int:
        """How many latently alive customers bought within `window` days of `day` (all when None)."""
        return self.alive_count if window is None else self.alive_last_days.after(day - window - 1)
