"""Robust verdicts (experiments/robust.py): labels that follow the numbers across the uncertainty set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, SMALL, cli
from experiments.robust import applies, load_uncertainties, sample_points, verdicts
from sim.errors import ScenarioError
from sim.scenario_io import load_scenario


def _runs(change_at: dict[str, callable], x: np.ndarray, replications: int = 3) -> pd.DataFrame:
    """Synthetic runs: a baseline at 100 and scenarios whose change is a function of the uncertain x."""
    rng = np.random.default_rng(0)
    rows = []
    for k, xk in enumerate(x):
        for r in range(replications):
            noise = rng.normal(0, 1)
            rows.append({"scenario": "base", "uncertainty_point": k, "replication": r, "gmv": 100 + noise})
            for name, change in change_at.items():
                rows.append({"scenario": name, "uncertainty_point": k, "replication": r,
                             "gmv": 100 + noise + change(xk) + rng.normal(0, 0.5)})
    return pd.DataFrame(rows)


def test_verdict_labels_follow_the_sign_across_the_uncertainty_range():
    """A change that holds everywhere is robust; one whose sign flips with the uncertain x depends on x;
    noise around zero is no clear effect."""
    x = np.linspace(0.0, 1.0, 10)
    points = pd.DataFrame({"x.share": x, "y.other": np.random.default_rng(1).permutation(x)})
    runs = _runs({"always": lambda v: 5.0, "flips": lambda v: 20.0 * (v - 0.5), "nothing": lambda v: 0.0}, x)
    table = verdicts(runs, points, ["base", "always", "flips", "nothing"], kpis=("gmv",)).set_index("scenario")
    assert table.loc["always", "verdict"] == "robust" and table.loc["always", "sign_share"] == 1.0
    assert table.loc["flips", "verdict"] == "depends on x.share"
    assert table.loc["flips", "driver_rank_correlation"] > 0.9
    assert table.loc["nothing", "verdict"] == "no clear effect"
    assert table.loc["nothing", "ci_low"] < 0 < table.loc["nothing", "ci_high"]


def test_policy_uncertainties_apply_only_where_the_policy_is_on():
    base = load_scenario(ROOT / "scenarios" / "baseline.yaml")
    referral = load_scenario(ROOT / "scenarios" / "referral.yaml")
    assert applies(base, "rivals.platform_share") and applies(referral, "rivals.platform_share")
    assert not applies(base, "policies.referral.referral_q") and applies(referral, "policies.referral.referral_q")


def test_the_shipped_uncertainty_set_is_valid_and_sampled_within_its_ranges():
    sets = load_uncertainties()
    points = sample_points(sets, 8, 42)
    for u in sets:
        assert points[u.path].between(u.low, u.high).all()
        # Latin hypercube: each eighth of the range holds exactly one point
        bins = np.floor((points[u.path] - u.low) / (u.high - u.low) * 8).astype(int)
        assert sorted(bins) == list(range(8))
    assert points.equals(sample_points(sets, 8, 42))  # reproducible


def test_a_bad_uncertainty_file_is_refused_with_its_field(tmp_path):
    bad = tmp_path / "u.yaml"
    bad.write_text("uncertainties:\n  - {path: rivals.platform_shar, low: 0.3, high: 0.9}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="uncertainties.0.path"):
        load_uncertainties(bad)
    proc = cli("compare", str(ROOT / "scenarios" / "baseline.yaml"), str(ROOT / "scenarios" / "referral.yaml"),
               "--robust", "2", "--uncertainties", str(bad), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "rivals.platform_shar" in proc.stderr
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written


def test_compare_robust_writes_verdicts(tmp_path):
    """End to end on a tiny market: 2 points x 2 replications of the baseline and the referral scenario."""
    sets = tmp_path / "u.yaml"
    sets.write_text("uncertainties:\n  - {path: rivals.platform_share, low: 0.4, high: 0.8}\n"
                    "  - {path: policies.referral.referral_q, low: 0.002, high: 0.008}\n", encoding="utf-8")
    tiny = [*SMALL, "simulation.days=20", "shoppers.count=1500"]
    args = [a for s in tiny for a in ("--set", s)]
    proc = cli("compare", str(ROOT / "scenarios" / "baseline.yaml"), str(ROOT / "scenarios" / "referral.yaml"),
               "--replications", "2", "--robust", "2", "--uncertainties", str(sets), "--workers", "1",
               "--out", str(tmp_path / "out"), *args)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "out" / "verdicts.csv")
    assert set(table["scenario"]) == {"referral"} and "platform_profit" in set(table["kpi"])
    assert table["verdict"].str.match(r"^(robust|depends on .+|no clear effect|not measured)$").all()
    # churn needs 180 days to be observable: in a 20-day run it is not measured, not 0
    assert table.set_index("kpi").loc["churn_rate_monthly", "verdict"] == "not measured"
    assert "robust verdicts: 2 points" in proc.stdout
    assert "(4 runs" in proc.stdout and "; 8 more across the uncertainty set in robust/" in proc.stdout


def test_the_report_shows_the_verdicts_first(tmp_path):
    """A compare folder with verdicts.csv: the report's first table is the verdicts, in human labels."""
    from experiments.report import _verdict_table

    (tmp_path / "verdicts.csv").write_text(
        "scenario,kpi,mean_change,ci_low,ci_high,sign_share,points,driver,driver_rank_correlation,verdict\n"
        "referral,platform_profit,-1000,-1500,-500,1.0,8,,0,robust\n"
        "referral,gmv,200,-100,500,0.5,8,rivals.platform_share,0.9,depends on rivals.platform_share\n",
        encoding="utf-8")
    heading, table = _verdict_table(tmp_path)
    assert "robust = the sign holds at 90%" in heading
    assert table["KPI"].tolist() == ["platform profit", "GMV"]
    assert table["verdict"].tolist() == ["robust", "depends on rivals.platform_share"]
    assert table["sign holds at"].tolist() == ["100% of 8 points", "50% of 8 points"]


def test_a_robust_sample_of_other_inputs_is_refused_not_replaced(tmp_path):
    """The same --out with another --robust N: refused before any run (exit 2), the earlier verdicts kept."""
    sets = tmp_path / "u.yaml"
    sets.write_text("uncertainties:\n  - {path: rivals.platform_share, low: 0.4, high: 0.8}\n", encoding="utf-8")
    tiny = [*SMALL, "simulation.days=10", "shoppers.count=800"]
    args = [a for s in tiny for a in ("--set", s)]
    base = ["compare", str(ROOT / "scenarios" / "baseline.yaml"), str(ROOT / "scenarios" / "referral.yaml"),
            "--replications", "1", "--uncertainties", str(sets), "--workers", "1", "--out", str(tmp_path / "out"),
            *args]
    assert cli(*base, "--robust", "2").returncode == 0
    before = (tmp_path / "out" / "verdicts.csv").read_text()
    proc = cli(*base, "--robust", "3")
    assert proc.returncode == 2 and "robust verdicts of other inputs" in proc.stderr and "points" in proc.stderr
    assert (tmp_path / "out" / "verdicts.csv").read_text() == before
