"""`run.py calibrate`: fit the shopper population to a platform's own transaction log.

Maximum likelihood with scipy: BG/NBD (r, alpha, a, b; Fader, Hardie & Lee 2005) on each
customer's frequency, recency and age, Gamma-Gamma (p, q, gamma; Fader, Hardie & Lee 2005b) on
repeat customers' mean spend, standard errors from the inverse Hessian of the log-likelihood;
the Bass (1969) curve of first purchases by nonlinear least squares (Srinivasan & Mason 1986)
where the log spans acquisition. With a calibration end, the fit is judged on the holdout it did
not see. A fit that does not converge is an error, never a result.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.transactions import EPOCH, UNIT_DAYS, Customers, Log, first_days, read_log, summarise
from sim.bgnbd import (
    bass_cumulative,
    bgnbd_gradient,
    bgnbd_log_likelihood,
    conditional_expected_transactions,
    expected_repeat_transactions,
    gamma_gamma_gradient,
    gamma_gamma_log_likelihood,
)
from sim.errors import ScenarioError

CORRELATION_WARNING = 0.3  # |corr(frequency, mean spend)| above this: Gamma-Gamma's independence is doubtful
FREQUENCY_CLASSES = 8  # holdout by calibration frequency 0, 1, ..., 6, 7+


@dataclass
class Fit:
    """Maximum-likelihood estimates with standard errors."""

    params: dict[str, float]
    se: dict[str, float]
    log_likelihood: float
    n: int


def _hessian(f, x: np.ndarray) -> np.ndarray:
    """Central-difference Hessian of f at x, steps relative to each coordinate."""
    h = 1e-4 * np.maximum(np.abs(x), 1e-3)
    k = x.size
    out = np.empty((k, k))
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            out[i, j] = out[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                4 * h[i] * h[j])
    return out


def _maximise(name: str, names: tuple[str, ...], negative_ll, start: np.ndarray, n: int, source: str,
              advice: str, negative_gradient=None) -> Fit:
    """Minimise the negative log-likelihood over log-parameters (positivity for free), then check it:
    the optimiser converged and the Hessian is positive definite, or the fit is refused. With the
    gradient, L-BFGS-B needs one evaluation per step instead of one per parameter and direction."""
    from scipy.optimize import minimize

    def in_logs(theta: np.ndarray) -> float:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # far from the optimum: +inf
            value = negative_ll(np.exp(theta))
        return float(value) if np.isfinite(value) else 1e300

    def gradient_in_logs(theta: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            g = np.exp(theta) * negative_gradient(np.exp(theta))  # chain rule: d/d(log phi) = phi d/d(phi)
        return np.where(np.isfinite(g), g, 0.0)

    best = None
    for method in ("L-BFGS-B", "Nelder-Mead"):
        options = {"maxiter": 20_000} | ({"xatol": 1e-9, "fatol": 1e-9} if method == "Nelder-Mead" else {})
        jac = gradient_in_logs if negative_gradient is not None and method == "L-BFGS-B" else None
        res = minimize(in_logs, start if best is None else best.x, method=method, jac=jac, options=options)
        if best is None or res.fun <= best.fun:
            best = res
        if res.success:
            break
    estimate = np.exp(best.x)
    hessian = _hessian(negative_ll, estimate)
    try:
        cov = np.linalg.inv(hessian)
        eig = np.linalg.eigvalsh(hessian)
    except (np.linalg.LinAlgError, ValueError):
        eig, cov = np.array([-1.0]), None
    finite = np.all(np.isfinite(hessian)) and np.all(np.isfinite(estimate))
    if not best.success or not finite or eig.min() <= 0 or estimate.max() > 1e8:
        raise ScenarioError(source, name, f"the maximum-likelihood fit did not converge: {advice} (optimiser: "
                            f"{best.message}; estimates "
                            f"{dict(zip(names, np.round(estimate, 4).tolist(), strict=True))})")
    se = np.sqrt(np.diag(cov))
    return Fit(dict(zip(names, estimate.tolist(), strict=True)), dict(zip(names, se.tolist(), strict=True)),
               -float(best.fun), n)


def fit_bgnbd(c: Customers, source: str) -> Fit:
    """BG/NBD by maximum likelihood on (x, t_x, T); customers with the same triple share one term."""
    groups = pd.DataFrame({"x": c.x, "t_x": c.t_x, "big_t": c.big_t}).groupby(
        ["x", "t_x", "big_t"], sort=False).size()  # hashing: a sort of millions of rows takes seconds
    weight = groups.to_numpy(dtype=float)
    x, t_x, big_t = (groups.index.get_level_values(k).to_numpy(dtype=float) for k in ("x", "t_x", "big_t"))

    def negative_ll(theta: np.ndarray) -> float:
        r, alpha, a, b = theta
        return -float(weight @ bgnbd_log_likelihood(r, alpha, a, b, x, t_x, big_t))

    def negative_gradient(theta: np.ndarray) -> np.ndarray:
        return -(weight @ bgnbd_gradient(*theta, x, t_x, big_t))

    return _maximise("bgnbd", ("r", "alpha", "a", "b"), negative_ll, np.zeros(4), len(c.x), source,
                     f"the log has {len(c.x):,} customers ({int((c.x > 0).sum()):,} with repeat purchases), and a fit "
                     "needs hundreds; otherwise try --time-unit week if it was day, a longer calibration period "
                     "(--calibration-end later), or check that the log holds repeat purchases of the same customer ids",
                     negative_gradient)


def fit_gamma_gamma(c: Customers, source: str) -> tuple[Fit, float, int]:
    """Gamma-Gamma by maximum likelihood on the repeat customers' mean repeat spend; the correlation of
    frequency and mean spend (the model assumes none); and how many repeat customers were left out because
    their repeat purchases were all free (Gamma spend is positive)."""
    repeat = c.x > 0
    free = int((repeat & (c.mean_repeat_spend <= 0)).sum())
    repeat &= c.mean_repeat_spend > 0
    if not repeat.any():
        raise ScenarioError(source, "amount", "no repeat customer has a positive mean repeat spend: there is no "
                            "spend to fit")
    x, z = c.x[repeat].astype(float), c.mean_repeat_spend[repeat]

    def negative_ll(theta: np.ndarray) -> float:
        p, q, gamma = theta
        return -float(gamma_gamma_log_likelihood(p, q, gamma, x, z).sum())

    def negative_gradient(theta: np.ndarray) -> np.ndarray:
        return -gamma_gamma_gradient(*theta, x, z).sum(axis=0)

    fit = _maximise("spend", ("p", "q", "gamma"), negative_ll, np.log([1.0, 2.0, max(float(np.mean(z)), 1e-3)]),
                    int(repeat.sum()), source, "spend may not be Gamma-Gamma: check for a few very large amounts or "
                    "for amounts in different currencies or units", negative_gradient)
    if fit.params["q"] <= 1:
        raise ScenarioError(source, "spend", f"the fitted q = {fit.params['q']:.3f} is not above 1, so mean spend is "
                            "infinite under the Gamma-Gamma model: spend is too heavy-tailed for it")
    corr = float(np.corrcoef(x, z)[0, 1]) if x.size > 2 and np.std(x) > 0 and np.std(z) > 0 else float("nan")
    return fit, corr, free


@dataclass
class Bass:
    fitted: bool
    note: str  # why it was not fitted, or what it was fitted on
    params: dict[str, float] = field(default_factory=dict)
    se: dict[str, float] = field(default_factory=dict)


def fit_bass(first_periods: np.ndarray, periods: int, unit: str) -> Bass:
    """Bass p, q and market potential m of the first-purchase curve (period adoptions
    n_t = m (F(t) - F(t - 1)), nonlinear least squares; Srinivasan & Mason 1986), if the log spans
    acquisition: first purchases go on into the last quarter of the log. A log whose customers all
    first bought early (a cohort chosen by its first purchase, as CDNOW's) says nothing about it."""
    from scipy.optimize import curve_fit

    last_first, span = int(first_periods.max()), int(np.unique(first_periods).size)
    if last_first < 0.75 * periods:
        return Bass(False, f"a single cohort: every first purchase falls in the first {last_first + 1} of the "
                           f"{periods} {unit}s fitted, so the log follows customers acquired in one window and says "
                           "nothing about how acquisition evolves; acquisition keeps the scenario's Bass parameters")
    if span < 8:
        return Bass(False, f"first purchases fall in only {span} distinct {unit}s, too few to fit a Bass curve; "
                           "acquisition keeps the scenario's Bass parameters")
    adopters = np.bincount(first_periods, minlength=last_first + 1).astype(float)
    t = np.arange(1, adopters.size + 1, dtype=float)

    def per_period(t: np.ndarray, m: float, p: float, q: float) -> np.ndarray:
        return m * (bass_cumulative(t, p, q) - bass_cumulative(t - 1.0, p, q))

    total = adopters.sum()
    try:
        est, cov = curve_fit(per_period, t, adopters, p0=(total * 1.5, 0.01, 0.1),
                             bounds=([total, 1e-7, 0.0], [total * 1000, 1.0, 5.0]), maxfev=20_000)
    except (RuntimeError, ValueError) as exc:
        return Bass(False, f"the Bass curve did not fit the first purchases ({exc}); acquisition keeps the "
                           "scenario's Bass parameters")
    se = np.sqrt(np.diag(cov))
    names = ("m", "p", "q")
    return Bass(True, f"first purchases spread over {span} {unit}s", dict(zip(names, est.tolist(), strict=True)),
                dict(zip(names, se.tolist(), strict=True)))


@dataclass
class Calibration:
    source: str
    unit: str
    start: dt.date
    calibration_end: dt.date
    end: dt.date
    log_rows: int
    transactions: int  # after combining same-day rows
    customers: int
    repeat_customers: int  # at least one repeat purchase in the calibration period
    later_customers: int  # first purchase after the calibration end: not in the fit
    bgnbd: Fit
    spend: Fit
    correlation: float
    bass: Bass
    tracking: pd.DataFrame  # per period: actual and model cumulative repeat transactions
    conditional: pd.DataFrame | None  # holdout by calibration frequency (with a holdout only)
    warnings: list[str]
    first_purchases: pd.DataFrame | None = None  # date, customers: the calibration customers' first purchases
    observed: dict[str, float] | None = None  # the log over the calibration period (log_figures)
    simulated_cumulative: pd.DataFrame | None = None  # compare_with_log: each run's cumulative repeat purchases

    def holdout_summary(self) -> dict[str, Any] | None:
        if self.conditional is None:
            return None
        hold = self.tracking[self.tracking["holdout"]]
        base = self.tracking[~self.tracking["holdout"]].iloc[-1]
        actual = float(hold["actual_cumulative"].iloc[-1] - base["actual_cumulative"])
        model = float(hold["model_cumulative"].iloc[-1] - base["model_cumulative"])
        return {"periods": int(len(hold)), "actual_repeat_transactions": actual, "forecast_repeat_transactions": model,
                "error_percent": 100.0 * (model / actual - 1.0) if actual else None,
                "actual_cumulative_end": float(hold["actual_cumulative"].iloc[-1]),
                "forecast_cumulative_end": float(hold["model_cumulative"].iloc[-1])}


def _date(value: np.datetime64) -> dt.date:
    return pd.Timestamp(value).date()


def calibrate(path: str | Path, calibration_end: str | None = None, unit: str = "week",
              columns: dict[str, str] | None = None, date_format: str | None = None) -> Calibration:
    """Read, summarise and fit a transaction log; with `calibration_end` (YYYY-MM-DD), forecast the rest."""
    log = read_log(path, columns, date_format)
    source, unit_days = str(path), UNIT_DAYS[unit]
    if calibration_end is None:
        end_day = int(log.day.max())
    else:
        try:
            end_day = int((np.datetime64(dt.date.fromisoformat(calibration_end), "D") - EPOCH).astype(int))
        except ValueError:
            raise ScenarioError("--calibration-end", None, f"{calibration_end!r} is not a date YYYY-MM-DD") from None
        if not log.day.min() <= end_day < log.day.max():
            raise ScenarioError("--calibration-end", None, f"{calibration_end} is outside the log, which runs from "
                                f"{_date(log.first_date)} to {_date(log.last_date)}: choose a date on or after the "
                                "first and before the last, to leave a holdout")
    customers = summarise(log, end_day, unit_days)
    if customers.x.sum() == 0:
        raise ScenarioError(source, None, "no customer buys twice in the calibration period: there are no repeat "
                            "purchases to fit (check that customer ids are stable across transactions)")
    bg = fit_bgnbd(customers, source)
    spend, corr, free = fit_gamma_gamma(customers, source)
    warnings = []
    if free:
        warnings.append(f"{free} repeat customer(s) whose repeat purchases were all free (amount 0) are left out of "
                        "the spend fit (Gamma-Gamma spend is positive); they stay in the BG/NBD fit")
    if np.isfinite(corr) and abs(corr) > CORRELATION_WARNING:
        warnings.append(f"frequency and mean spend correlate ({corr:+.2f}): the Gamma-Gamma model assumes they are "
                        "independent, so spend forecasts by frequency are biased")
    start_day = int(log.day.min())
    periods = (end_day - start_day) // unit_days + 1  # Bass sees the calibration period only, like the others
    bass = fit_bass((customers.first_day - start_day) // unit_days, periods, unit)
    tracking = _tracking(log, customers, bg, start_day, end_day, unit_days)
    conditional = None
    if calibration_end is not None:
        conditional = _conditional(customers, bg, (int(log.day.max()) - end_day) / unit_days)
    days, counts = np.unique(customers.first_day, return_counts=True)
    first_purchases = pd.DataFrame({"date": [_date(EPOCH + int(d)) for d in days], "customers": counts})
    in_cal = log.day <= end_day
    observed = log_figures(log.customer[in_cal], log.day[in_cal], log.amount[in_cal])
    return Calibration(source, unit, _date(log.first_date), _date(EPOCH + end_day), _date(log.last_date), log.rows,
                       int(log.day.size), int(customers.x.size), int((customers.x > 0).sum()),
                       int(log.customer.max()) + 1 - int(customers.x.size),
                       bg, spend, corr, bass, tracking, conditional, warnings, first_purchases, observed)


def log_figures(customer: np.ndarray, day: np.ndarray, amount: np.ndarray) -> dict[str, float]:
    """What a transaction log says at a glance (one row per customer and day): customers, transactions,
    GMV, average order, the share of customers who bought again, repeat transactions, spend quantiles."""
    customers, per = np.unique(customer, return_counts=True)
    q10, q50, q90 = (np.quantile(amount, [0.1, 0.5, 0.9]) if amount.size else (np.nan,) * 3)
    return {"customers": float(customers.size), "transactions": float(day.size),
            "repeat_transactions": float(day.size - customers.size), "gmv": float(amount.sum()),
            "average_order": float(amount.mean()) if amount.size else np.nan,
            "repeat_customer_share": float((per > 1).mean()) if per.size else np.nan,
            "spend_p10": float(q10), "spend_median": float(q50), "spend_p90": float(q90)}


def _tracking(log: Log, c: Customers, fit: Fit, start_day: int, end_day: int, unit_days: int) -> pd.DataFrame:
    """Cumulative repeat transactions of the calibration customers at each period's end: the log's and
    the fitted model's (the sum over customers of E[X(t - first purchase)], Fader, Hardie & Lee eq. 9)."""
    first = first_days(log)
    cohort = first <= end_day
    repeat = cohort[log.customer] & (log.day > first[log.customer])
    last_day = int(log.day.max())
    # periods end on the calibration end and every unit before and after it (a partial one at either edge)
    before = end_day - unit_days * np.arange((end_day - start_day) // unit_days + 1)[::-1]
    after = end_day + unit_days * np.arange(1, (last_day - end_day) // unit_days + 1)
    ends = np.concatenate([before, after, [last_day] if (last_day - end_day) % unit_days else []]).astype(np.int64)
    actual = np.searchsorted(np.sort(log.day[repeat]), ends, side="right")
    firsts, count = np.unique(c.first_day, return_counts=True)
    age = np.clip((ends[:, None] - firsts[None, :]) / unit_days, 0.0, None)
    model = expected_repeat_transactions(age, **fit.params) @ count
    return pd.DataFrame({"period": np.arange(1, ends.size + 1), "period_end": [_date(EPOCH + int(e)) for e in ends],
                         "actual_cumulative": actual.astype(float), "model_cumulative": model,
                         "holdout": ends > end_day})


def _conditional(c: Customers, fit: Fit, horizon: float) -> pd.DataFrame:
    """Mean holdout transactions by calibration-period repeat frequency (0, 1, ..., 7+): the log's and the
    model's conditional expectation E[Y(t) | x, t_x, T] (Fader, Hardie & Lee eq. 10)."""
    expected = conditional_expected_transactions(horizon, c.x, c.t_x, c.big_t, **fit.params)
    group = np.minimum(c.x, FREQUENCY_CLASSES - 1)
    rows = []
    for g in range(FREQUENCY_CLASSES):
        members = group == g
        if members.any():
            rows.append({"frequency": f"{g}+" if g == FREQUENCY_CLASSES - 1 else str(g),
                         "customers": int(members.sum()), "actual_mean": float(c.holdout_x[members].mean()),
                         "model_mean": float(expected[members].mean())})
    return pd.DataFrame(rows)


def _rounded(d: dict[str, float]) -> dict[str, float | None]:
    """Six significant figures; a value that is not finite (an inestimable standard error) as null."""
    return {k: float(f"{v:.6g}") if np.isfinite(v) else None for k, v in d.items()}


def calibration_json(cal: Calibration) -> dict[str, Any]:
    """calibration.json: the fitted values at the top (r, alpha, a, b, p, q, gamma), then their standard
    errors, log-likelihoods, counts, period and time unit; no customer id."""
    out: dict[str, Any] = {**_rounded(cal.bgnbd.params), **_rounded(cal.spend.params)}
    out["standard_errors"] = {**_rounded(cal.bgnbd.se), **_rounded(cal.spend.se)}
    out["log_likelihood"] = {"bgnbd": round(cal.bgnbd.log_likelihood, 3), "spend": round(cal.spend.log_likelihood, 3)}
    out.update({
        "customers": cal.customers, "repeat_customers": cal.repeat_customers, "spend_customers": cal.spend.n,
        "transactions": cal.transactions,
        "log_rows": cal.log_rows, "customers_after_calibration_end": cal.later_customers,
        "period": {"start": str(cal.start), "calibration_end": str(cal.calibration_end), "end": str(cal.end)},
        "time_unit": cal.unit,
        "frequency_spend_correlation": round(cal.correlation, 4) if np.isfinite(cal.correlation) else None,
        "bass": {"fitted": cal.bass.fitted, "note": cal.bass.note, **({
            "per": cal.unit, **_rounded(cal.bass.params),
            "standard_errors": _rounded(cal.bass.se)} if cal.bass.fitted else {})},
        "holdout": cal.holdout_summary(), "warnings": cal.warnings, "source": os.path.basename(cal.source),
        "method": "maximum likelihood (scipy.optimize), standard errors from the inverse Hessian; BG/NBD and "
                  "Gamma-Gamma: Fader, Hardie & Lee (2005, 2005b); Bass: Srinivasan & Mason (1986)",
    })
    return out


FIRST_PURCHASES = "first_purchases.csv"


def _market_spend_factor() -> float:
    """What the baseline market multiplies a shopper's Gamma-Gamma spend by on average: its segments' spend
    multipliers x the price level of the categories they buy (at today's personalisation). The fitted
    scale gamma is divided by it, so that the simulated average order is the log's."""
    from experiments.library import scenario_file
    from sim.scenario_io import load_scenario

    base = load_scenario(scenario_file("baseline.yaml"))
    cats = base.catalog.categories
    share = np.array([c.demand_share for c in cats])
    share = share / share.sum()
    level = np.array([c.price_level for c in cats])
    p = base.choice.personalisation
    factor = 0.0
    for seg in base.shoppers.segments:
        own = share * np.array([seg.category_preferences.get(c.name, 1.0) for c in cats])
        mix = p * own / own.sum() + (1.0 - p) * share
        factor += seg.share * seg.spend_multiplier * float(mix @ level)
    return factor


def calibrated_yaml(cal: Calibration) -> str:
    """A scenario that extends the shipped baseline, sets the fitted values (per week: the model's unit) and
    the log's own scale: its customers make their first purchases on their own dates (first_purchases.csv,
    acquisition.schedule_file), over the calibration period from its first day, as a market of its own
    (no sample of the baseline's platform, no initial customers, no paid marketing), so that running it
    reproduces the log's customers, orders and GMV (log_comparison.csv says how closely)."""
    import yaml

    to_week = UNIT_DAYS["week"] / UNIT_DAYS[cal.unit]  # a rate per day is 7 times that per week
    bg = cal.bgnbd.params
    days = (cal.calibration_end - cal.start).days + 1
    data: dict[str, Any] = {
        "extends": "baseline.yaml",  # the shipped baseline, copied beside it: the folder stands alone
        "name": "calibrated",
        "description": f"The baseline market with shoppers fitted to {os.path.basename(cal.source)} "
                       f"({cal.customers:,} customers, {cal.start} to {cal.calibration_end}; run.py calibrate), "
                       "at the log's scale: its customers join on their own first-purchase dates.",
        "simulation": {"start_date": cal.start.isoformat(), "days": days, "warmup_days": 0},
        "shoppers": {
            "count": int(cal.customers), "represents": None, "initial_customer_share": 0.0,
            # the purchase rate lambda ~ Gamma(r, alpha): per week, alpha scales as 1 / rate
            "bgnbd": {"r": float(f"{bg['r']:.6g}"), "alpha": float(f"{bg['alpha'] / to_week:.6g}"),
                      "a": float(f"{bg['a']:.6g}"), "b": float(f"{bg['b']:.6g}")},
            "spend": _rounded(cal.spend.params),
        },
        "acquisition": {"innovation_p": 0.0, "imitation_q": 0.0, "schedule_file": FIRST_PURCHASES},
        "platform": {"marketing_spend_per_day": 0},
        # the log's market as its customers met it: the fit already holds the service they had, so stock,
        # exits and disappointments do not take more orders away (set them back for what-ifs about them)
        "merchants": {"unlimited_stock": True, "exit": {"min_age_days": 3650}, "entry": {"monthly_rate": 0.0}},
        "seasonality": {"peaks": [], "season": None},  # the BG/NBD fit has none: its rate is the period's average
    }
    data["shoppers"]["experience"] = {"purchase_sensitivity": 0.0, "dropout_sensitivity": 0.0}
    data["shoppers"]["spend"]["gamma"] = float(f"{cal.spend.params['gamma'] / _market_spend_factor():.6g}")
    head = (f"# Fitted by run.py calibrate on {os.path.basename(cal.source)}; standard errors and the holdout check "
            "in calibration.json.\n# BG/NBD alpha is per week here (the model's time unit).\n"
            f"# The log's scale: {cal.customers:,} customers joining on their own dates ({FIRST_PURCHASES}).\n")
    if cal.bass.fitted:  # per day, as the model's acquisition is; the fitted curve holds every join, paid ones too
        per_day = UNIT_DAYS[cal.unit]
        head += (f"# To simulate past the log, replace the schedule by the fitted Bass curve: acquisition.innovation_p "
                 f"{cal.bass.params['p'] / per_day:.6g}, imitation_q {cal.bass.params['q'] / per_day:.6g} per day, "
                 f"shoppers.count {cal.bass.params['m']:,.0f} (the market potential m).\n")
    return head + yaml.safe_dump(data, sort_keys=False)


def compare_with_log(cal: Calibration, scenario_path: Path, replications: int = 5) -> pd.DataFrame:
    """Run the calibrated scenario (`replications` seeds) and set its transaction logs beside the user's over
    the calibration period: customers, transactions, repeat transactions, GMV, average order, repeat
    customers' share, spend quantiles; the simulated figures are the mean over the runs, with their
    lowest and highest (log_comparison.csv)."""
    from sim.runner import run_scenario
    from sim.scenario_io import load_scenario

    runs, cumulative = [], []
    ends = pd.to_datetime(cal.tracking.loc[~cal.tracking["holdout"], "period_end"])
    for seed in range(1, replications + 1):
        tx = run_scenario(load_scenario(scenario_path, [f"seed={seed}"]), transactions=True).transactions
        runs.append(log_figures(tx["customer_id"].to_numpy(), tx["day"].to_numpy(), tx["amount"].to_numpy()))
        first = tx.groupby("customer_id")["day"].transform("min")
        repeat_dates = np.sort(tx.loc[tx["day"] > first, "date"].to_numpy())
        cumulative.append(np.searchsorted(repeat_dates, ends.to_numpy(), side="right"))
    cal.simulated_cumulative = pd.DataFrame({"period_end": ends.dt.date, **{
        f"run_{i + 1}": c for i, c in enumerate(cumulative)}})
    rows = []
    for k, v in cal.observed.items():
        sim = np.array([r[k] for r in runs])
        rows.append({"figure": k, "log": v, "simulated": float(sim.mean()), "simulated_low": float(sim.min()),
                     "simulated_high": float(sim.max()),
                     "difference_percent": 100.0 * (float(sim.mean()) / v - 1.0) if v else np.nan})
    return pd.DataFrame(rows)


def write(cal: Calibration, out: str | Path, simulate: bool = True) -> Path:
    """DIR/calibration.json, calibrated.yaml (with the baseline.yaml it extends and the first purchases it
    replays), tracking.csv, conditional.csv (with a holdout), log_comparison.csv (with `simulate`: the
    calibrated scenario's run against the log), charts/ and manifest.json, written atomically."""
    import shutil
    import sys

    from experiments.calibration_charts import calibration_conditional, calibration_tracking
    from experiments.library import scenario_file
    from sim import __version__
    from sim.outputs import atomic_folder, write_json

    out = Path(out)
    with atomic_folder(out) as tmp:
        write_json(tmp / "calibration.json", calibration_json(cal))
        (tmp / "calibrated.yaml").write_text(calibrated_yaml(cal), encoding="utf-8")
        shutil.copyfile(scenario_file("baseline.yaml"), tmp / "baseline.yaml")
        cal.first_purchases.to_csv(tmp / FIRST_PURCHASES, index=False)
        comparison = compare_with_log(cal, tmp / "calibrated.yaml") if simulate else None
        if comparison is not None:
            comparison.to_csv(tmp / "log_comparison.csv", index=False)
        write_json(tmp / "manifest.json", {"command": sys.argv, "ecomsim_version": __version__,
                                           "source": os.path.basename(cal.source), "time_unit": cal.unit})
        cal.tracking.to_csv(tmp / "tracking.csv", index=False)
        charts = tmp / "charts"
        charts.mkdir()
        title = (f"{os.path.basename(cal.source)}: {cal.customers:,} customers, calibration {cal.start} to "
                 f"{cal.calibration_end}" + (f", holdout to {cal.end}" if cal.conditional is not None else ""))
        calibration_tracking(cal.tracking, cal.unit, cal.holdout_summary(), title, charts / "tracking.png")
        if comparison is not None:
            from experiments.calibration_charts import log_comparison_chart
            log_comparison_chart(comparison, cal.tracking, cal.simulated_cumulative, title,
                                 charts / "log_comparison.png")
        if cal.conditional is not None:
            cal.conditional.to_csv(tmp / "conditional.csv", index=False)
            calibration_conditional(cal.conditional, cal.unit, title, charts / "conditional.png")
    return out


def format_summary(cal: Calibration) -> str:
    """What `calibrate` prints: the estimates with standard errors, and the holdout check."""
    lines = [f"fitted on {cal.start} to {cal.calibration_end}: {cal.customers:,} customers ({cal.repeat_customers:,} "
             f"with repeat purchases), time unit: {cal.unit}; the log: {cal.log_rows:,} rows, {cal.transactions:,} "
             f"transactions (a customer's rows of one day combined) to {cal.end}"]
    for title, fit in (("BG/NBD", cal.bgnbd), ("Gamma-Gamma spend", cal.spend)):
        est = ", ".join(f"{k} = {v:.4g} ({fit.se[k]:.2g})" for k, v in fit.params.items())
        lines.append(f"{title}: {est}; log-likelihood {fit.log_likelihood:,.2f}")
    lines.append(f"frequency-spend correlation: {cal.correlation:+.3f}")
    if cal.bass.fitted:
        b = cal.bass.params
        lines.append(f"Bass: p = {b['p']:.4g}, q = {b['q']:.4g} per {cal.unit}, m = {b['m']:,.0f}")
    else:
        lines.append(f"Bass: not fitted, {cal.bass.note}")
    hold = cal.holdout_summary()
    if hold:
        error = "" if hold["error_percent"] is None else f" ({hold['error_percent']:+.1f}%)"
        lines.append(f"holdout ({hold['periods']} {cal.unit}s to {cal.end}): "
                     f"actual {hold['actual_repeat_transactions']:,.0f} repeat transactions, "
                     f"forecast {hold['forecast_repeat_transactions']:,.0f}{error}")
        for row in cal.conditional.itertuples():
            lines.append(f"  calibration frequency {row.frequency:>2}: {row.customers:6,} customers, holdout mean "
                         f"actual {row.actual_mean:.3f}, forecast {row.model_mean:.3f}")
    lines += [f"warning: {w}" for w in cal.warnings]
    return "\n".join(lines)
