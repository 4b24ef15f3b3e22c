"""Results unchanged: a stored copy of the KPIs of a small benchmark run catches any change.

tests/data/golden_bench_small.json is scenarios/bench.yaml (all five policies on) shrunk to
5,000 shoppers, 40 merchants, 10 suppliers and 120 days, seed 42, as the model computed it
before the layout refactor of issue 8. A refactor must leave it bit for bit; a change of the
model made on purpose updates the file in the same commit and says why in the message
(`python tests/test_golden.py --update`).
"""

from __future__ import annotations

import json
import sys

from conftest import ROOT, SMALL

from sim.runner import run_scenario
from sim.scenario_io import load_scenario

GOLDEN = ROOT / "tests" / "data" / "golden_bench_small.json"


def _summary() -> dict:
    result = run_scenario(load_scenario(ROOT / "scenarios" / "bench.yaml", SMALL))
    return json.loads(json.dumps(result.summary, sort_keys=True))  # as summary.json stores it


def test_small_benchmark_kpis_are_unchanged():
    stored = json.loads(GOLDEN.read_text())
    now = _summary()
    changed = {k: (stored.get(k), now.get(k)) for k in sorted(set(stored) | set(now)) if stored.get(k) != now.get(k)}
    assert changed == {}, f"KPIs changed (stored, now): {changed}"


if __name__ == "__main__" and "--update" in sys.argv:
    GOLDEN.write_text(json.dumps(_summary(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
