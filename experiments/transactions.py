"""Transaction logs: read a platform's log (CSV, Parquet or the CDNOW text format), check it, and
summarise it per customer as the buy-till-you-die models need it (frequency, recency, age, spend).

Everything is columnar (pyarrow to read, numpy to summarise), so a 10-million-row log takes
seconds. Customer ids are replaced by integer codes on reading and never written anywhere.
Bad input raises ScenarioError naming the file, the column and what is allowed.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.arrays import run_starts
from sim.errors import ScenarioError

COLUMNS = ("customer_id", "date", "amount")
DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d")
UNIT_DAYS = {"week": 7, "day": 1}
EPOCH = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class Log:
    """One row per customer and day with a purchase (several transactions on a day combined into one,
    as the published CDNOW fits do): customer code, day (days since 1970-01-01) and amount."""

    source: str
    customer: np.ndarray  # int64 codes 0..n-1, in order of first appearance; no ids
    day: np.ndarray  # int64
    amount: np.ndarray  # float64, the day's total
    rows: int  # transactions as read, before combining a customer's same-day rows

    @property
    def first_date(self) -> np.datetime64:
        return EPOCH + int(self.day.min())

    @property
    def last_date(self) -> np.datetime64:
        return EPOCH + int(self.day.max())


def _cdnow_layout(path: Path) -> dict[str, int] | None:
    """Column positions if the file is in CDNOW's whitespace-separated layout (master: id, date,
    cds, dollars, with a header line; sample: master id, sample id, date, cds, dollars), else None."""
    with path.open("r", encoding="utf-8", errors="replace") as f:
        head = [f.readline() for _ in range(2)]
    if not head[0].strip() or "," in head[0] or ";" in head[0] or "\t" in head[0].strip():
        return None
    tokens = head[0].split()
    if tokens == ["customer_id", "date", "number_of_cds", "dollar_value"]:
        return {"header": 1, "customer_id": 0, "date": 1, "amount": 3, "width": 4}
    if len(tokens) == 5 and re.fullmatch(r"\d{8}", tokens[2]):
        return {"header": 0, "customer_id": 0, "date": 2, "amount": 4, "width": 5}
    if len(tokens) == 4 and re.fullmatch(r"\d{8}", tokens[1]):
        return {"header": 0, "customer_id": 0, "date": 1, "amount": 3, "width": 4}
    return None


def _read_table(path: Path, names: dict[str, str]):
    """The three columns as a pyarrow table (customer_id and date as text, amount as given)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise ScenarioError(str(path), None, f"not a readable Parquet file ({exc})") from None
        _check_names(path, list(schema.names), names)
        table = pq.read_table(path, columns=[names[c] for c in COLUMNS])
        return table.rename_columns(list(COLUMNS))
    layout = _cdnow_layout(path)
    if layout is not None:
        width = layout["width"]
        try:
            frame = pd.read_csv(path, sep=r"\s+", header=None, skiprows=layout["header"], dtype=str, engine="c",
                                names=range(width))
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise ScenarioError(str(path), None, f"CDNOW layout expects {width} columns on every line "
                                f"({str(exc).splitlines()[0]})") from None
        if frame.isna().any().any():
            row = int(np.flatnonzero(frame.isna().any(axis=1).to_numpy())[0])
            raise ScenarioError(str(path), None, f"line {row + 1 + layout['header']}: CDNOW layout expects {width} "
                                "columns on every line")
        return pa.table({c: pa.array(frame[layout[c]].to_numpy(dtype=object), pa.string()) for c in COLUMNS})
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as f:  # -sig: Excel's byte-order mark
        header = next(csv.reader([f.readline()]), [])
    if not header:
        raise ScenarioError(str(path), None, "the file is empty (expected a header line and one row per transaction)")
    as_written = {h.strip(): h for h in header}  # "customer_id, date" names its columns with the spaces
    _check_names(path, list(as_written), names)
    wanted = [as_written[names[c]] for c in COLUMNS]
    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            include_columns=wanted, column_types={wanted[0]: pa.string(), wanted[1]: pa.string()}))
    except pa.ArrowException as exc:
        raise ScenarioError(str(path), None, f"cannot read as CSV ({str(exc).splitlines()[0]})") from None
    return table.rename_columns(list(COLUMNS))


def _check_names(path: Path, present: list[str], names: dict[str, str]) -> None:
    missing = [f"{c} (column '{names[c]}')" for c in COLUMNS if names[c] not in present]
    if missing:
        raise ScenarioError(str(path), "columns", f"missing {', '.join(missing)}; the file has {present[:12]}. "
                            "Name them with --customer-column, --date-column, --amount-column")


