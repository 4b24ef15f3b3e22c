"""How much of a run is spent inside SimPy (events and the model callbacks they run).

Usage: python benchmarks/simpy_share.py [PATH=VALUE ...]   (overrides as with --set)
Runs the baseline with the phase timers of `run.py bench` (experiments/bench.py) and prints the SimPy
share; figures go in docs/performance.md.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from experiments.bench import run_bench  # noqa: E402
from sim.scenario_io import load_scenario  # noqa: E402

result = run_bench(load_scenario(ROOT / "scenarios" / "baseline.yaml", sys.argv[1:]))
spent, events = result["phases"]["SimPy events"], result["calls"]["SimPy events"]
print(f"build {result['build_s']:.2f}s, days {result['days_s']:.2f}s, inside SimPy (events + callbacks) "
      f"{spent:.2f}s = {spent / result['days_s']:.1%} of the days, {events:,} events, {events / spent:,.0f} events/s")
