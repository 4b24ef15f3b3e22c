"""Closed-form BG/NBD and Gamma-Gamma quantities, used to validate the model against theory."""

from __future__ import annotations

import numpy as np


def expected_repeat_transactions(t_weeks: float | np.ndarray, r: float, alpha: float, a: float,
                                 b: float) -> float | np.ndarray:
    """E[X(t)]: expected repeat transactions in (0, t] of a customer who joined at 0.

    Fader, Hardie & Lee (2005), "Counting your customers the easy way", eq. 9.
    """
    from scipy.special import hyp2f1  # here: a run imports this module, not SciPy (start-up, issue 23)

    t = np.asarray(t_weeks, dtype=float)
    z = t / (alpha + t)
    return (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1.0, z))


def discounted_residual_transactions(rate_weekly: np.ndarray, dropout_p: np.ndarray,
                                     discount_weekly: float) -> np.ndarray:
    """DERT of an alive BG/NBD customer whose rate and dropout probability are known (the simulator's
    latent truth): purchases come at rate lambda, each is followed by dropout with probability p, and a
    purchase at time T is worth e^(-delta T). The k-th future purchase happens (with probability
    (1 - p)^(k-1)) after k exponential gaps, E[e^(-delta T_k)] = q^k with q = lambda / (lambda + delta), so

        DERT = sum_k (1 - p)^(k-1) q^k = q / (1 - (1 - p) q).

    With delta = 0 it is 1 / p, the expected number of purchases left (Fader, Hardie & Lee 2005's
    DERT, with the individual's own lambda and p in place of their posterior)."""
    lam = np.asarray(rate_weekly, dtype=float)
    p = np.asarray(dropout_p, dtype=float)
    q = lam / (lam + discount_weekly) if discount_weekly > 0 else np.ones_like(lam)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = q / (1.0 - (1.0 - p) * q)
    return np.where(lam > 0, np.nan_to_num(out, posinf=0.0), 0.0)


def expected_spend(p: float, q: float, gamma: float) -> float:
    """Population mean spend per transaction of the Gamma-Gamma model: p gamma / (q - 1)."""
    return p * gamma / (q - 1.0)


def bgnbd_log_likelihood(r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray,
                         big_t: np.ndarray) -> np.ndarray:
    """Each customer's BG/NBD log-likelihood of (x repeat transactions, the last at t_x, observed for T).

    Fader, Hardie & Lee (2005), eq. 6, in log space: ln A1 + ln A2 + ln(A3 + [x > 0] A4), the sum
    by logaddexp so that long histories (large x) neither overflow nor underflow.
    """
    from scipy.special import gammaln

    x = np.asarray(x, dtype=float)
    ln_a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    ln_a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    ln_a3, ln_a4 = _ln_a3_a4(r, alpha, a, b, x, t_x, big_t)
    return ln_a1 + ln_a2 + np.logaddexp(ln_a3, ln_a4)


def _ln_a3_a4(r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """ln A3 (alive at T) and ln A4 (dropped out after the last purchase; -inf without repeats) of eq. 6,
    shared by the log-likelihood and its gradient."""
    t_x, big_t = np.asarray(t_x, dtype=float), np.asarray(big_t, dtype=float)
    ln_a3 = -(r + x) * np.log(alpha + big_t)
    repeat = x > 0
    ln_a4 = np.full_like(x, -np.inf)
    ln_a4[repeat] = np.log(a) - np.log(b + x[repeat] - 1.0) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    return ln_a3, ln_a4


def conditional_expected_transactions(t: float, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, r: float,
                                      alpha: float, a: float, b: float) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected transactions in the next t of a customer with that history.

    Fader, Hardie & Lee (2005), eq. 10 (the one place hyp2f1 is needed). Its term
    (1 - z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z), z = t / (alpha + T + t), is taken through Euler's
    transformation as (1 - z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), which stays finite for long
    histories (x in the thousands), where the power underflows and 2F1 overflows.
    """
    from scipy.special import hyp2f1

    x = np.asarray(x, dtype=float)
    t_x, big_t = np.asarray(t_x, dtype=float), np.asarray(big_t, dtype=float)
    z = t / (alpha + big_t + t)
    head = (a + b + x - 1.0) / (a - 1.0)
    tail = 1.0 - (1.0 - z) ** (a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z)
    log_odds = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1.0, 1e-300))
                        + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x)), -np.inf)
    return head * tail * np.exp(-np.logaddexp(0.0, log_odds))  # / (1 + odds), without overflow


def gamma_gamma_log_likelihood(p: float, q: float, gamma: float, x: np.ndarray, mean_spend: np.ndarray
                               ) -> np.ndarray:
    """Each repeat customer's Gamma-Gamma log-likelihood of the mean spend of their x transactions.

    Fader, Hardie & Lee (2005b), "RFM and CLV", eq. 4 (the density of the mean of x Gamma(p, nu)
    spends, nu ~ Gamma(q, gamma)).
    """
    from scipy.special import gammaln

    x = np.asarray(x, dtype=float)
    z = np.asarray(mean_spend, dtype=float)
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gamma) + (px - 1.0) * np.log(z)
            + px * np.log(x) - (px + q) * np.log(gamma + x * z))


def bass_cumulative(t: np.ndarray, p: float, q: float) -> np.ndarray:
    """Bass (1969) cumulative adoption share F(t) = (1 - e^-(p+q)t) / (1 + (q/p) e^-(p+q)t)."""
    e = np.exp(-(p + q) * np.asarray(t, dtype=float))
    return (1.0 - e) / (1.0 + (q / p) * e)


def bgnbd_gradient(r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray
                   ) -> np.ndarray:
    """d(log-likelihood)/d(r, alpha, a, b) per customer (rows: customers), the derivative of eq. 6 with
    w the share of the A4 term (the customer dropped out after the last purchase) in A3 + A4."""
    from scipy.special import digamma

    x = np.asarray(x, dtype=float)
    t_x, big_t = np.asarray(t_x, dtype=float), np.asarray(big_t, dtype=float)
    ln_a3, ln_a4 = _ln_a3_a4(r, alpha, a, b, x, t_x, big_t)
    w = np.exp(ln_a4 - np.logaddexp(ln_a3, ln_a4))
    repeat = x > 0
    b_term = np.zeros_like(x)
    b_term[repeat] = 1.0 / (b + x[repeat] - 1.0)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - (1 - w) * np.log(alpha + big_t) - w * np.log(alpha + t_x)
    d_alpha = r / alpha - (r + x) * ((1 - w) / (alpha + big_t) + w / (alpha + t_x))
    d_a = digamma(a + b) - digamma(a + b + x) + w / a
    d_b = digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x) - w * b_term
    return np.column_stack([d_r, d_alpha, d_a, d_b])


def gamma_gamma_gradient(p: float, q: float, gamma: float, x: np.ndarray, mean_spend: np.ndarray) -> np.ndarray:
    """d(log-likelihood)/d(p, q, gamma) per repeat customer (rows), the derivative of eq. 4."""
    from scipy.special import digamma

    x = np.asarray(x, dtype=float)
    z = np.asarray(mean_spend, dtype=float)
    px = p * x
    log_base = np.log(gamma + x * z)
    d_p = x * (digamma(px + q) - digamma(px) + np.log(z) + np.log(x) - log_base)
    d_q = digamma(px + q) - digamma(q) + np.log(gamma) - log_base
    d_gamma = q / gamma - (px + q) / (gamma + x * z)
    return np.column_stack([d_p, d_q, d_gamma])
