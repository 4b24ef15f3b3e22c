"""The house style (issue 12): every chart renders from small results as PNG and SVG of sensible size,
with a title that states the finding, the scenario's currency, dates, and a warning when too few
replications stand behind the intervals."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from conftest import small_scenario
from experiments import comparison_charts
from sim import charts, style
from sim.runner import run_scenario, simulate, tabulate

KEY = [k for k, _ in comparison_charts.KEY_KPIS]


@pytest.fixture(scope="module")
def record():
    return simulate(small_scenario("simulation.days=60", "simulation.currency=EUR"))


@pytest.fixture(scope="module")
def run(record):
    return tabulate(record)


def _check(path, *texts: str) -> str:
    png = mpimg.imread(path.with_suffix(".png"))
    assert png.shape[0] > 400 and png.shape[1] > 800 and png.std() > 0.05  # an image, not a blank page
    svg = path.with_suffix(".svg").read_text(encoding="utf-8")
    for text in texts:
        assert text in svg, text
    return svg


def test_run_charts_state_the_finding_in_the_scenarios_currency(run, tmp_path):
    s = run.summary
    charts.kpi_timeseries(run.daily, s, "baseline", "Scenario baseline: 5,000 shoppers", "EUR", tmp_path / "kpis.png")
    svg = _check(tmp_path / "kpis", f"GMV {style.number(s['gmv'])} EUR", "EUR per day",
                 "new (first order in the last 30 days)", "Scenario baseline: 5,000 shoppers")
    assert "currency" not in svg
    charts.supply_chain(run.daily, s, "baseline", "ctx", "EUR", tmp_path / "supply_chain.png")
    _check(tmp_path / "supply_chain", "kg CO2e", "EUR per order", "days to deliver")


def comparison(deltas: dict[str, float], ci: float) -> pd.DataFrame:
    rows = []
    for kpi in KEY:
        rows.append({"scenario": "baseline", "kpi": kpi, "mean": 100.0, "delta_vs_baseline": 0.0, "ci_low": 0.0,
                     "ci_high": 0.0, "relative_delta": 0.0})
        for name, d in deltas.items():
            rows.append({"scenario": name, "kpi": kpi, "mean": 100.0 + d, "delta_vs_baseline": d, "ci_low": d - ci,
                         "ci_high": d + ci, "relative_delta": d / 100.0})
    return pd.DataFrame(rows)


def test_comparison_charts_warn_when_replications_are_few(tmp_path):
    table = comparison({"cheap": 10.0, "dear": -5.0}, 2.0)
    names = ["baseline", "cheap", "dear"]
    comparison_charts.comparison_deltas(table, names, 2, tmp_path / "deltas.png", "EUR", "ctx")
    svg = _check(tmp_path / "deltas", "cheap raises GMV most (+10.0 EUR [+8.0, +12.0])", "Only 2 replications",
                 "change, EUR",
                 "percentage points")
    comparison_charts.comparison_deltas(table, names, 5, tmp_path / "five.png", "EUR", "ctx")
    assert "Only" not in (tmp_path / "five.svg").read_text() and "+10.0%" in svg
    series = {n: {"gmv": np.linspace(10, 20, 40), "customers_total": np.arange(40) * (i + 1)}
              for i, n in enumerate(names)}
    comparison_charts.comparison_series(series, 5, tmp_path / "series.png", "2025-03-01", "EUR", "ctx")
    _check(tmp_path / "series", "On the means, dear ends with the most customers", "EUR per day", "Mar")
    # with the comparison the title follows the paired intervals: no "most" for a change not clear of zero
    customers = table[table["kpi"] == "gmv"].assign(kpi="customers_total")
    comparison_charts.comparison_series(series, 5, tmp_path / "told.png", "2025-03-01", "EUR", "ctx", customers)
    _check(tmp_path / "told", "Customers at the end: cheap raises them most")


def test_changes_are_green_when_good_for_the_kpi_and_colours_are_fixed_per_scenario():
    assert style.change_colour(+1, "higher") == style.GOOD and style.change_colour(+1, "lower") == style.BAD
    assert style.change_colour(-1, "lower") == style.GOOD and style.change_colour(5, "neither") == style.NEUTRAL
    colours = style.scenario_colours([f"s{i}" for i in range(16)])
    assert colours["s0"] == style.BASELINE and len(set(colours.values())) == 16
    assert style.scenario_colours(["s0", "s1", "s2"])["s2"] == colours["s2"]  # same place, same colour


def test_a_finding_says_when_no_scenario_raises_profit_for_sure():
    table = comparison({"a": 10.0, "b": 3.0}, 20.0)
    assert comparison_charts.comparison_finding(table, ["baseline", "a", "b"], "EUR") == \
        "no scenario changes GMV for sure; no scenario changes platform profit for sure"


def test_cohort_sizes_match_the_daily_joiners_and_the_retention_chart_renders(tmp_path):
    """cohorts.csv's cohort sizes reconcile with the daily new_customers (another recorder); buyers never
    exceed the cohort; the chart states the month-after share."""
    result = run_scenario(small_scenario("simulation.days=120", "simulation.start_date=2025-01-01"))
    cohorts, daily = result.cohorts, result.daily
    first = cohorts[cohorts["months_since"] == 0].set_index("cohort")["customers"]
    joined = daily.assign(cohort=pd.to_datetime(daily["date"]).dt.strftime("%Y-%m")).groupby("cohort")[
        "new_customers"].sum()
    assert first.to_dict() == joined.to_dict()
    assert (cohorts["buyers"] <= cohorts["customers"]).all() and (cohorts.loc[cohorts["months_since"] == 0, "buyers"]
                                                                  == first.values).all()
    later = cohorts[cohorts["months_since"] > 0]
    assert len(later) and 0 < (later["buyers"] / later["customers"]).mean() < 1
    charts.retention_curves(cohorts, "baseline", "ctx", tmp_path / "retention.png")
    _check(tmp_path / "retention", "buy again the month after their first purchase")


def test_targets_read_in_the_kpi_s_terms():
    assert style.target_texts("gmv", "relative change vs baseline", ">= 0.2", 0.35, 0.31, 0.39) == \
        ("relative change vs baseline >= 20.0%", "+35.0% [+31.0%, +39.0%]")
    assert style.target_texts("merchant_satisfaction", "level", ">= 0.9", 0.694, 0.617, 0.771) == \
        ("level >= 90.0%", "69.4% [61.7%, 77.1%]")
    assert style.target_texts("orders", "level", ">= 50000", 48_428.0, 47_000.0, 49_900.0)[1] == \
        "48,428 [47,000, 49,900]"


def test_title_sentences_say_only_what_the_intervals_say():
    """Issue 21: no "most" for a change whose interval includes zero, no "every" unless every interval
    is clear of zero, and "no clear change" when none is."""
    def sub(rows):
        return pd.DataFrame(rows, columns=["scenario", "delta_vs_baseline", "ci_low", "ci_high"]).set_index("scenario")

    mixed = sub([("a", 5.0, 1.0, 9.0), ("b", 20.0, -3.0, 43.0), ("c", -2.0, -6.0, 2.0)])
    said = comparison_charts.change_sentence(mixed, "GMV", "EUR")
    assert said.startswith("a raises GMV for sure (+5.0 EUR [+1.0, +9.0])") and "b's larger change is not" in said
    assert "most" not in said
    lower = sub([("a", -5.0, -9.0, -1.0), ("b", -2.0, -3.0, -1.0)])
    assert comparison_charts.change_sentence(lower, "platform profit").startswith(
        "every scenario lowers platform profit for sure; b the least on the means (")  # the intervals overlap
    apart_down = sub([("a", -5.0, -9.0, -4.0), ("b", -2.0, -3.0, -1.0)])
    assert comparison_charts.change_sentence(apart_down, "platform profit").startswith(
        "every scenario lowers platform profit for sure; b least (")
    partly = sub([("a", -5.0, -9.0, -1.0), ("b", -2.0, -5.0, 1.0)])
    said = comparison_charts.change_sentence(partly, "platform profit")
    assert "every" not in said and said == ("no scenario raises platform profit for sure; a lowers it for sure "
                                            "(-5.0 [-9.0, -1.0])")
    both = sub([("a", -5.0, -9.0, -1.0), ("b", -2.0, -5.0, -1.0), ("c", -2.0, -5.0, 1.0)])
    assert comparison_charts.change_sentence(both, "GMV") == "no scenario raises GMV for sure; 2 of 3 lower it for sure"
    # one scenario: by its name, with its interval (no "1 of 1")
    assert comparison_charts.change_sentence(partly.loc[["a"]], "platform profit") == \
        "a lowers platform profit for sure (-5.0 [-9.0, -1.0])"
    assert comparison_charts.change_sentence(partly.loc[["b"]], "it", "EUR") == \
        "b does not change it for sure (-2.0 EUR [-5.0, +1.0])"
    alone = partly.loc[["a"]].assign(replications=1, ci_low=-5.0, ci_high=-5.0)  # one replication: no interval
    assert comparison_charts.change_sentence(alone, "GMV") == "a does not change GMV for sure"
    unclear = sub([("a", 1.0, -1.0, 3.0), ("b", -1.0, -3.0, 1.0)])
    assert comparison_charts.change_sentence(unclear, "GMV") == "no scenario changes GMV for sure"
    # "most" also needs the largest change's interval clear of the others': overlapping, it is said so
    close = sub([("a", 8.0, 2.0, 14.0), ("b", 6.0, 1.0, 11.0), ("c", -4.0, -6.0, -2.0)])
    assert comparison_charts.change_sentence(close, "GMV") == \
        "a raises GMV for sure (+8.0 [+2.0, +14.0]), the most on the means (its interval overlaps b's)"
    apart = sub([("a", 20.0, 15.0, 25.0), ("b", 6.0, 1.0, 11.0)])
    assert comparison_charts.change_sentence(apart, "GMV").startswith("a raises GMV most (")
    assert comparison_charts.change_sentence(apart.loc[["a"]], "GMV").startswith("a raises GMV for sure (")


def test_a_folder_written_by_the_writer_process_is_the_folder_written_here(record, tmp_path):
    """`run` tabulates the run and writes its folder in a second process, drawing charts in others (issue 23);
    the folder holds the same files, the tables and charts (SVGs too) the same bytes, as when this process
    writes it."""
    from sim.runner import write_run

    theirs = _written_by_a_writer(record, tmp_path / "parallel")
    ours = write_run(record, tmp_path / "here", "test")
    assert theirs == ours and ours["gmv"] > 0
    files = sorted(p.relative_to(tmp_path / "here") for p in (tmp_path / "here").rglob("*"))
    assert files == sorted(p.relative_to(tmp_path / "parallel") for p in (tmp_path / "parallel").rglob("*"))
    charts = [f"charts/{c}.{kind}" for c in ("kpis", "supply_chain", "retention") for kind in ("png", "svg")]
    for name in (*charts, "summary.json", "kpis_daily.csv", "kpis_daily.parquet", "pnl.csv", "cohorts.csv",
                 "scenario.resolved.yaml"):
        assert (tmp_path / "here" / name).read_bytes() == (tmp_path / "parallel" / name).read_bytes(), name


@pytest.mark.parametrize("where", ["supply_chain", "kpi_timeseries"])  # drawn by the helper, by the writer
def test_a_chart_that_fails_in_the_writer_leaves_no_folder(record, tmp_path, monkeypatch, where):
    """A chart's error reaches the caller, and the run's folder is not written (no half-written result)."""
    import dataclasses

    from sim.runner import folder_writer, write_run

    real = getattr(charts, where)

    def fails_for_broken(*args):
        if any(isinstance(a, str) and a == "broken" for a in args):
            raise KeyError("late_delivery_rate")
        return real(*args)

    monkeypatch.setattr(charts, where, fails_for_broken)  # the writer is forked with it
    writer = folder_writer()
    if writer is None:
        pytest.skip("one core: the folder is written by the run's own process")
    broken = dataclasses.replace(record, scenario=record.scenario.model_copy(update={"name": "broken"}))
    try:
        with pytest.raises(KeyError, match="late_delivery_rate"):
            write_run(broken, tmp_path / "result", "test", writer)
        write_run(record, tmp_path / "after", "test", writer)  # the writer goes on working
    finally:
        writer.shutdown()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["after"]


def test_the_writer_ends_with_a_killed_run():
    """A run killed outright (SIGKILL: no `finally`) takes its writer with it: no orphan process left
    holding the terminal's output open."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT

    script = ("import sys, time; sys.path.insert(0, sys.argv[1]); from sim.runner import folder_writer; "
              "d = folder_writer(); print(' '.join(map(str, d._processes)) if d else '', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", script, str(ROOT)], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in proc.stdout.readline().split()]
    if not pids:
        proc.kill()
        pytest.skip("one core: no writer")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in pids if _running(pid)]
    assert not alive, f"writer {alive} outlived its run"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("when", ["before", "while drawing"])
