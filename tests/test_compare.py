"""`run.py compare`: replications with common random numbers, paired intervals, targets, outputs."""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, SMALL, cli
from experiments.comparison import assess_targets, comparison_table
from sim import style
from sim.kpis import SUMMARY_KEYS
from sim.scenario import TargetConfig as Target

SCEN = ROOT / "scenarios"
SETS = [arg for s in [*SMALL, "simulation.days=90"] for arg in ("--set", s)]


def compare_cli(*args: str) -> subprocess.CompletedProcess:
    return cli("compare", *args)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp") / "out"
    proc = compare_cli(str(SCEN / "baseline.yaml"), str(SCEN / "subsidy_newcomers.yaml"),
                       str(SCEN / "growth_bundle.yaml"), "--replications", "4", "--workers", "2",
                       "--out", str(out), *SETS)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def test_outputs_and_columns(compared):
    out, stdout = compared
    assert {p.name for p in out.iterdir()} >= {"comparison.csv", "runs.csv", "targets.csv", "manifest.json",
                                                "charts", "scenarios"}
    assert (out / "charts" / "deltas.png").stat().st_size > 10_000
    table = pd.read_csv(out / "comparison.csv")
    assert list(table.columns[:6]) == ["scenario", "kpi", "mean", "delta_vs_baseline", "ci_low", "ci_high"]
    base = table[table["scenario"] == "baseline"]
    assert (base["delta_vs_baseline"].dropna() == 0).all()  # NaN: a KPI these short runs cannot measure
    assert "change vs baseline with 95% paired CI" in stdout and "targets" in stdout


def test_the_leadership_charts_are_drawn_from_the_folder_s_files(compared):
    """series.parquet (every replication's daily series) and pnl.csv (P&L lines, replication means) hold
    what the fan chart and the profit bridge need; the bridge adds up to each scenario's platform profit."""
    out, _ = compared
    series = pd.read_parquet(out / "series.parquet")
    assert set(series["scenario"]) == {"baseline", "subsidy_newcomers", "growth_bundle"}
    assert series.groupby("scenario")["replication"].nunique().eq(4).all()
    pnl = pd.read_csv(out / "pnl.csv")
    table = pd.read_csv(out / "comparison.csv").set_index(["scenario", "kpi"])
    for name in ("baseline", "growth_bundle"):
        lines = pnl[(pnl["scenario"] == name) & (pnl["party"] == "platform") & (pnl["kind"] != "profit")]
        assert lines["amount"].sum() == pytest.approx(table.loc[(name, "platform_profit"), "mean"], abs=0.05)
    cohorts = pd.read_csv(out / "cohorts.csv")
    retention = pd.read_csv(out / "retention.csv").set_index(["scenario", "months_since"])
    # month 1's share, rebuilt from cohorts.csv by hand for one replication of the baseline, and the
    # baseline's change against itself
    one = cohorts[(cohorts["scenario"] == "baseline") & (cohorts["months_since"] == 1)]
    shares = one.groupby("replication").apply(lambda d: d["buyers"].sum() / d["customers"].sum(), include_groups=False)
    assert retention.loc[("baseline", 1), "share"] == pytest.approx(shares.mean())
    assert retention.loc[("baseline", 1), "share_low"] == pytest.approx(shares.min())
    assert (retention.loc["baseline", ["change_pp", "ci_low_pp", "ci_high_pp"]] == 0).all().all()
    assert retention.loc[("growth_bundle", 1), "replications"] == 4
    for chart, text in (("fan", "10th to 90th percentile"), ("bridge", "p&amp;l line"),
                        ("tradeoff", "carbon, kg co2e"), ("targets", "targets met"),
                        ("lifecycle", "customers by lifecycle state"), ("retention", "month 1")):
        assert text in (out / "charts" / f"{chart}.svg").read_text(encoding="utf-8").lower(), chart
        assert (out / "charts" / f"{chart}.png").stat().st_size > 20_000
    import re
    bridge = (out / "charts" / "bridge.svg").read_text(encoding="utf-8")
    for name in ("subsidy_newcomers", "growth_bundle"):  # each panel's change with its interval
        r = table.loc[(name, "platform_profit")]
        interval = f"[{style.number(r['ci_low'], True)}, {style.number(r['ci_high'], True)}]"
        assert re.search(rf"{name}: [+-][\d,.]+ {re.escape(interval)}", bridge), (name, interval)


