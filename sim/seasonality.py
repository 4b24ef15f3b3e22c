"""Calendar of the run: the date of each day and the seasonal purchase-rate multiplier.

Peaks fall on a fixed MM-DD every year (Singles' Day 11-11, 6.18) or follow the calendar
(Black Friday: the day after the fourth Thursday of November; Cyber Monday: the Monday after);
an optional season (e.g. November-December) raises every day in it. The calibrated BG/NBD rate
is a year-average rate, so each calendar year's multipliers are divided by their mean over
that whole year (`normalise`): peaks move purchases into the peak days without adding any.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from sim.config import SeasonalityConfig


def dates(start: dt.date, days: int) -> list[dt.date]:
    return [start + dt.timedelta(days=d) for d in range(days)]


def black_friday(year: int) -> dt.date:
    """The day after US Thanksgiving (the fourth Thursday of November)."""
    first = dt.date(year, 11, 1)
    thursday = first + dt.timedelta(days=(3 - first.weekday()) % 7)
    return thursday + dt.timedelta(days=22)


def _peak_start(date: str, year: int) -> dt.date | None:
    if date == "black_friday":
        return black_friday(year)
    if date == "cyber_monday":
        return black_friday(year) + dt.timedelta(days=3)
    month, day = (int(x) for x in date.split("-"))
    try:
        return dt.date(year, month, day)
    except ValueError:  # e.g. 02-30: that peak does not happen this year
        return None


def _year_multipliers(cfg: SeasonalityConfig, year: int) -> tuple[dt.date, np.ndarray]:
    """Raw multipliers of every day of one calendar year (a season or peak that starts in the
    year before and runs into this one counts here too)."""
    first = dt.date(year, 1, 1)
    n = (dt.date(year + 1, 1, 1) - first).days
    mult = np.ones(n)

    def apply(start: dt.date | None, days: int, factor: float) -> None:
        if start is None:
            return
        lo = max((start - first).days, 0)
        hi = min((start - first).days + days, n)
        if hi > lo:
            mult[lo:hi] *= factor

    for y in (year - 1, year):
        if cfg.season is not None:
            lo, hi = _peak_start(cfg.season.start, y), _peak_start(cfg.season.end, y)
            if lo is not None and hi is not None and hi < lo:  # wraps the year end: ends next year
                hi = _peak_start(cfg.season.end, y + 1)
            if lo is not None and hi is not None:
                apply(lo, (hi - lo).days + 1, cfg.season.multiplier)
        for peak in cfg.peaks:
            apply(_peak_start(peak.date, y), peak.duration_days, peak.multiplier)
    return first, mult


def daily_multipliers(cfg: SeasonalityConfig, start: dt.date, days: int) -> np.ndarray:
    """Purchase-rate multiplier of each day of the run (averaging 1 over each calendar year when normalised)."""
    out = np.empty(days)
    cal = dates(start, days)
    for year in sorted({d.year for d in cal}):
        first, mult = _year_multipliers(cfg, year)
        if cfg.normalise:
            mult = mult / mult.mean()
        for i, date in enumerate(cal):
            if date.year == year:
                out[i] = mult[(date - first).days]
    return out


def month_ends(start: dt.date, days: int) -> np.ndarray:
    """Boolean per day: True when the next day starts a new calendar month."""
    cal = dates(start, days + 1)
    ends = np.array([cal[d + 1].day == 1 for d in range(days)])
    return ends
