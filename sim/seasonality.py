"""Calendar of the run: the date of each day and the seasonal purchase-rate multiplier."""

from __future__ import annotations

import datetime as dt

import numpy as np

from sim.config import SeasonalityConfig


def dates(start: dt.date, days: int) -> list[dt.date]:
    return [start + dt.timedelta(days=d) for d in range(days)]


def daily_multipliers(cfg: SeasonalityConfig, start: dt.date, days: int) -> np.ndarray:
    """Purchase-rate multiplier per day: 1 except on configured peaks (which multiply)."""
    mult = np.ones(days)
    cal = dates(start, days)
    for peak in cfg.peaks:
        month, day = (int(x) for x in peak.date.split("-"))
        for d, date in enumerate(cal):
            for offset in range(peak.duration_days):
                first = _safe_date(date.year, month, day)
                if first is not None and date == first + dt.timedelta(days=offset):
                    mult[d] *= peak.multiplier
    return mult


def month_ends(start: dt.date, days: int) -> np.ndarray:
    """Boolean per day: True when the next day starts a new calendar month."""
    cal = dates(start, days + 1)
    ends = np.array([cal[d + 1].day == 1 for d in range(days)])
    return ends


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:  # e.g. 02-30: that peak does not happen this year
        return None