def test_the_printed_table_shows_the_headline_kpis_of_the_policies_on(compared):
    """growth_bundle has coupons and referrals on: their costs and cannibalisation are printed, with the
    same numbers as comparison.csv; loyalty (on in no scenario) is not."""
    out, stdout = compared
    for label in ("subsidy cost", "coupons on orders that came anyway", "referral cost", "CAC, referral",
                  "viral coefficient (k)"):
        assert label in stdout, label
    assert "membership revenue" not in stdout
    table = pd.read_csv(out / "comparison.csv").set_index(["scenario", "kpi"])
    cost = table.loc[("growth_bundle", "subsidy_cost"), "mean"]
    assert f"{cost:,.0f}" in stdout


def test_replication_i_uses_the_same_seed_in_every_scenario(compared):
    runs = pd.read_csv(compared[0] / "runs.csv")
    assert len(runs) == 3 * 4
    seeds = runs.pivot(index="replication", columns="scenario", values="seed")
    assert (seeds.nunique(axis=1) == 1).all() and seeds.iloc[:, 0].nunique() == 4


def test_paired_intervals_are_narrower_than_unpaired_ones(compared):
    table = pd.read_csv(compared[0] / "comparison.csv")
    t = table[(table["scenario"] == "subsidy_newcomers") & table["kpi"].isin(["gmv", "orders", "platform_profit"])]
    paired = t["ci_high"] - t["ci_low"]
    unpaired = t["unpaired_ci_high"] - t["unpaired_ci_low"]
    assert (paired < 0.5 * unpaired).all()


def test_targets_are_reported_with_their_interval(compared):
    targets = pd.read_csv(compared[0] / "targets.csv")
    assert set(targets["scenario"]) == {"growth_bundle"}
    assert set(targets["kpi"]) == {"gmv", "second_purchase_90d", "merchant_satisfaction"}
    assert {s.partition(":")[0] for s in targets["status"]} <= {"met", "not met", "inconclusive", "unreachable",
                                                                   "not measured in these runs"}
    measured = targets[targets["status"] != "not measured in these runs"]  # a 90-day share in a shorter run: n/a
    assert (measured["ci_low"] <= measured["estimate"]).all() and (measured["estimate"] <= measured["ci_high"]).all()


@pytest.mark.slow
def test_workers_do_not_change_results(compared, tmp_path):
    out = tmp_path / "one"
    proc = compare_cli(str(SCEN / "baseline.yaml"), str(SCEN / "subsidy_newcomers.yaml"),
                       str(SCEN / "growth_bundle.yaml"), "--replications", "4", "--workers", "1",
                       "--out", str(out), "--quiet", *SETS)
    assert proc.returncode == 0, proc.stderr
    pd.testing.assert_frame_equal(pd.read_csv(out / "comparison.csv"), pd.read_csv(compared[0] / "comparison.csv"))


def test_target_assessment_rules():
    runs = pd.DataFrame({
        "scenario": ["b"] * 4 + ["s"] * 4, "replication": [0, 1, 2, 3] * 2,
        "gmv": [100, 102, 98, 100, 130, 131, 129, 130], "merchant_satisfaction": [0.8] * 4 + [0.85, 0.95, 0.9, 0.8],
    })
    targets = [Target(kpi="gmv", relative_change_min=0.2), Target(kpi="gmv", relative_change_min=0.4),
               Target(kpi="merchant_satisfaction", min=0.9)]
    got = assess_targets(runs, ["b", "s"], [[], targets])
    assert list(got["status"]) == ["met", "not met", "inconclusive"]
    # merchants who left count as dissatisfied: the share still active at the end caps satisfaction
    capped = runs.assign(merchant_satisfaction_ceiling=[0.8] * 4 + [0.86, 0.88, 0.87, 0.85])
    got = assess_targets(capped, ["b", "s"], [[], targets])
    assert list(got["status"]) == ["met", "not met", "unreachable: at most 0.88 in these runs"]


