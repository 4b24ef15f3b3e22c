"""The shopper population, stored as columns (one row per shopper), never one object each.

Purchase and dropout follow BG/NBD (Fader, Hardie & Lee 2005): a latent weekly rate
lambda ~ Gamma(r, alpha), daily purchase probability 1 - exp(-lambda_eff / 7), and after
each repeat purchase dropout with probability p ~ Beta(a, b) (never after the first
purchase). Spend per order is Gamma-Gamma (Fader, Hardie & Lee 2005b). Everything here
works on whole arrays; nothing loops over shoppers in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config import ShoppersConfig

NEVER = np.iinfo(np.int32).max // 2  # 'day' of an event that has not happened
QUANTILE_GRID = 4097  # points of the spend inverse-CDF table


@dataclass(frozen=True)
class DailyDraws:
    """Per-shopper uniforms for one day; aligned by shopper so scenarios share noise."""

    join: np.ndarray
    buy: np.ndarray
    drop: np.ndarray
    category: np.ndarray
    merchant: np.ndarray
    fallback: np.ndarray
    spend: np.ndarray
    priority: np.ndarray
    ret: np.ndarray  # return decision of the day's order


def calendar_time_scale(rate_weekly: np.ndarray, multiplier: np.ndarray | float) -> np.ndarray:
    """What dropout per purchase is multiplied by on a day whose purchase rate is multiplied by m, so that
    the daily hazard P(buy today) x p stays as it was: (1 - exp(-lambda/7)) / (1 - exp(-lambda m/7))."""
    return (-np.expm1(-rate_weekly / 7.0)) / (-np.expm1(-rate_weekly * multiplier / 7.0))


class ShopperPopulation:
    """Columns of shopper state plus the vectorised BG/NBD rules that update them."""

    def __init__(self, cfg: ShoppersConfig, rng: np.random.Generator, history_rng: np.random.Generator) -> None:
        self.cfg = cfg
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
        from scipy.special import gammaincinv  # the Gamma(p, 1) quantile, what scipy.stats.gamma.ppf computes,
        # without importing scipy.stats (0.2 s before day 0)

        self._spend_quantiles = gammaincinv(gg.p, np.clip(grid, 1e-9, 1 - 1e-9))

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

        self._seed_initial_customers(rng, history_rng)

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
        for day in range(-hist, 0):
            u = history_rng.random((2, k))
            buys = alive & (first < day) & (u[0] < rate)
            last[buys] = day
            second[buys & (second == NEVER)] = day
            drops = buys & (u[1] < p)
            alive &= ~drops
            died[drops] = day
        self.alive[chosen] = alive
        self.last_day[chosen] = last
        self.second_day[chosen] = second
        self.dropout_day[chosen] = died

    # --- daily rules ------------------------------------------------------------------------

    def draws(self, rng: np.random.Generator) -> DailyDraws:
        """One block of per-shopper uniforms for the day (the same block in every scenario)."""
        u = rng.random((len(DailyDraws.__dataclass_fields__), self.n), dtype=np.float32)
        return DailyDraws(*u)

    def repeat_buyers(self, day: int, u_buy: np.ndarray, multiplier: np.ndarray | float) -> np.ndarray:
        """Indices of alive customers (joined before today) who buy today.

        `multiplier` scales lambda (seasonality x experience x policies), per shopper or scalar.
        """
        idx = np.flatnonzero(self.alive & (self.first_day < day))
        lam = self.rate_weekly[idx]
        if np.ndim(multiplier):
            lam = lam * multiplier[idx]
        else:
            lam = lam * float(multiplier)
        prob = -np.expm1(-lam / 7.0)
        return idx[u_buy[idx] < prob]

    def experience_rate_multiplier(self) -> np.ndarray:
        """Purchase-rate multiplier from satisfaction: exactly 1 at the calibration's average experience."""
        relative = self.reference_satisfaction - self.satisfaction  # float32: exactly 0 at the reference
        return 1.0 - self.cfg.experience.purchase_sensitivity * relative

    def join(self, day: int, joiners: np.ndarray, channel: np.ndarray | int) -> None:
        """Prospects become customers; joining is their first order."""
        self.is_customer[joiners] = True
        self.alive[joiners] = True
        self.first_day[joiners] = day
        self.last_day[joiners] = day  # recency counts from joining, even if the first order is lost
        self.channel[joiners] = channel

    def record_orders(self, day: int, buyers: np.ndarray) -> None:
        """Recency and counts of today's buyers (joiners and repeat buyers alike)."""
        repeat = buyers[self.first_day[buyers] < day]
        self.second_day[repeat[self.second_day[repeat] == NEVER]] = day
        self.last_day[buyers] = day
        self.orders_in_run[buyers] += 1  # a shopper places at most one order a day
        self.repeats_in_run[repeat] += 1

    def order_spend(self, buyers: np.ndarray, u_spend: np.ndarray) -> np.ndarray:
        """Gamma-Gamma spend per order before category and merchant price factors [currency]."""
        pos = u_spend[buyers].astype(np.float64) * (QUANTILE_GRID - 1)
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

        `multiplier` scales the dropout probability (retention levers). Scaling by the day's
        purchase-rate multiplier keeps lifetimes in calendar time: BG/NBD's daily hazard,
        P(buy today) x dropout per purchase, is then unchanged by anything that only changes how
        often a customer buys.
        """
        relative = self.reference_satisfaction - self.satisfaction[repeat_buyers]
        p = self.dropout_p[repeat_buyers] * np.maximum(1.0 + self.cfg.experience.dropout_sensitivity * relative, 0.0)
        p = p * (multiplier[repeat_buyers] if np.ndim(multiplier) else float(multiplier))
        # the daily hazard P(buy today) x p stays at its value without the multiplier m:
        # p x (1 - exp(-lambda/7)) / (1 - exp(-lambda m/7)), exactly 1 x p when m = 1
        lam = self.rate_weekly[repeat_buyers]
        m = rate_multiplier[repeat_buyers] if np.ndim(rate_multiplier) else float(rate_multiplier)
        p = p * calendar_time_scale(lam, m)  # a buyer's m is > 0; exactly 1 at m = 1
        out = repeat_buyers[u_drop[repeat_buyers] < np.minimum(p, 1.0)]
        self.alive[out] = False
        self.dropout_day[out] = day
        return out

    # --- observable lifecycle ----------------------------------------------------------------

    def lifecycle_counts(self, day: int) -> dict[str, int]:
        """Counts per observable state at the end of `day` (by days since last purchase)."""
        lc = self.cfg.lifecycle
        customers = int(np.count_nonzero(self.is_customer))
        recency = day - self.last_day[self.is_customer]
        since_first = day - self.first_day[self.is_customer]
        new = int(np.count_nonzero(since_first < lc.new_days))
        within_active = int(np.count_nonzero(recency < lc.dormant_after_days))
        churned = int(np.count_nonzero(recency >= lc.churned_after_days))
        dormant = customers - within_active - churned
        return {
            "prospect": self.n - customers,
            "new": new,
            "active": within_active - new,
            "dormant": dormant,
            "churned": churned,
        }
