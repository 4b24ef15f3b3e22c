"""How much of a run is spent inside SimPy (events and their callbacks).

Usage: python benchmarks/simpy_share.py [PATH=VALUE ...]   (overrides as with --set)
Times every simpy.Environment.step of a baseline run; figures go in docs/performance.md.
"""
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import simpy  # noqa: E402

from sim.model import MarketModel  # noqa: E402
from sim.scenario_io import load_scenario  # noqa: E402

spent = [0.0]
count = [0]
orig_step = simpy.Environment.step
def timed_step(self):
    count[0] += 1
    t = time.perf_counter()
    try:
        return orig_step(self)
    finally:
        spent[0] += time.perf_counter() - t
simpy.Environment.step = timed_step
sets = sys.argv[1:]
sc = load_scenario(ROOT / 'scenarios' / 'baseline.yaml', sets)
t0 = time.perf_counter(); m = MarketModel(sc); build = time.perf_counter() - t0
t1 = time.perf_counter(); m.run(); run = time.perf_counter() - t1
print(f"build {build:.2f}s, days {run:.2f}s, inside SimPy (events + callbacks) {spent[0]:.2f}s = {spent[0]/run:.1%} of the days, {count[0]:,} events, {count[0]/spent[0]:,.0f} events/s")
