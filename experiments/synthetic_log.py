"""A transaction log drawn straight from the BG/NBD and Gamma-Gamma models (no marketplace), for the
calibration benchmark and for checking the estimator on data of known parameters.

`python -m experiments.synthetic_log OUT.csv --customers 1000000 --weeks 104` writes one: customers
first buy on a uniform day of the first `acquisition_weeks`, then buy as a Poisson process of rate
lambda ~ Gamma(r, alpha) per week, at most once a day (as the model and the merged CDNOW data), and
drop out after each repeat purchase with probability p ~ Beta(a, b); each spends Gamma(p_s, nu)
with nu ~ Gamma(q, gamma). Vectorised: 10 million rows in seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sim.arrays import rank_in_runs, run_starts


def synthetic_log(customers: int, weeks: int, seed: int = 0, acquisition_weeks: int = 12,
                  bgnbd: tuple[float, float, float, float] = (0.243, 4.414, 0.793, 2.426),
                  spend: tuple[float, float, float] = (6.25, 3.74, 15.44)) -> pd.DataFrame:
    """customer_id, day (integer days from 0) and amount, sorted by customer and day."""
    r, alpha, a, b = bgnbd
    p_s, q, gamma = spend
    rng = np.random.default_rng(seed)
    days = weeks * 7
    first = rng.integers(0, acquisition_weeks * 7, customers)
    rate = rng.gamma(r, 1.0 / alpha, customers) / 7.0  # per day
    drop = rng.beta(a, b, customers)
    scale = rng.gamma(q, 1.0 / gamma, customers)  # nu: spend per transaction ~ Gamma(p_s, rate nu)
    span = days - 1 - first
    events = rng.poisson(rate * span)  # repeat purchase times: uniform on (first, end] given their number
    owner = np.repeat(np.arange(customers), events)
    when = first[owner] + 1 + np.floor(rng.random(owner.size) * span[owner]).astype(np.int64)
    order = np.lexsort((when, owner))
    owner, when = owner[order], when[order]
    keep = run_starts(owner, when)  # once a day at most
    owner, when = owner[keep], when[keep]
    rank = rank_in_runs(owner)  # each repeat purchase's number, from 0, within its customer's
    lives = rng.geometric(drop)  # the repeat purchase after which the customer drops out
    alive = rank < lives[owner]
    owner = np.concatenate([np.arange(customers), owner[alive]])
    when = np.concatenate([first, when[alive]])
    amount = rng.gamma(p_s, 1.0 / scale[owner])
    order = np.lexsort((when, owner))
    return pd.DataFrame({"customer_id": owner[order], "day": when[order], "amount": np.round(amount[order], 2)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.synthetic_log", description=__doc__.split("\n")[0])
    parser.add_argument("out", help="CSV or Parquet file to write")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate-multiplier", type=float, default=1.0,
                        help="multiplies the purchase rate (alpha / this): more rows per customer")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    log = synthetic_log(args.customers, args.weeks, args.seed, bgnbd=(r, alpha / args.rate_multiplier, a, b))
    log = log.assign(date=pd.Timestamp("2024-01-01") + pd.to_timedelta(log.pop("day"), unit="D"))[
        ["customer_id", "date", "amount"]]
    out = Path(args.out)
    if out.suffix == ".parquet":
        log.to_parquet(out, index=False)
    else:
        log.to_csv(out, index=False, date_format="%Y-%m-%d")
    print(f"wrote {out}: {len(log):,} rows, {args.customers:,} customers, {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