def _days(path: Path, text, date_format: str | None) -> np.ndarray:
    """Dates as days since 1970-01-01, in the given format or the first of DATE_FORMATS that reads the
    first value; any value that does not parse is an error naming it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(text.type) or pa.types.is_date(text.type):  # typed dates (Parquet): no parsing;
        # a timestamp with a time zone counts by its UTC date
        return pc.cast(pc.cast(text, pa.date32()), pa.int32()).to_numpy().astype(np.int64)
    if not pa.types.is_string(text.type) and not pa.types.is_large_string(text.type):
        text = pc.cast(text, pa.string())  # e.g. 19970101 stored as an integer
    text = pc.utf8_trim_whitespace(text)
    first = next((v for v in text.slice(0, 1000).to_pylist() if v), None) if date_format is None else None
    formats = [date_format] if date_format else [f for f in DATE_FORMATS if _parses(first, f)]
    if not formats:
        raise ScenarioError(str(path), "date", f"cannot read the date {first!r}: give the dates as YYYY-MM-DD, "
                            "YYYYMMDD or YYYY-MM-DD HH:MM:SS, or name the format with --date-format")
    stamps = pc.strptime(text, format=formats[0], unit="s", error_is_null=True)
    bad = pc.is_null(stamps)
    if pc.any(bad).as_py():
        row = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])
        if date_format:
            raise ScenarioError(str(path), "date", f"data row {row + 1}: {text[row].as_py()!r} does not match "
                                f"--date-format {date_format!r} (a strptime format, e.g. %d/%m/%Y or %Y-%m-%d)")
        raise ScenarioError(str(path), "date", f"data row {row + 1}: {text[row].as_py()!r} is not a date in the format "
                            f"{formats[0]} (as the first rows are); fix the row or name the format with --date-format")
    return pc.cast(stamps, pa.int64()).to_numpy() // 86_400


def _parses(value: str | None, fmt: str) -> bool:
    import datetime as dt
    if value is None:
        return False
    try:
        dt.datetime.strptime(value.strip(), fmt)
        return True
    except ValueError:
        return False


def read_log(path: str | Path, columns: dict[str, str] | None = None, date_format: str | None = None) -> Log:
    """Read and check a transaction log; combine each customer's transactions of one day into one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    path = Path(path)
    names = {c: c for c in COLUMNS} | (columns or {})
    if not path.is_file():
        raise ScenarioError(str(path), None, "file not found" if not path.exists() else "not a file")
    if path.stat().st_size == 0:
        raise ScenarioError(str(path), None, "the file is empty (expected one row per transaction)")
    table = _read_table(path, names)
    table = pa.table({c: table[c].cast(table[c].type.value_type) if pa.types.is_dictionary(table[c].type)
                      else table[c] for c in COLUMNS})  # a pandas categorical written to Parquet: its values
    if table.num_rows == 0:
        raise ScenarioError(str(path), None, "no transactions (only a header)")
    for c in COLUMNS:
        nulls = table[c].null_count
        if nulls:
            raise ScenarioError(str(path), names[c], f"{nulls} empty value(s); every row needs a customer, a date "
                                "and an amount")
    amount = table["amount"]
    if not (pa.types.is_floating(amount.type) or pa.types.is_integer(amount.type) or pa.types.is_decimal(amount.type)):
        try:
            amount = pc.cast(pc.utf8_trim_whitespace(amount), pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ScenarioError(str(path), names["amount"], f"amounts must be numbers ({str(exc).splitlines()[0]})"
                                ) from None
    amount = pc.cast(amount, pa.float64()).to_numpy()
    if not np.isfinite(amount).all():
        raise ScenarioError(str(path), names["amount"], "amounts must be finite numbers")
    if (amount < 0).any():
        row = int(np.flatnonzero(amount < 0)[0])
        raise ScenarioError(str(path), names["amount"], f"{int((amount < 0).sum())} negative amount(s), the first "
                            f"in row {row + 1} ({amount[row]:g}); give refunds as their own records, not as "
                            "negative transactions, or drop them")
    day = _days(path, table["date"], date_format)
    ids = table["customer_id"]
    customer = pc.dictionary_encode(pc.cast(ids, pa.string())).combine_chunks().indices.to_numpy()
    rows = table.num_rows
    del table  # the text columns are done with: free them before sorting
    # one row per customer and day: sort by a key of customer, then day; sum each run of equal keys
    key = customer.astype(np.int64) * (int(day.max() - day.min()) + 1) + (day - day.min())
    del customer
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(run_starts(key))
    total = np.add.reduceat(amount[order], starts)
    del order
    span = int(day.max() - day.min()) + 1
    lead = key[starts]
    return Log(str(path), lead // span, lead % span + int(day.min()), total, rows)


@dataclass(frozen=True)
class Customers:
    """Per customer acquired by the calibration end: first purchase day, repeat transactions x in the
    calibration period, recency t_x and age T (in the time unit), mean spend of the repeats, and the
    transactions after the calibration end (the holdout)."""

    first_day: np.ndarray
    x: np.ndarray
    t_x: np.ndarray
    big_t: np.ndarray
    mean_repeat_spend: np.ndarray  # nan without repeats
    holdout_x: np.ndarray


def first_days(log: Log) -> np.ndarray:
    """Each customer's first purchase day (indexed by customer code)."""
    first = np.full(int(log.customer.max()) + 1, np.iinfo(np.int64).max)
    np.minimum.at(first, log.customer, log.day)
    return first


def summarise(log: Log, calibration_end: int, unit_days: int) -> Customers:
    """The RFM summary of the customers whose first purchase is on or before `calibration_end` (a day)."""
    first = first_days(log)
    n = first.size
    keep = first <= calibration_end
    in_cal = log.day <= calibration_end
    c_cal = log.customer[in_cal]
    count = np.bincount(c_cal, minlength=n)
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, c_cal, log.day[in_cal])
    spend = np.bincount(c_cal, weights=log.amount[in_cal], minlength=n)
    is_first = log.day == first[log.customer]
    first_spend = np.bincount(log.customer[is_first], weights=log.amount[is_first], minlength=n)
    holdout = np.bincount(log.customer[~in_cal], minlength=n)
    x = (count - 1)[keep]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_repeat = np.where(x > 0, (spend - first_spend)[keep] / np.maximum(x, 1), np.nan)
    return Customers(first[keep], x, (last - first)[keep] / unit_days, (calibration_end - first)[keep] / unit_days,
                     mean_repeat, holdout[keep])
