"""Where a shopper's category and merchant are decided: grouped inverse-CDF draws.

Choice probabilities are tabulated per group (segment for categories; segment x category for
merchants, multinomial logit) and every order is drawn with one `searchsorted` over the
tables laid end to end, so the cost is O(orders x log(table)) with no Python loop.
"""

from __future__ import annotations

import numpy as np

from agents.merchant import MerchantTable
from sim.config import CategoryConfig, ChoiceConfig, RivalsConfig, SegmentConfig

MAX_LOG_MULTIPLIER = 5.0  # an offer never multiplies the purchase rate by more than e^5


def cumulative_table(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-normalised cumulative probabilities of a (groups, options) weight table.

    Returns (cum, has_support): rows whose weights are all zero have no support.
    """
    weights = np.asarray(weights, dtype=np.float64)
    totals = weights.sum(axis=1)
    has_support = totals > 0
    cum = np.cumsum(weights, axis=1) / np.where(has_support, totals, 1.0)[:, None]
    cum[:, -1] = 1.0  # exact end of each row: no draw spills into the next group
    cum[~has_support] = 1.0
    return cum, has_support


def grouped_draw(cum: np.ndarray, has_support: np.ndarray, group: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Option index per draw from row `group` of `cum` with uniform `u`; -1 where no support."""
    n_groups, n_options = cum.shape
    flat = (cum + np.arange(n_groups)[:, None]).ravel()
    group = np.asarray(group, dtype=np.int64)
    pos = np.searchsorted(flat, group + np.asarray(u, dtype=np.float64), side="right")
    option = np.minimum(pos - group * n_options, n_options - 1)
    return np.where(has_support[group], option, -1)


def logit_weights(utility: np.ndarray, available: np.ndarray) -> np.ndarray:
    """exp(utility) where available, 0 elsewhere; stabilised per row (last axis)."""
    masked = np.where(available, utility, -np.inf)
    top = masked.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return np.where(available, np.exp(masked - top), 0.0)


def _log_sum_exp(x: np.ndarray, available: np.ndarray) -> np.ndarray:
    """log sum exp(x) over the last axis where available (-inf where nothing is)."""
    masked = np.where(available, x, -np.inf)
    top = masked.max(axis=-1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.where(available, np.exp(masked - safe[..., None]), 0.0).sum(axis=-1))


def _mean_active(x: np.ndarray, active: np.ndarray) -> float:
    """Mean of `x` over active merchants (1 when there is nothing to average)."""
    mean = float(x[active].mean()) if active.any() else 0.0
    return mean if mean > 0 else 1.0


def rival_gain(rivals: RivalsConfig, cfg: ChoiceConfig, price_sensitivity: np.ndarray) -> np.ndarray:
    """What the rivals' offer is worth more than in the calibrated market, per segment: their price
    (x the segment's price sensitivity), delivery and catalogue, in the platform's utility units."""
    return (-np.asarray(price_sensitivity) * np.log(rivals.price_index)
            - cfg.delivery_weight * rivals.delivery_days_change + cfg.variety_weight * np.log(rivals.assortment))


class PlatformNest:
    """Where a purchase occasion goes: this platform, a rival platform, or no purchase (nested logit).

    The platform's share among the platforms is s = s0 e^{theta g} / (s0 e^{theta g} + (1 - s0) e^{theta r}),
    g and r the changes of the platform's and the rivals' offer values since the calibrated market, s0
    the calibrated share (`rivals.platform_share`). Purchases in the category happen at a rate
    proportional to exp(beta I), I = ln(s0 e^{theta g} + (1 - s0) e^{theta r}) / theta the market's
    inclusive value; the platform's orders are multiplied by exp(beta I) s / s0, exactly 1 at g = r = 0.

    beta and theta are sized by two published shares: at the calibrated market the platform's
    elasticity to its own offer value, beta s0 + theta (1 - s0), is split into buy or not (beta s0 =
    `choice.incidence_weight`) and switching between platforms (theta (1 - s0)) in the proportions
    of Bell, Chiang & Padmanabhan (1999): `rivals.switching_share` (75%) is switching. Without rivals
    (platform_share 1, or switching_share 0) it is buy or not alone: exp(incidence_weight g).
    """

    def __init__(self, incidence_weight: float, rivals: RivalsConfig) -> None:
        self.incidence = incidence_weight
        self.share = s0 = rivals.platform_share
        sw = rivals.switching_share
        self.has_rivals = incidence_weight > 0 and s0 < 1.0 and sw > 0
        self.beta = incidence_weight / s0 if self.has_rivals else incidence_weight
        self.theta = incidence_weight * sw / (1.0 - sw) / (1.0 - s0) if self.has_rivals else 0.0

    @property
    def own_weight(self) -> float:
        """d ln(orders) / d(offer value) at the calibrated market: buy or not plus switching."""
        return self.beta * self.share + self.theta * (1.0 - self.share) if self.has_rivals else self.incidence

    def multiplier(self, gain: np.ndarray | float, rival_gain: np.ndarray | float = 0.0) -> np.ndarray:
        """The platform's purchase-rate multiplier when its offer is worth `gain` more than in the calibrated
        market and the rivals' `rival_gain` more (0 where the platform offers nothing: gain -inf)."""
        gain = np.asarray(gain, dtype=np.float64)
        if self.incidence == 0:
            return np.ones_like(gain)
        with np.errstate(invalid="ignore", over="ignore"):
            if not self.has_rivals:
                log_m = self.incidence * gain
            else:
                a, b = self.theta * gain, self.theta * np.asarray(rival_gain, dtype=np.float64)
                log_d = np.logaddexp(np.log(self.share) + a, np.log1p(-self.share) + b)
                log_m = a + (self.beta / self.theta - 1.0) * log_d
            return np.nan_to_num(np.exp(np.minimum(log_m, MAX_LOG_MULTIPLIER)), nan=0.0)

    def platform_share(self, gain: np.ndarray | float, rival_gain: np.ndarray | float = 0.0) -> np.ndarray:
        """The platform's share of the occasions that end in a purchase on some platform."""
        if not self.has_rivals:
            return np.ones_like(np.asarray(gain, dtype=np.float64))
        a = self.theta * np.asarray(gain, dtype=np.float64)
        b = self.theta * np.asarray(rival_gain, dtype=np.float64)
        return 1.0 / (1.0 + (1.0 - self.share) / self.share * np.exp(b - a))


class ChoiceModel:
    """The day's choice tables: buy or not, category by segment, then merchant by multinomial logit.

    Category choice mixes each segment's own preferences (weight = personalisation) with plain
    popularity; a segment's conversion follows the change of personalisation from today's level
    by match_sensitivity x its niche score (how far its preferences are from popularity).
    Merchant utility: what the offer is worth to the shopper (rating, delivery days as shoppers
    see them, log price x the segment's price sensitivity, green label x green preference) plus
    the platform's ranking (ad spend, a popularity term x (1 - personalisation)).

    Buy or not (nested logit: Guadagni & Little 1983, Bucklin & Lattin 1991, Chintagunta 1993):
    the offer's inclusive value for a segment is W = log sum_c pi_c exp(IV_c), IV_c the log-sum
    of the value utilities of the merchants carrying category c, pi the segment's category mix
    at today's personalisation. The purchase rate is multiplied by exp(incidence_weight x (W -
    W_today)), W_today the value of the calibrated market (`set_reference`, choice.reference), so
    that market buys exactly as calibrated and a better (worse) offer raises (lowers) purchases. Ranking
    moves which merchant is chosen, not what the offer is worth. Tables are rebuilt only when
    something they depend on changes.
    """

    def __init__(self, cfg: ChoiceConfig, segments: list[SegmentConfig], categories: list[CategoryConfig],
                 shopper_segment: np.ndarray, price_sensitivity: list[float], rivals: RivalsConfig,
                 listings_per_merchant: float) -> None:
        self.cfg = cfg
        self.nest = PlatformNest(cfg.incidence_weight, rivals)
        self.listings_per_merchant = listings_per_merchant  # the catalogue a simulated merchant's listings stand for
        share = np.array([c.demand_share for c in categories])
        self.demand_share = share / share.sum()
        names = [c.name for c in categories]
        prefs = self.demand_share[None, :] * np.array([[s.category_preferences.get(n, 1.0) for n in names]
                                                       for s in segments])
        self.segment_prefs = prefs / prefs.sum(axis=1, keepdims=True)
        # how far a segment's own category preferences are from plain popularity (total variation)
        self.niche = 0.5 * np.abs(self.segment_prefs - self.demand_share[None, :]).sum(axis=1)
        self.price_sensitivity = np.array(price_sensitivity)  # per segment, with the market's multiplier
        self.green_preference = np.array([s.green_preference for s in segments])
        self.shopper_segment = shopper_segment
        self.personalisation = cfg.personalisation  # today's level; the recommendation policy moves it
        self.platform_delay = 0.0  # extra days platform-fulfilled delivery takes now (seen in choice)
        self.merchant_weights = np.zeros((0, 0))
        self._set_category_table()
        self.reference_probs = self.category_probs  # category mix at today's personalisation
        self.reference_value: np.ndarray | None = None  # W of the calibrated market, per segment
        self.offer_gain = np.zeros(len(segments))  # W - W_today per segment
        self.rival_gain = np.zeros(len(segments))  # the rivals' offer value less the calibrated one, per segment
        self.segment_offer_multiplier = np.ones(len(segments))  # PlatformNest.multiplier(offer_gain, rival_gain)

    def _set_category_table(self) -> None:
        p = self.personalisation
        mix = p * self.segment_prefs + (1.0 - p) * self.demand_share[None, :]
        self.category_cum, self.category_support = cumulative_table(mix)
        self.category_probs = np.diff(np.c_[np.zeros(mix.shape[0]), self.category_cum], axis=1)
        change = self.cfg.match_sensitivity * (p - self.cfg.personalisation) * self.niche
        self.segment_match_multiplier = 1.0 + change  # per segment: exactly 1 at today's level

    def set_personalisation(self, level: float, table: MerchantTable) -> None:
        """A new personalisation level: category choice, conversion and ranking change."""
        if float(level) == self.personalisation:
            return
        self.personalisation = float(level)
        self._set_category_table()
        self.refresh(table)

    def set_platform_delay(self, delay: float, table: MerchantTable) -> None:
        """Platform-fulfilled delivery as shoppers see it now (consolidation days + fleet backlog)."""
        if delay != self.platform_delay:
            self.platform_delay = delay
            self.refresh(table)

    def refresh(self, table: MerchantTable) -> None:
        """Logit weights per (segment x category, merchant); after rating, entry, exit or delay changes."""
        t, w = table, self.cfg
        delivery_seen = t.delivery_days + t.platform_fulfilled * self.platform_delay
        base = (w.rating_weight * t.rating - w.delivery_weight * delivery_seen + np.log(t.listings)
                + w.ad_weight * np.log1p(t.ad_spend_month / _mean_active(t.ad_spend_month, t.active)))
        if w.popularity_weight > 0 and self.personalisation < 1:  # popularity ranking: the rich get richer
            sales = t.demand_history.sum(axis=(0, 2))
            share = sales / max(float(sales.sum()), 1e-12)
            base = base + w.popularity_weight * (1.0 - self.personalisation) * np.log(share + 1e-3)
        utility = (base[None, :]
                   - self.price_sensitivity[:, None] * np.log(t.price_index)[None, :]
                   + w.green_weight * self.green_preference[:, None] * t.green_label[None, :])
        n_seg, n_cat = utility.shape[0], t.carries.shape[1]
        avail = (t.carries & t.active[:, None]).T  # (categories, merchants)
        util = np.repeat(utility, n_cat, axis=0)  # row s*C + c
        self.merchant_weights = logit_weights(util, np.tile(avail, (n_seg, 1)))
        if self.reference_value is not None and self.cfg.incidence_weight > 0:
            with np.errstate(invalid="ignore"):  # a segment with no offer at all: -inf, multiplier 0
                self.offer_gain = self.offer_value(t, self.platform_delay, self.listings_per_merchant) \
                    - self.reference_value
            self._set_multiplier()

    def _set_multiplier(self) -> None:
        self.segment_offer_multiplier = self.nest.multiplier(self.offer_gain, self.rival_gain)

    def set_rival_gain(self, gain: np.ndarray) -> None:
        """The rivals' offer changed: its value less the calibrated one, per segment."""
        self.rival_gain = np.asarray(gain, dtype=np.float64)
        if self.reference_value is not None and self.cfg.incidence_weight > 0:
            self._set_multiplier()

    def set_reference(self, table: MerchantTable, listings_per_merchant: float) -> None:
        """The calibrated market (choice.reference: its prices, delivery, quality and catalogue, no policy, no
        delivery delay): the offer the calibration saw."""
        self.reference_value = self.offer_value(table, 0.0, listings_per_merchant)

    def offer_value(self, table: MerchantTable, platform_delay: float, listings_per_merchant: float) -> np.ndarray:
        """W per segment: log sum_c pi_c exp(IV_c). IV_c = ln(the listings-weighted mean of exp(value) over the
        merchants carrying c) + variety_weight x ln(the category's catalogue): the average offer plus what
        its variety is worth, saturating below variety_weight 1 (1: the plain log-sum over listings). The
        catalogue counts each listing as `listings_per_merchant` of the platform's, so it does not grow with
        the number of merchants simulated."""
        t, w = table, self.cfg
        delivery_seen = t.delivery_days + t.platform_fulfilled * platform_delay
        catalogue = t.listings * listings_per_merchant  # (merchants,) share of the calibrated catalogue
        value = ((w.rating_value_weight * t.rating - w.delivery_weight * delivery_seen + np.log(catalogue))[None, :]
                 - self.price_sensitivity[:, None] * np.log(t.price_index)[None, :]
                 + w.green_weight * self.green_preference[:, None] * t.green_label[None, :])  # (segments, merchants)
        avail = t.carries & t.active[:, None]  # (merchants, categories)
        iv = _log_sum_exp(value[:, None, :], avail.T[None, :, :])  # (segments, categories)
        if w.variety_weight != 1.0:
            listed = catalogue @ avail  # (categories,) the catalogue of each category
            crowding = (1.0 - w.variety_weight) * np.log(np.where(listed > 0, listed, 1.0))
            iv = iv - crowding[None, :]  # a category nobody carries stays at -inf
        with np.errstate(divide="ignore"):
            log_mix = np.log(self.reference_probs)
        return _log_sum_exp(iv + log_mix, np.isfinite(iv))

    def expected_cell_demand(self, buyers_by_segment: np.ndarray) -> np.ndarray:
        """Expected daily orders per (merchant, category) from expected buyers per segment."""
        n_seg, n_cat = self.category_probs.shape
        w = self.merchant_weights
        probs = w / np.where(w.sum(axis=1, keepdims=True) > 0, w.sum(axis=1, keepdims=True), 1.0)
        seg_cat = (buyers_by_segment[:, None] * self.category_probs).reshape(-1)  # row s*C + c
        cell = (seg_cat[:, None] * probs).reshape(n_seg, n_cat, -1).sum(axis=0)
        return cell.T  # (merchants, categories)
