"""`run.py analyze` (issue 11): functions with known answers wired through the same sweep runner and
analysis as the model. Sobol indices of the Ishigami function, the Pareto set and the minimax-regret
choice of functions whose answers follow from their formulas; then the model's own smoke sweep on the
command line, and bad folders."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, cli
from experiments.analysis import analyze, pareto_flags, write
from experiments.sweeps import SweepSpec, sweep

# Ishigami (1990), a = 7, b = 0.1, inputs uniform on [-pi, pi]; analytical indices (Sobol' & Levitan 1999):
# V = a^2/8 + b pi^4/5 + b^2 pi^8/18 + 1/2, V1 = (1 + b pi^4/5)^2 / 2, V2 = a^2/8, V13 = b^2 pi^8 (1/18 - 1/50)
A, B = 7.0, 0.1
V = A**2 / 8 + B * math.pi**4 / 5 + B**2 * math.pi**8 / 18 + 0.5
V1, V2, V13 = (1 + B * math.pi**4 / 5) ** 2 / 2, A**2 / 8, B**2 * math.pi**8 * (1 / 18 - 1 / 50)
ISHIGAMI = {"x1": (V1 / V, (V1 + V13) / V), "x2": (V2 / V, V2 / V), "x3": (0.0, V13 / V)}


def _values(sets: list[str]) -> dict[str, float]:
    return {s.split("=", 1)[0]: json.loads(s.split("=", 1)[1]) for s in sets}


def ishigami(base, sets, seed, daily):
    x = _values(sets)
    y = math.sin(x["x1"]) + A * math.sin(x["x2"]) ** 2 + B * x["x3"] ** 4 * math.sin(x["x1"])
    return {"y": y}, None, 0.0


def ishigami_spec(n: int) -> SweepSpec:
    return SweepSpec.model_validate({
        "name": "ishigami", "base": "(a test function)", "objectives": {"y": "max"},
        "uncertainties": [{"path": f"x{i}", "low": -math.pi, "high": math.pi} for i in (1, 2, 3)],
        "design": {"kind": "sobol", "n": n}})


@pytest.mark.slow
def test_sobol_indices_of_the_ishigami_function_come_out_right_within_their_intervals(tmp_path):
    sweep(ishigami_spec(1024), tmp_path / "out", evaluate=ishigami)
    result = analyze(tmp_path / "out")
    table = result.tables["sensitivity"].set_index("parameter")
    for name, (s1, st) in ISHIGAMI.items():
        row = table.loc[name]
        assert abs(row["S1"] - s1) <= row["S1_conf"], (name, row["S1"], s1)
        assert abs(row["ST"] - st) <= row["ST_conf"], (name, row["ST"], st)
    verdict = result.tables["convergence"].iloc[0]
    assert verdict["converged"] and verdict["suggested_n"] == 1024


def test_too_small_a_sample_is_flagged_with_a_larger_suggested_n(tmp_path):
    sweep(ishigami_spec(64), tmp_path / "out", evaluate=ishigami)
    verdict = analyze(tmp_path / "out").tables["convergence"].iloc[0]
    assert not verdict["converged"] and verdict["suggested_n"] > 64
    assert verdict["suggested_n"] & (verdict["suggested_n"] - 1) == 0  # a power of two, as Sobol needs


def trade_off(base, sets, seed, daily):
    """Lever a trades y1 against y2; lever c only costs: every c = 0 setting is efficient, no c = 1 one."""
    x = _values(sets)
    return {"y1": x["a"] - x["c"], "y2": 2 - x["a"] - x["c"]}, None, 0.0


def test_the_pareto_set_holds_exactly_the_undominated_lever_settings(tmp_path):
    spec = SweepSpec.model_validate({
        "name": "pareto", "base": "(a test function)", "objectives": {"y1": "max", "y2": "max"},
        "levers": [{"path": "a", "levels": [0, 1, 2]}, {"path": "c", "levels": [0, 1]}],
        "design": {"kind": "full_factorial"}, "replications": 2})
    sweep(spec, tmp_path / "out", evaluate=trade_off)
    table = analyze(tmp_path / "out").tables["pareto"]
    assert list(table.loc[table["pareto"], "c"]) == [0, 0, 0] and len(table) == 6
    assert list(pareto_flags(np.array([[1.0, 1.0], [2.0, 0.0], [0.5, 0.5], [1.0, 1.0]]))) == [True, True, False, True]


def peaked(base, sets, seed, daily):
    """The best lever a for uncertainty u is 2u: a = 1 has the smallest worst-case regret (1, against 4)."""
    x = _values(sets)
    return {"y": -(x["a"] - 2 * x["u"]) ** 2}, None, 0.0


def test_lever_x_uncertainty_finds_the_minimax_regret_setting(tmp_path):
    spec = SweepSpec.model_validate({
        "name": "robust", "base": "(a test function)", "objectives": {"y": "max"},
        "levers": [{"path": "a", "levels": [0, 1, 2]}],
        "uncertainties": [{"path": "u", "low": 0.0, "high": 1.0}],
        "design": {"kind": "lever_x_uncertainty", "n": 32}})
    runs = sweep(spec, tmp_path / "out", evaluate=peaked)
    table = analyze(tmp_path / "out").tables["robustness"].set_index("a")
    u = runs.loc[runs["a"] == 0, "u"].to_numpy()
    best = np.max([-(a - 2 * u) ** 2 for a in (0, 1, 2)], axis=0)  # from the formula, not the analysis
    for a in (0, 1, 2):
        assert table.loc[a, "max_regret"] == pytest.approx(np.max(best + (a - 2 * u) ** 2))
        assert table.loc[a, "worst"] == pytest.approx(np.min(-(a - 2 * u) ** 2))
    assert list(table.index[table["most_robust"]]) == [1]
    assert table.loc[1, "max_regret"] < 1 < table.loc[0, "max_regret"]


def test_morris_ranks_the_influential_input_first(tmp_path):
    spec = SweepSpec.model_validate({
        "name": "morris", "base": "(a test function)", "objectives": {"y": "max"},
        "uncertainties": [{"path": f"x{i}", "low": -math.pi, "high": math.pi} for i in (1, 2, 3)],
        "design": {"kind": "morris", "n": 40, "morris_levels": 4}})
    sweep(spec, tmp_path / "out", evaluate=ishigami)
    result = analyze(tmp_path / "out")
    table = result.tables["sensitivity"].set_index("parameter")
    # x3 acts only through its interaction with x1: small mean effect mu, large spread sigma
    assert abs(table.loc["x3", "mu"]) < table.loc["x3", "sigma"]
    assert table["mu_star"].idxmax() in ("x1", "x2")
    write(result, tmp_path / "out")
    assert (tmp_path / "out" / "analysis" / "sensitivity-y.png").stat().st_size > 10_000


@pytest.mark.slow
def test_the_smoke_sweep_and_its_analysis_run_from_the_command_line(tmp_path):
    out = tmp_path / "smoke"
    run = [sys.executable, str(ROOT / "run.py")]
    assert subprocess.run([*run, "sweep", str(ROOT / "experiments" / "smoke.yaml"), "--out", str(out), "--quiet"],
                          cwd=ROOT, capture_output=True).returncode == 0
    proc = subprocess.run([*run, "analyze", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 16 and (runs["status"] == "ok").all()
    assert "Pareto-efficient lever settings" in proc.stdout
    names = {p.name for p in (out / "analysis").iterdir()}
    assert {"main_effects.csv", "pareto.csv", "summary.txt", "pareto.png"} <= names
    effects = pd.read_csv(out / "analysis" / "main_effects.csv")
    assert set(effects["parameter"]) == {"platform.take_rate", "shoppers.purchase_rate_multiplier"}
    report = subprocess.run([*run, "report", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Sweep smoke" in html and "Lever settings and the Pareto set" in html and "data:image/png" in html
    assert "What was varied" in html and "0.8 to 1.2" in html  # the uncertainty's range
    # the header says what every run changed in its base; the reading guide explains only what is there
    assert "shoppers.count=3000" in html and "in every run" in html
    assert "The Pareto set lists" in html and "Sensitivity indices" not in html and "Regret says" not in html
    assert not re.search(r"<td[^>]*>-?[0-9.]+e[+-][0-9]+</td>", html)  # no scientific notation in the tables


@pytest.mark.parametrize("make, message", [(lambda d: None, "not a sweep folder"),
                                           (lambda d: (d / "spec.json").write_text("{}"), "no runs.parquet")])
def test_analyze_on_a_folder_that_is_not_a_finished_sweep_exits_2(tmp_path, make, message):
    make(tmp_path)
    proc = cli("analyze", str(tmp_path), cwd=ROOT)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "analysis").exists()


def crashing(base, sets, seed, daily):
    """Kills its worker process at a = 2, as an out-of-memory kill would."""
    x = _values(sets)
    if x["a"] == 2:
        import os
        os._exit(1)
    return {"y": float(x["a"])}, None, 0.0


def steady(base, sets, seed, daily):
    return {"y": float(_values(sets)["a"])}, None, 0.0


@pytest.mark.slow
def test_a_run_whose_worker_dies_is_kept_as_lost_and_retried_by_the_next_resume(tmp_path):
    spec = SweepSpec.model_validate({"name": "crash", "base": "(a test function)", "objectives": {"y": "max"},
                                     "levers": [{"path": "a", "levels": [0, 1, 2, 3, 4, 5]}],
                                     "design": {"kind": "full_factorial"}})
    runs = sweep(spec, tmp_path / "out", workers=2, evaluate=crashing, window=2)
    assert len(runs) == 6 and runs.loc[runs["a"] == 2, "status"].item() == "lost"
    assert "BrokenProcessPool" in runs.loc[runs["a"] == 2, "error"].item()
    # with 2 runs in flight the crash takes at most one other run with it: the one in flight beside it, which
    # may be any later run (one submitted to the dying pool before its break was seen); the pool is rebuilt
    # and the others succeed
    lost = runs[runs["status"] == "lost"]
    assert len(lost) <= 2 and lost["error"].str.contains("BrokenProcessPool").all()
    assert (runs["status"] == "ok").sum() == 6 - len(lost)
    again = sweep(spec, tmp_path / "out", workers=2, evaluate=steady)
    assert list(again["status"]) == ["ok"] * 6 and list(again["y"]) == [0, 1, 2, 3, 4, 5]
    assert not list((tmp_path / "out" / "parts").glob("lost-*"))
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(manifest["earlier"]) == 1 and manifest["lost"] == 0


@pytest.mark.slow
def test_a_pool_found_broken_when_submitting_is_replaced(tmp_path, monkeypatch):
    """The race a dying worker leaves: the pool breaks between a wait and the next submit, so submit
    itself raises BrokenProcessPool. The sweep moves the run to a new pool and finishes every run."""
    from concurrent.futures.process import BrokenProcessPool

    import experiments.batch as batch_module
    real = batch_module.local_executor
    made = []

    class BreaksOnThirdSubmit:
        def __init__(self, workers):
            self.pool, self.calls = real(workers), 0

        def submit(self, *args):
            self.calls += 1
            if self.calls == 3:
                raise BrokenProcessPool("a child process terminated abruptly")
            return self.pool.submit(*args)

        def shutdown(self, *args, **kwargs):
            self.pool.shutdown(*args, **kwargs)

    def executor(workers, processes=False):
        made.append(BreaksOnThirdSubmit(workers) if not made else real(workers, processes))
        return made[-1]

    monkeypatch.setattr(batch_module, "local_executor", executor)
    spec = SweepSpec.model_validate({"name": "race", "base": "(a test function)", "objectives": {"y": "max"},
                                     "levers": [{"path": "a", "levels": [0, 1, 2, 3, 4, 5]}],
                                     "design": {"kind": "full_factorial"}})
    runs = sweep(spec, tmp_path / "out", workers=2, evaluate=steady, window=2)
    assert len(made) == 2 and list(runs["status"]) == ["ok"] * 6 and list(runs["y"]) == [0, 1, 2, 3, 4, 5]


def test_main_effects_keep_quantile_bins_in_order(tmp_path):
    spec = SweepSpec.model_validate({"name": "bins", "base": "(a test function)", "objectives": {"y": "max"},
                                     "levers": [{"path": "a", "low": 1, "high": 30, "integer": True}],
                                     "design": {"kind": "full_factorial", "steps": 30}})
    sweep(spec, tmp_path / "out", evaluate=steady)
    effects = analyze(tmp_path / "out").tables["main_effects"]
    assert len(effects) == 5 and effects["mean"].is_monotonic_increasing


def test_a_sweep_where_every_run_failed_is_analyzed_without_a_traceback(tmp_path):
    spec = SweepSpec.model_validate({"name": "allfail", "base": "(a test function)", "objectives": {"y": "max"},
                                     "levers": [{"path": "a", "levels": [0, 1]}], "design": {"kind": "full_factorial"}})
    sweep(spec, tmp_path / "out", evaluate=ishigami)  # no x1: every run fails
    proc = cli("analyze", str(tmp_path / "out"), cwd=ROOT)
    assert proc.returncode == 0 and "no successful run" in proc.stdout, proc.stderr


def test_a_design_is_one_class_registered_once(tmp_path, monkeypatch):
    """A new design (here: every parameter at its low and high end only) is a Design subclass in
    experiments.designs.DESIGNS: specs accept it, the sweep runs its points and analyze uses what it says
    it supports (no indices, a common uncertainty sample, no regret)."""
    from experiments import designs
    from experiments.analysis import analyze

    class Corners(designs.Design):
        kind, description, common_uncertainty = "corners", "the ends of every range", True

        def rows(self, spec):
            return designs._grid(spec.parameters, 2)

    monkeypatch.setitem(designs.DESIGNS, "corners", Corners())
    spec = SweepSpec.model_validate({"name": "corners", "base": "(a test function)", "objectives": {"y": "max"},
                                     "levers": [{"path": "a", "low": 0, "high": 4}], "design": {"kind": "corners"}})
    runs = sweep(spec, tmp_path / "out", evaluate=steady)
    assert list(runs["a"]) == [0.0, 4.0] and list(runs["y"]) == [0.0, 4.0]
    result = analyze(tmp_path / "out")
    assert "sensitivity" not in result.tables and result.tables["pareto"]["pareto"].tolist() == [False, True]
    with pytest.raises(ValueError, match="unknown design 'grid'; allowed: .*corners"):
        SweepSpec.model_validate({"name": "x", "base": "b", "levers": [{"path": "a", "low": 0, "high": 1}],
                                  "design": {"kind": "grid"}})
