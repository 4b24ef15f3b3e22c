"""Charts of a run: titled, labelled with units, honest axes (zero-based where it is a level)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def kpi_timeseries(daily: pd.DataFrame, title: str, currency: str, path: Path) -> None:
    """Four panels: GMV, customers, cumulative profit, supply; one PNG."""
    dates = pd.to_datetime(daily["date"])
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5), sharex=True, constrained_layout=True)
    ax = axes[0, 0]
    ax.plot(dates, daily["gmv"], color="#9bbbd9", lw=0.8, label="daily")
    ax.plot(dates, daily["gmv"].rolling(7, min_periods=1).mean(), color="#1f5f99", lw=1.8,
            label="7-day mean")
    ax.set_title("GMV per day")
    ax.set_ylabel(currency)
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)

    ax = axes[0, 1]
    ax.plot(dates, daily["customers_total"], color="#1f5f99", lw=1.8, label="customers (cumulative)")
    ax.plot(dates, daily["active_customers"], color="#d9822b", lw=1.8, label="active (bought < dormancy window)")
    ax.plot(dates, daily["churned_customers"], color="#999999", lw=1.2, label="churned (observable)")
    ax.set_title("Customers")
    ax.set_ylabel("shoppers")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)

    ax = axes[1, 0]
    ax.plot(dates, (daily["platform_revenue"] - daily["platform_cost"]).cumsum(), color="#1f5f99",
            lw=1.8, label="platform")
    ax.plot(dates, daily["merchant_profit"].cumsum(), color="#2b9a5a", lw=1.8, label="merchants (all)")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_title("Cumulative profit")
    ax.set_ylabel(currency)
    ax.legend(frameon=False)

    ax = axes[1, 1]
    attempts = daily["order_attempts"].where(daily["order_attempts"] > 0)
    fill = (daily["orders"] / attempts).rolling(7, min_periods=1).mean() * 100
    stockout = (daily["stockout_events"] / attempts).rolling(7, min_periods=1).mean() * 100
    ax.plot(dates, fill, color="#1f5f99", lw=1.8, label="fill rate")
    ax.plot(dates, stockout, color="#c0392b", lw=1.8, label="first choice out of stock")
    ax.set_title("Supply (7-day mean)")
    ax.set_ylabel("% of order attempts")
    ax.set_ylim(0, 105)
    ax.legend(frameon=False)

    for a in axes.ravel():
        a.grid(alpha=0.3)
        a.spines[["top", "right"]].set_visible(False)
    fig.autofmt_xdate()
    fig.suptitle(title, fontsize=14)
    fig.savefig(path, dpi=110)
    plt.close(fig)