def test_paired_interval_on_known_numbers():
    runs = pd.DataFrame({"scenario": ["b"] * 3 + ["s"] * 3, "replication": [0, 1, 2] * 2,
                         **{k: [1.0, 2.0, 3.0, 2.0, 3.0, 4.5] for k in SUMMARY_KEYS}})
    row = comparison_table(runs, ["b", "s"]).query("scenario == 's' and kpi == 'gmv'").iloc[0]
    deltas = np.array([1.0, 1.0, 1.5])
    half = 4.302652729911275 * deltas.std(ddof=1) / np.sqrt(3)  # t(0.975, 2)
    assert row["delta_vs_baseline"] == pytest.approx(deltas.mean())
    assert row["ci_low"] == pytest.approx(deltas.mean() - half)
    assert row["ci_high"] == pytest.approx(deltas.mean() + half)


@pytest.mark.parametrize("text,field,phrase", [
    ("policies:\n  subsidy: {campaigns: [{name: a, target: everyone, value: 5, monthly_budget: -10}]}\n",
     "policies.subsidy.campaigns.0.monthly_budget", "greater than or equal to 0"),
    ("policies:\n  subsidy: {campaigns: [{name: a, target: everyone, coupon_type: percent, value: 120}]}\n",
     "policies.subsidy.campaigns.0", "a percent coupon must be below 100"),
    ("policies:\n  subsidy: {campaigns: [{name: a, target: segment, segment: students, value: 5}]}\n",
     "policies.subsidy.campaigns.0.segment", "unknown segment 'students'"),
    ("policies:\n  loyalty: {point_value: -1}\n", "policies.loyalty.point_value", "greater than or equal to 0"),
    ("targets: [{kpi: gmvv, relative_change_min: 0.2}]\n", "targets.0", "did you mean 'gmv'"),
])
def test_impossible_policy_settings_exit_2_before_any_run(tmp_path, text, field, phrase):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"extends: {SCEN / 'baseline.yaml'}\nname: bad\n{text}")
    proc = compare_cli(str(SCEN / "baseline.yaml"), str(bad), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()
    assert len(line) == 1 and field in line[0] and phrase in line[0], proc.stderr
    assert not (tmp_path / "o").exists()
    run = cli("run", str(bad), "--out", str(tmp_path / "r"))
    assert run.returncode == 2 and not (tmp_path / "r").exists()


def test_same_names_and_bad_options_are_refused(tmp_path):
    proc = compare_cli(str(SCEN / "baseline.yaml"), str(SCEN / "baseline.yaml"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "scenario names must differ" in proc.stderr
    proc = compare_cli(str(SCEN / "baseline.yaml"), str(SCEN / "referral.yaml"), "--replications", "0")
    assert proc.returncode == 2 and "--replications" in proc.stderr


@pytest.mark.slow
def test_the_report_of_a_comparison_is_self_contained_and_carries_its_numbers(compared):
    import re
    out, _ = compared
    proc = cli("report", str(out))
    assert proc.returncode == 0, proc.stderr
    html = (out / "report.html").read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no network reference: opens offline
    # deltas, targets, bridge, trade-off, fan, lifecycle, retention; not series.png, which is fan.png without
    # its bands and profit panel
    assert html.count("data:image/png;base64,") == 7
    assert "Over time, with the spread of the replications" in html and "Over time, replication means" not in html
    table = pd.read_csv(out / "comparison.csv").set_index(["scenario", "kpi"])
    from sim.tables import TABLE, format_change, format_value, kpi_applies, policy_owners, policy_rows
    owners = policy_owners()
    rows = [*TABLE, *policy_rows(["referral", "subsidy"])]
    assert len(rows) > 12
    from sim.policies import policy_kpis
    own = {k.name for k in policy_kpis()}  # a policy's own KPIs are "—" in the baseline (every policy off)
    for kpi, _, fmt in rows:  # every key number of the report is comparison.csv's, as formatted for print
        if kpi not in own:
            assert f"<td>{format_value(table.loc[('baseline', kpi), 'mean'], fmt)}</td>" in html, kpi
        for name in ("subsidy_newcomers", "growth_bundle"):
            r = table.loc[(name, kpi)]
            if not kpi_applies(kpi, set(), owners) and r["mean"] > 0:  # on here, not in the baseline: the level
                # with its interval cut at 0
                assert (f"{format_value(r['mean'], fmt)} [{format_value(max(r['ci_low'], 0.0), fmt)}, "
                        f"{format_value(r['ci_high'], fmt)}]") in html, (name, kpi)
                assert f"<td>{format_change(r['delta_vs_baseline'], fmt)} [" not in html, (name, kpi)
                continue
            assert (f"{format_change(r['delta_vs_baseline'], fmt)} [{format_change(r['ci_low'], fmt)}, "
                    f"{format_change(r['ci_high'], fmt)}]") in html, (name, kpi)
    assert "Only 4 replications" in html and "Assumptions: where growth_bundle differs from baseline" in html
    assert html.count("This comparison ran it with shoppers.count=") == 3  # the file's question, then the --set
    few = round(table.xs("merchants_active_end", level="kpi")["mean"].min())  # a small market: said so
    assert (f"Only {few} merchant" in html) == (few < 20)
    # for leadership: a units column in the scenario's currency, and a policy's own KPIs left blank ("—")
    # where the policy is off (referral's in subsidy_newcomers and the baseline), not "+0 [+0, +0]"
    import re as _re
    row = _re.search(r"<tr>\s*<td>fake referral sign-ups</td>(.*?)</tr>", html, _re.S)
    assert row is not None and row.group(1).count("<td>—</td>") == 2, row and row.group(1)
    assert re.search(r"<td( class=\"text\")?>USD</td>", html)
    pdf = (out / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type /Page\b", pdf)) >= 3


def test_lost_sales_are_not_a_carbon_saving():
    """The change of carbon splits into what the change of orders accounts for (at the baseline's carbon per
    order) and what the change of carbon per order does; a scenario that only loses orders saves no carbon
    per order."""
    runs = pd.DataFrame({"scenario": ["b"] * 3 + ["fewer"] * 3 + ["cleaner"] * 3, "replication": [0, 1, 2] * 3,
                         **{k: [1.0] * 9 for k in SUMMARY_KEYS},
                         "orders": [100.0, 110.0, 90.0, 80.0, 88.0, 72.0, 100.0, 110.0, 90.0],
                         "carbon_kg": [200.0, 220.0, 180.0, 160.0, 176.0, 144.0, 150.0, 165.0, 135.0]})
    table = comparison_table(runs, ["b", "fewer", "cleaner"]).set_index(["scenario", "kpi"])
    for name, volume, per_order in (("fewer", -40.0, 0.0), ("cleaner", 0.0, -50.0)):
        assert table.loc[(name, "carbon_change_from_orders_kg"), "delta_vs_baseline"] == pytest.approx(volume)
        assert table.loc[(name, "carbon_change_from_carbon_per_order_kg"), "delta_vs_baseline"] == pytest.approx(
            per_order)
        total = table.loc[(name, "carbon_kg"), "delta_vs_baseline"]
        assert total == pytest.approx(volume + per_order)
    assert ("b", "carbon_change_from_orders_kg") not in table.index


def test_an_overwrite_replaces_the_earlier_result_only_when_complete(tmp_path, monkeypatch):
    """--overwrite sets the earlier comparison aside: a new one that stops (Ctrl-C, failed runs) puts it back
    as it was; a complete one replaces it and leaves nothing aside."""
    from experiments import comparison as comparison_module
    args = [str(SCEN / "baseline.yaml"), str(SCEN / "subsidy_newcomers.yaml"), "--replications", "2",
            "--out", str(tmp_path / "out"), "--quiet", *SETS]
    assert compare_cli(*args).returncode == 0
    before = (tmp_path / "out" / "comparison.csv").read_bytes()

    def stop(*_args, **_kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(comparison_module, "run_batch", stop)
    proc = compare_cli(*args[:-len(SETS)], *SETS[:-1], "simulation.days=20", "--overwrite")
    assert proc.returncode == 130 and (tmp_path / "out" / "comparison.csv").read_bytes() == before
    assert not (tmp_path / ".out.replaced").exists()
    monkeypatch.undo()
    proc = compare_cli(*args[:-len(SETS)], *SETS[:-1], "simulation.days=20", "--overwrite")
    assert proc.returncode == 0 and (tmp_path / "out" / "comparison.csv").read_bytes() != before
    assert not (tmp_path / ".out.replaced").exists()
