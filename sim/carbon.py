"""Carbon accounting per stage from a factor table shipped as data (sim/data/carbon_factors.csv).

Stages: production (per unit), line-haul (per tonne-km, by transport mode), last mile (per km,
by vehicle), packaging (per parcel, by type) and warehousing (per order). Each factor carries
its source and year in the table; docs/parameters.md lists them. A scenario may point to its
own table (`carbon.factors_file`) with the same columns.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sim.errors import ScenarioError

if TYPE_CHECKING:
    from sim.config import MarketConfig

DEFAULT_FACTORS = Path(__file__).resolve().parent / "data" / "carbon_factors.csv"
STAGES = ("production", "line_haul", "last_mile", "packaging", "warehousing")
UNITS = {  # the unit each stage's factors must be given in (checked when a table is read)
    "production": "multiplier on suppliers.carbon_kg_per_unit",
    "line_haul": "kg CO2e per tonne-km",
    "last_mile": "kg CO2e per km",
    "packaging": "kg CO2e per parcel",
    "warehousing": "kg CO2e per order",
}
COLUMNS = ("stage", "key", "factor", "unit", "source", "year")


@dataclass(frozen=True)
class Factor:
    stage: str
    key: str
    value: float
    unit: str
    source: str
    year: str


class FactorTable:
    """Emission factors by (stage, key)."""

    def __init__(self, factors: dict[tuple[str, str], Factor], path: Path, sha256: str) -> None:
        self.factors = factors
        self.path = path
        self.sha256 = sha256

    def keys(self, stage: str) -> list[str]:
        return sorted(k for s, k in self.factors if s == stage)

    def has(self, stage: str, key: str) -> bool:
        return (stage, key) in self.factors

    def __call__(self, stage: str, key: str) -> float:
        return self.factors[(stage, key)].value


def load_factors(path: str | None = None) -> FactorTable:
    """Read and check a factor table; bad files raise ScenarioError naming the row and column. Read
    once per version of the file (a long-lived process sees an edited file anew)."""
    file = Path(path) if path else DEFAULT_FACTORS
    if not file.is_file():
        raise ScenarioError(str(file), "carbon.factors_file", "file not found")
    stat = file.stat()
    return _read_factors(str(file), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _read_factors(source: str, mtime_ns: int, size: int) -> FactorTable:
    file = Path(source)
    try:
        with file.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ScenarioError(source, None, f"cannot read the factor table: {exc}") from None
    if not rows or set(COLUMNS) - set(rows[0]):
        raise ScenarioError(source, None, f"a factor table needs the columns {', '.join(COLUMNS)}")
    factors: dict[tuple[str, str], Factor] = {}
    for i, row in enumerate(rows, start=2):  # line 1 is the header
        where = f"line {i}"
        if row["stage"] not in STAGES:
            raise ScenarioError(source, f"{where}.stage",
                                f"unknown stage {row['stage']!r}; allowed: {', '.join(STAGES)}")
        try:
            value = float(row["factor"])
        except (TypeError, ValueError):
            raise ScenarioError(source, f"{where}.factor", f"not a number: {row['factor']!r}") from None
        if not value >= 0.0:
            raise ScenarioError(source, f"{where}.factor", f"must be >= 0 (got {value})")
        if (row.get("unit") or "").strip() != UNITS[row["stage"]]:
            raise ScenarioError(source, f"{where}.unit", f"{row['stage']} factors must be in "
                                f"'{UNITS[row['stage']]}' (got {row.get('unit')!r})")
        if not (row.get("source") or "").strip():
            raise ScenarioError(source, f"{where}.source", "every factor needs its source")
        key = (row["stage"], row["key"])
        if key in factors:
            raise ScenarioError(source, where, f"duplicate factor {key[0]}/{key[1]}")
        factors[key] = Factor(row["stage"], row["key"], value, row["unit"], row["source"], row["year"] or "")
    return FactorTable(factors, file, hashlib.sha256(file.read_bytes()).hexdigest())


class CarbonTally:
    """kg CO2e per stage: today's and the run's totals."""

    def __init__(self) -> None:
        self.today: dict[str, float] = defaultdict(float)
        self.totals: dict[str, float] = defaultdict(float)

    def add(self, stage: str, kg: float) -> None:
        if stage not in STAGES:
            raise KeyError(f"unknown carbon stage {stage!r}")
        self.today[stage] += float(kg)
        self.totals[stage] += float(kg)

    def restart(self) -> None:
        """Start the run's totals afresh (the end of a warm-up)."""
        self.totals = defaultdict(float)

    def today_total(self) -> float:
        return sum(self.today.values())

    def close_day(self) -> dict[str, float]:
        day = {stage: self.today.get(stage, 0.0) for stage in STAGES}
        self.today = defaultdict(float)
        return day


def check_factor_coverage(scenario: MarketConfig, source: str,
                          policy_needs: list[tuple[str, str, str]] | None = None) -> None:
    """Every mode, vehicle and packaging the scenario can use (its policies' needs too) has a factor."""
    try:
        table = load_factors(scenario.carbon.factors_file)
    except ScenarioError as exc:
        if exc.field == "carbon.factors_file":  # the scenario named a file that is not there
            raise ScenarioError(source, "carbon.factors_file", f"{exc.source}: file not found") from None
        raise
    lg = scenario.logistics
    needed = [("line_haul", scenario.suppliers.transport_mode, "suppliers.transport_mode"),
              ("production", "default", "suppliers.carbon_kg_per_unit"),
              ("warehousing", "default", "carbon.factors_file"),
              ("last_mile", lg.carrier_vehicle, "logistics.carrier_vehicle"),
              ("packaging", lg.packaging, "logistics.packaging")]
    needed += [("last_mile", v, f"logistics.fleet.{v}") for v in lg.fleet]
    needed += policy_needs or []
    for stage, key, field in needed:
        if not table.has(stage, key):
            raise ScenarioError(source, field, f"no {stage} emission factor for {key!r} in {table.path}; "
                                f"factors there: {', '.join(table.keys(stage)) or 'none'}")
