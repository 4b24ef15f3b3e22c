"""The `run` command as a user calls it: outputs, options, exit codes, nothing left on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, SMALL, cli
from sim.kpis import SUMMARY_KEYS

RUN = [sys.executable, str(ROOT / "run.py"), "run"]
BASE = str(ROOT / "scenarios" / "baseline.yaml")
SETS = [arg for s in SMALL for arg in ("--set", s)]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return cli("run", *args, cwd=cwd)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "baseline-small"
    proc = run_cli(BASE, "--out", str(out), "--seed", "3", "--days", "60", *SETS)
    assert proc.returncode == 0, proc.stderr
    assert "GMV" in proc.stdout and "merchant satisfaction" in proc.stdout
    return out


def test_run_writes_the_contracted_files(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"summary.json", "kpis_daily.parquet", "kpis_daily.csv", "scenario.resolved.yaml",
            "manifest.json", "charts"} <= names
    assert (run_dir / "charts" / "kpis.png").stat().st_size > 10_000
    assert not [p for p in run_dir.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_summary_has_every_design_key(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(SUMMARY_KEYS) <= set(summary)
    assert summary["orders"] > 0 and summary["gmv"] > 0
    assert summary["aov"] == pytest.approx(summary["gmv"] / summary["orders"])


def test_daily_series_matches_summary_and_options(run_dir):
    daily = pd.read_parquet(run_dir / "kpis_daily.parquet")
    csv = pd.read_csv(run_dir / "kpis_daily.csv")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert len(daily) == len(csv) == 60  # --days 60
    assert daily["gmv"].sum() == pytest.approx(summary["gmv"])
    assert int(daily["orders"].sum()) == summary["orders"]
    assert {"customers_total", "active_customers"} <= set(daily.columns)
    assert daily["customers_total"].iloc[-1] == summary["customers_total"]


def test_resolved_scenario_and_manifest_record_the_overrides(run_dir):
    resolved = yaml.safe_load((run_dir / "scenario.resolved.yaml").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert resolved["seed"] == 3 and resolved["simulation"]["days"] == 60
    assert resolved["shoppers"]["count"] == 5000
    assert manifest["seed"] == 3 and manifest["wall_seconds"] > 0
    assert manifest["versions"]["mesa"].startswith("3.")


def test_resolved_scenario_reruns_to_the_same_summary(run_dir, tmp_path):
    again = tmp_path / "again"
    proc = run_cli(str(run_dir / "scenario.resolved.yaml"), "--out", str(again), "--quiet")
    assert proc.returncode == 0, proc.stderr
    first = json.loads((run_dir / "summary.json").read_text())
    second = json.loads((again / "summary.json").read_text())
    assert first == second


def test_default_output_folder_is_under_results(tmp_path):
    proc = run_cli(BASE, "--days", "5", "--quiet", *SETS, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    made = list((tmp_path / "results").iterdir())
    assert len(made) == 1 and made[0].name.startswith("baseline-")


BAD_INPUTS = [
    ("unknown key", "shoppers:\n  cuont: 5\n", [], "shoppers.cuont", "did you mean 'count'"),
    ("wrong type", "platform: {take_rate: high}\n", [], "platform.take_rate", "valid number"),
    ("out of range", "shoppers: {count: -5}\n", [], "shoppers.count", "greater than or equal to 10"),
    ("malformed", "shoppers: [\n", [], "", "malformed YAML"),
    ("unknown --set", "", ["--set", "platform.tak_rate=0.1"], "platform.tak_rate", "did you mean 'take_rate'"),
    ("bad --set value", "", ["--set", "merchants.count=0"], "merchants.count", "greater than or equal to 1"),
    # supply chain
    ("negative capacity", "suppliers: {capacity_units_per_day: -3}\n", [], "suppliers.capacity_units_per_day",
     "greater than 0"),
    ("gamma delay without sd", "suppliers:\n  lead_time_delay: {distribution: gamma, mean_days: 2}\n", [],
     "suppliers.lead_time_delay", "needs sd_days > 0"),
    ("uniform delay upside down", "suppliers:\n  lead_time_delay: {distribution: uniform, low_days: 5, high_days: 1}\n",
     [], "suppliers.lead_time_delay", "low_days <= high_days"),
    ("unknown delay shape", "suppliers:\n  lead_time_delay: {distribution: weibull}\n", [],
     "suppliers.lead_time_delay.distribution", "'none', 'exponential', 'gamma' or 'uniform'"),
    ("unknown vehicle type", "logistics: {fleet: {truck: 1.0}}\n", [], "logistics.fleet",
     "unknown vehicle type 'truck'; allowed: cargo_bike, diesel_van, ev_van"),
    ("vehicle without a factor", "logistics:\n  vehicles: {hover: {parcels_per_day: 90, cost_per_day: 100, "
     "cost_per_km: 0.1}}\n  fleet: {hover: 1.0}\n  carrier_vehicle: hover\n", [], "logistics.carrier_vehicle",
     "no last_mile emission factor for 'hover'"),
    ("missing factor file", "carbon: {factors_file: nowhere/factors.csv}\n", [], "carbon.factors_file",
     "file not found"),
    # network
    ("unknown network kind", "network: {kind: scale_free}\n", [], "network.kind",
     "'complete', 'erdos_renyi', 'watts_strogatz', 'barabasi_albert', 'stochastic_block' or 'edgelist'"),
    ("mean degree >= shoppers", "shoppers: {count: 50}\nnetwork: {kind: erdos_renyi, mean_degree: 50}\n", [],
     "network.mean_degree", "must be below shoppers.count (50)"),
    ("odd lattice degree", "network: {kind: watts_strogatz, mean_degree: 7}\n", [], "network",
     "needs an even whole mean_degree >= 2"),
    ("edge list missing", "network: {kind: edgelist, edgelist_file: ties.csv}\n", [], "network.edgelist_file",
     "ties.csv: file not found"),
    ("unknown packaging in policy", "policies:\n  green_logistics: {packaging: foam}\n", [],
     "policies.green_logistics.packaging", "unknown packaging 'foam'"),
]


@pytest.mark.parametrize("label,text,extra,field,phrase", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_exit_2_one_line_nothing_written(tmp_path, label, text, extra, field, phrase):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"extends: {BASE}\n{text}")
    out = tmp_path / "out"
    proc = run_cli(str(scenario), "--out", str(out), *extra)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert field in lines[0] and phrase in lines[0]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_missing_file_and_extends_cycle_exit_2(tmp_path):
    proc = run_cli(str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "missing.yaml: file not found" in proc.stderr
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    proc = run_cli(str(tmp_path / "a.yaml"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "extends: inheritance cycle" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_usage_errors_exit_2():
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "fly"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_a_factor_table_missing_a_factor_is_bad_input(tmp_path):
    from sim.carbon import DEFAULT_FACTORS
    rows = DEFAULT_FACTORS.read_text().splitlines()
    (tmp_path / "factors.csv").write_text("\n".join(r for r in rows if not r.startswith("line_haul,road")) + "\n")
    (tmp_path / "s.yaml").write_text(f"extends: {BASE}\ncarbon: {{factors_file: {tmp_path / 'factors.csv'}}}\n")
    proc = run_cli(str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "suppliers.transport_mode: no line_haul emission factor for 'road'" in proc.stderr
    assert not (tmp_path / "o").exists()
    bad = rows[:]
    bad[3] = bad[3].replace("0.02779", "lots")
    (tmp_path / "factors.csv").write_text("\n".join(bad) + "\n")
    proc = run_cli(str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "line 4.factor: not a number: 'lots'" in proc.stderr


def test_factor_table_units_are_checked_and_paths_are_relative_to_the_scenario(tmp_path):
    from sim.carbon import DEFAULT_FACTORS
    folder = tmp_path / "mine"
    folder.mkdir()
    rows = DEFAULT_FACTORS.read_text().splitlines()
    rows = [r.replace("kg CO2e per km", "g CO2e per km") if r.startswith("last_mile,diesel_van") else r for r in rows]
    (folder / "factors.csv").write_text("\n".join(rows) + "\n")
    (folder / "s.yaml").write_text(f"extends: {BASE}\ncarbon: {{factors_file: factors.csv}}\n")  # next to s.yaml
    proc = run_cli(str(folder / "s.yaml"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2, proc.stderr
    assert "last_mile factors must be in 'kg CO2e per km' (got 'g CO2e per km')" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_an_edge_list_out_of_range_or_unreadable_is_bad_input(tmp_path):
    (tmp_path / "ties.csv").write_text("a,b\n0,1\n1,100000\n")
    (tmp_path / "s.yaml").write_text(f"extends: {BASE}\nnetwork: {{kind: edgelist, edgelist_file: ties.csv}}\n")
    proc = run_cli(str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "network.edgelist_file" in proc.stderr
    assert "line 3: shopper index 100000 is out of range; allowed 0 to 99999" in proc.stderr
    (tmp_path / "ties.csv").write_bytes(b"\xff\xfe\x00garbage")
    proc = run_cli(str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "network.edgelist_file" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_an_edge_list_network_runs_and_is_described_in_the_manifest(tmp_path):
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, 5000, size=(20000, 2))
    (tmp_path / "ties.tsv").write_text("\n".join(f"{a}\t{b}" for a, b in pairs) + "\n")
    (tmp_path / "s.yaml").write_text(f"extends: {BASE}\nnetwork: {{kind: edgelist, edgelist_file: ties.tsv}}\n")
    out = tmp_path / "o"
    proc = run_cli(str(tmp_path / "s.yaml"), "--out", str(out), *SETS, "--days", "20")
    assert proc.returncode == 0, proc.stderr
    net = json.loads((out / "manifest.json").read_text())["network"]
    assert net["kind"] == "edgelist" and net["nodes"] == 5000
    assert 7.5 < net["mean_degree"] < 8.0  # 20,000 pairs, minus self-loops and duplicates
    assert 0 <= net["average_clustering"] < 0.05 and sum(net["degree_histogram"].values()) == 5000


def test_bench_times_the_standard_scenario_by_phase():
    proc = cli("bench", *SETS, "--days", "30")
    assert proc.returncode == 0, proc.stderr
    assert "bench: build" in proc.stdout and "ns per shopper-day (150,000 shopper-days)" in proc.stdout
    assert "SimPy events" in proc.stdout and "word of mouth (network)" in proc.stdout and "peak RSS" in proc.stdout


def test_out_never_replaces_a_folder_that_is_not_an_earlier_result(tmp_path, capsys):
    """Through the CLI's main in-process (the same code and exit codes as the shell, without four starts)."""
    from sim.cli import main
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("precious")
    assert main(["run", BASE, "--out", str(keep), "--days", "5", *SETS, "--quiet"]) == 2
    assert "folder exists and is not empty" in capsys.readouterr().err
    assert (keep / "notes.txt").read_text() == "precious"
    out = tmp_path / "r"
    assert main(["run", BASE, "--out", str(out), "--days", "5", *SETS, "--quiet"]) == 0
    assert main(["run", BASE, "--out", str(out), "--days", "5", *SETS, "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["run", BASE, "--out", str(out), "--days", "5", *SETS, "--quiet", "--overwrite"]) == 0


def test_a_bad_set_value_is_blamed_on_the_set_and_unnamed_files_are_named_after_themselves(tmp_path):
    proc = run_cli(BASE, "--set", "shoppers.count=20k", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and proc.stderr.startswith("error: --set shoppers.count=20k: shoppers.count:")
    child = tmp_path / "cheaper_commission.yaml"
    child.write_text(f"extends: {BASE}\nplatform: {{take_rate: 0.08}}\n")
    proc = run_cli(str(child), "--out", str(tmp_path / "c"), "--days", "5", *SETS)
    assert proc.returncode == 0 and proc.stdout.startswith("cheaper_commission--")


@pytest.mark.slow
def test_validate_quick_reproduces_every_kind_of_published_result():
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "validate", "--quick"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for case in ("BG/NBD E[X(t)]", "bullwhip ratio", "base stock type-1 service", "Bass curve",
                 "own-price elasticity of orders", "price elasticity of purchase incidence",
                 "CDNOW cohort replayed (8 runs)"):
        assert case in proc.stdout
    assert "9 of 9 passed" in proc.stdout


def test_a_run_with_overrides_is_named_by_them(tmp_path):
    """--set changes the market: the header, the resolved scenario (the report's title and description)
    and the default folder name say so, so the run never passes for the file it came from."""
    out = tmp_path / "r"
    proc = cli("run", str(ROOT / "scenarios" / "baseline.yaml"), "--set", "platform.take_rate=0.08",
               "--set", "shoppers.count=2000", "--days", "5", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    resolved = (out / "scenario.resolved.yaml").read_text(encoding="utf-8")
    assert "name: baseline--take_rate-0.08--count-2000" in resolved
    assert "baseline with platform.take_rate=0.08; shoppers.count=2000." in resolved
    proc = cli("run", str(ROOT / "scenarios" / "baseline.yaml"), "--set", "platform.take_rate=0.08",
               "--set", "shoppers.count=2000", "--days", "5", "--out", str(tmp_path / "s"))
    assert proc.stdout.startswith("baseline--take_rate-0.08--count-2000 (5 days, seed 42)")


def test_counts_of_runs_and_points_read_as_english():
    from sim.cli import _count, _runs

    assert (_runs(1), _runs(0), _runs(20)) == ("1 run", "0 runs", "20 runs")
    assert (_count(1, "point"), _count(10, "point")) == ("1 point", "10 points")


@pytest.mark.parametrize("before, after", [(None, "__all__"), ("", ""), ("some_plugin", "some_plugin")])
def test_the_command_skips_pydantic_plugins_unless_told_otherwise(tmp_path, before, after):
    """The program's main() sets PYDANTIC_DISABLE_PLUGINS only where the user has not (issue 23's start-up)."""
    code = ("import os, sys; from sim.cli import main; sys.argv = ['run.py', 'run', sys.argv[1]]; code = main(); "
            "print(repr(os.environ.get('PYDANTIC_DISABLE_PLUGINS')), code)")
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if before is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = before
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "missing.yaml")], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.stdout.split() == [repr(after), "2"], proc.stderr