def test_a_dead_writer_means_the_folder_is_written_here(record, tmp_path, monkeypatch, when):
    """If the writer died before the run ended, or its helper dies while drawing, the folder is written in
    the run's process: the run is not lost to a broken pool."""
    import os
    import signal
    import time

    from sim.runner import folder_writer, write_run

    here, real = os.getpid(), charts.supply_chain

    def dies_in_the_writer(*args):
        if os.getpid() != here:
            os._exit(1)
        return real(*args)

    if when == "while drawing":
        monkeypatch.setattr(charts, "supply_chain", dies_in_the_writer)  # the writer is forked with it
    writer = folder_writer()
    if writer is None:
        pytest.skip("one core: the folder is written by the run's own process")
    try:
        if when == "before":
            os.kill(next(iter(writer._processes)), signal.SIGKILL)
            time.sleep(0.5)
        summary = write_run(record, tmp_path / "result", "test", writer)
    finally:
        writer.shutdown()
    assert summary["gmv"] > 0 and (tmp_path / "result" / "summary.json").is_file()
    for name in ("kpis", "supply_chain", "retention"):
        assert (tmp_path / "result" / "charts" / f"{name}.png").stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]


def test_no_writer_where_fork_is_not_linux(monkeypatch):
    """The writer is a forked process tied to its parent's life (Linux); elsewhere the run's own process
    writes the folder."""
    import sys

    from sim.runner import folder_writer

    monkeypatch.setattr(sys, "platform", "darwin")
    assert folder_writer() is None


