"""Charts of a calibration (`run.py calibrate`): the holdout's tracking and conditional expectations."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sim import style  # noqa: E402


def calibration_tracking(tracking: pd.DataFrame, unit: str, holdout: dict | None, context: str, path: Path) -> None:
    """Cumulative repeat transactions per period: the log's and the fitted BG/NBD's, the calibration end
    marked; beside it, the same per period."""
    fig, (cum, per) = plt.subplots(1, 2, figsize=(15, 5.6), layout="constrained")
    dates = pd.to_datetime(tracking["period_end"])
    for ax, actual, model in ((cum, tracking["actual_cumulative"], tracking["model_cumulative"]),
                              (per, tracking["actual_cumulative"].diff().fillna(tracking["actual_cumulative"]),
                               tracking["model_cumulative"].diff().fillna(tracking["model_cumulative"]))):
        ax.plot(dates, actual, color="black", lw=1.8, label="actual (the log)")
        ax.plot(dates, model, color=style.SCENARIOS[0], lw=1.8, ls="--", label="BG/NBD fit")
        if holdout is not None:
            split = dates[~tracking["holdout"]].iloc[-1]
            ax.axvline(split, color=style.SUBTLE, lw=0.8, ls=":")
            ax.annotate("calibration | holdout", (split, 0.02), xycoords=("data", "axes fraction"), ha="center",
                        fontsize=8, color=style.SUBTLE, backgroundcolor="white")
        ax.set_ylim(bottom=0)
        style.dates(ax.xaxis)
        style.thousands(ax.yaxis)
        style.tidy(ax)
    cum.set_ylabel("repeat transactions, cumulative")
    per.set_ylabel(f"repeat transactions per {unit}")
    cum.legend(frameon=False, loc="upper left")
    cum.set_title("Cumulative", fontsize=10)
    per.set_title(f"Per {unit}", fontsize=10)
    if holdout is not None and holdout["error_percent"] is not None:
        finding = (f"The fit forecasts {style.number(holdout['forecast_repeat_transactions'])} repeat transactions in "
                   f"the holdout against {style.number(holdout['actual_repeat_transactions'])} actual "
                   f"({holdout['error_percent']:+.1f}%; cumulative "
                   f"{100 * (holdout['forecast_cumulative_end'] / holdout['actual_cumulative_end'] - 1):+.1f}% "
                   "by the end)")
    else:
        last = tracking.iloc[-1]
        finding = (f"The fit tracks {style.number(last['model_cumulative'])} repeat transactions against "
                   f"{style.number(last['actual_cumulative'])} in the log (no holdout: give --calibration-end to "
                   "test a forecast)")
    style.titled(fig, finding, f"Model: the sum over customers of the BG/NBD expected repeat transactions since each "
                 f"one's first purchase (Fader, Hardie & Lee 2005, eq. 9). {context}")
    style.save(fig, path)


def calibration_conditional(conditional: pd.DataFrame, unit: str, context: str, path: Path) -> None:
    """Mean holdout transactions by calibration-period repeat frequency: the log's and the model's."""
    fig, ax = plt.subplots(figsize=(11, 5.6), layout="constrained")
    x = np.arange(len(conditional))
    ax.plot(x, conditional["actual_mean"], color="black", marker="o", lw=1.8, label="actual (the log)")
    ax.plot(x, conditional["model_mean"], color=style.SCENARIOS[0], marker="s", lw=1.8, ls="--",
            label="BG/NBD conditional expectation")
    ax.set_xticks(x, [f"{f}\n({n:,})" for f, n in zip(conditional["frequency"], conditional["customers"], strict=True)])
    ax.set_xlabel("repeat transactions in the calibration period (customers)")
    ax.set_ylabel("mean repeat transactions in the holdout")
    ax.set_ylim(bottom=0)
    style.tidy(ax)
    ax.legend(frameon=False, loc="upper left")
    worst = (conditional["model_mean"] - conditional["actual_mean"]).abs().idxmax()
    row = conditional.loc[worst]
    gap = conditional["model_mean"] - conditional["actual_mean"]
    relative = (gap.abs() / conditional["actual_mean"].where(conditional["actual_mean"] > 0)).max()
    verdict = (f"Holdout forecasts within {relative:.0%} of the log at every calibration frequency"
               if relative <= 0.05 else
               "The fit under-forecasts the holdout at every calibration frequency" if (gap < 0).all() else
               "The fit over-forecasts the holdout at every calibration frequency" if (gap > 0).all() else
               "The fit's holdout forecasts fall on both sides of the log")
    style.titled(fig, f"{verdict}; largest gap at {row['frequency']} ({row['model_mean']:.2f} vs "
                 f"{row['actual_mean']:.2f})",
                 f"E[holdout transactions | calibration frequency, recency, age] (Fader, Hardie & Lee 2005, eq. 10), "
                 f"averaged over the customers of each frequency. {context}")
    style.save(fig, path)


def log_comparison_chart(comparison: pd.DataFrame, tracking: pd.DataFrame, simulated: pd.DataFrame, context: str,
                         path: Path) -> None:
    """The calibrated scenario's runs against the user's log over the calibration period: cumulative repeat
    purchases (the log, each run), and each figure's difference in percent with the runs' range."""
    fig, (cum, bars) = plt.subplots(1, 2, figsize=(15, 5.6), layout="constrained")
    cal = tracking[~tracking["holdout"]]
    dates = pd.to_datetime(cal["period_end"])
    runs = simulated.drop(columns="period_end").to_numpy(dtype=float)
    cum.fill_between(dates, runs.min(axis=1), runs.max(axis=1), color=style.SCENARIOS[0], alpha=0.25, lw=0,
                     label=f"simulated, lowest to highest of {runs.shape[1]} runs")
    cum.plot(dates, runs.mean(axis=1), color=style.SCENARIOS[0], lw=1.8, ls="--", label="simulated, mean")
    cum.plot(dates, cal["actual_cumulative"], color="black", lw=1.8, label="the log")
    cum.set_ylabel("repeat purchases, cumulative")
    cum.set_ylim(bottom=0)
    style.dates(cum.xaxis)
    style.thousands(cum.yaxis)
    style.tidy(cum)
    cum.legend(frameon=False, loc="upper left")
    shown = comparison[comparison["figure"] != "customers"].reset_index(drop=True)
    low = 100.0 * (shown["simulated_low"] / shown["log"] - 1.0)
    high = 100.0 * (shown["simulated_high"] / shown["log"] - 1.0)
    diff = shown["difference_percent"]
    y = np.arange(len(shown))
    bars.barh(y, diff, xerr=[diff - low, high - diff], color=[style.BAD if abs(d) > 5 else style.GOOD for d in diff],
              capsize=3)
    bars.set_yticks(y, [f.replace("_", " ") for f in shown["figure"]], fontsize=9)
    bars.invert_yaxis()
    bars.axvline(0, color="black", lw=0.6)
    bars.set_xlabel("simulated against the log, % (bars: mean; whiskers: lowest to highest run)")
    style.tidy(bars, "x")
    worst = shown.loc[diff.abs().idxmax()]
    main = comparison.set_index("figure")["difference_percent"]
    finding = (f"The calibrated scenario against the log: customers {main['customers']:+.1f}%, transactions "
               f"{main['transactions']:+.1f}%, GMV {main['gmv']:+.1f}%, average order {main['average_order']:+.1f}%; "
               f"furthest off: {worst['figure'].replace('_', ' ')} ({worst['difference_percent']:+.1f}%)")
    style.titled(fig, finding, f"{context}. Green within 5%, red beyond.")
    style.save(fig, path)
