"""Results unchanged: a stored copy of the KPIs of a small benchmark run catches any change.

tests/data/golden_bench_small.json is scenarios/bench.yaml (all five policies on) shrunk to
5,000 shoppers, 40 merchants, 10 suppliers and 120 days, seed 42. A refactor must leave every
KPI as it is: counts exactly, real numbers within a relative 1e-9 (the last bits of a sum may
differ between numpy or pandas releases; a change of the model moves far more than that). A
change of the model made on purpose updates the file in the same commit and says why in the
message (`python tests/test_golden.py --update`).
"""

from __future__ import annotations

import json
import math
import sys

from conftest import ROOT, SMALL
from sim.runner import run_scenario
from sim.scenario_io import load_scenario

GOLDEN = ROOT / "tests" / "data" / "golden_bench_small.json"
RELATIVE = 1e-9  # last-bit differences of a float sum; a real change is many orders larger
ABSOLUTE = 1e-9  # for values that should be 0 and come out as rounding residue


def _summary() -> dict:
    result = run_scenario(load_scenario(ROOT / "scenarios" / "bench.yaml", SMALL))
    return json.loads(json.dumps(result.summary, sort_keys=True))  # as summary.json stores it


def same(stored, now) -> bool:
    """Equal up to the golden tolerance: integers, strings and keys exactly, reals within RELATIVE."""
    if isinstance(stored, dict) and isinstance(now, dict):
        return stored.keys() == now.keys() and all(same(stored[k], now[k]) for k in stored)
    if isinstance(stored, bool) or isinstance(now, bool) or isinstance(stored, int) and isinstance(now, int):
        return stored == now
    if isinstance(stored, (int, float)) and isinstance(now, (int, float)):
        return math.isclose(stored, now, rel_tol=RELATIVE, abs_tol=ABSOLUTE) or (math.isnan(stored) and math.isnan(now))
    return stored == now


def test_the_tolerance_takes_last_bits_and_refuses_real_changes():
    assert same(1293.944463858682, 1293.944463858817)  # numpy 2.4 against 2.3 on the same model
    assert not same(1293.944463858682, 1293.9445)
    assert not same(9591, 9592) and not same({"a": 1}, {"a": 1, "b": 2})
    assert same({"x": {"y": 0.1 + 0.2}}, {"x": {"y": 0.3}})


def test_small_benchmark_kpis_are_unchanged():
    stored = json.loads(GOLDEN.read_text())
    now = _summary()
    changed = {k: (stored.get(k), now.get(k)) for k in sorted(set(stored) | set(now))
               if not same(stored.get(k), now.get(k))}
    assert changed == {}, f"KPIs changed (stored, now): {changed}"


if __name__ == "__main__" and "--update" in sys.argv:
    GOLDEN.write_text(json.dumps(_summary(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