def test_no_writer_when_the_run_cannot_fork(monkeypatch):
    """Forked once the market is built, at its full size: a fork that fails (out of memory, too many
    processes) means the run's own process writes the folder, not a failed run."""
    import errno
    import os

    from sim.runner import folder_writer

    def no_fork():
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    assert folder_writer() is None


@pytest.mark.parametrize("failure", ["a helper cannot be forked", "the record cannot be pickled"])
def test_a_writer_that_cannot_do_it_means_the_folder_is_written_here(record, tmp_path, monkeypatch, failure):
    """A helper that cannot be forked, or a record that cannot be handed to the writer (a policy's KPI
    computed by a lambda, say): the run's own process writes the folder."""
    import dataclasses
    import errno
    import os

    import sim.runner

    here, real_fork = os.getpid(), sim.runner._fork_drawing

    def no_fork_in_the_writer(job):
        if os.getpid() != here:
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
        return real_fork(job)

    if failure == "a helper cannot be forked":
        monkeypatch.setattr(sim.runner, "_fork_drawing", no_fork_in_the_writer)  # the writer is forked with it
    else:
        end = dataclasses.replace(record.end)
        end.note = lambda: "not picklable"  # read by nothing that is written
        record = dataclasses.replace(record, end=end)
    summary = _written_by_a_writer(record, tmp_path / "result")
    assert summary["gmv"] > 0
    for name in ("kpis", "supply_chain", "retention"):
        assert (tmp_path / "result" / "charts" / f"{name}.png").stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]


def _written_by_a_writer(record, folder):
    """write_run through a writer process of its own (the test is skipped on one core: there is none)."""
    from sim.runner import folder_writer, write_run

    writer = folder_writer()
    if writer is None:
        pytest.skip("one core: the folder is written by the run's own process")
    try:
        return write_run(record, folder, "test", writer)
    finally:
        writer.shutdown()


@pytest.mark.parametrize("a_change, a_interval, said", [(1.2, (0.5, 1.8), "the most on the means"),
                                                        (0.0, (-1.0, 0.9), "brings most new")])
def test_the_retention_title_says_most_only_when_the_interval_is_clear_of_the_others(tmp_path, a_change, a_interval,
                                                                                      said):
    """Month 1's largest change is "most" only when its interval ends above every other scenario's; else the
    title says it is the most on the means, its interval overlapping the next one's."""
    rows = []
    for name, change, (low, high) in [("baseline", 0.0, (0.0, 0.0)), ("a", a_change, a_interval),
                                      ("b", 1.5, (1.0, 2.0))]:
        for month in (1, 2):
            rows.append({"scenario": name, "months_since": month, "share": 0.2 + change / 100, "share_low": 0.19,
                         "share_high": 0.21, "change_pp": change, "ci_low_pp": low, "ci_high_pp": high})
    comparison_charts.retention_comparison(pd.DataFrame(rows), ["baseline", "a", "b"], 5, "ctx", tmp_path / "r.png")
    svg = _check(tmp_path / "r")
    assert said in svg and ("b brings" in svg)


@pytest.mark.parametrize("second, said", [((5.0, 1.0), "x1 moves GMV most (mu*"),
                                          ((8.0, 3.0), "most on the estimates")])
def test_the_sensitivity_title_says_most_only_when_the_top_interval_clears_the_others(tmp_path, second, said):
    from experiments import sweep_charts
    table = pd.DataFrame({"parameter": ["x1", "x2"], "kind": ["lever", "uncertainty"], "mu_star": [10.0, second[0]],
                          "mu_star_conf": [1.0, second[1]], "sigma": [2.0, 1.0]})
    sweep_charts.sensitivity_bars(table, "gmv", 20, "Sweep t", tmp_path / "s.png", "EUR")
    assert said in (tmp_path / "s.svg").read_text(encoding="utf-8")
