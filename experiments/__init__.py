"""The batch layer: many runs of the model and what is learnt from them.

From Python or a notebook:

    from experiments import compare, sweep
    table = compare("scenarios/baseline.yaml", ["scenarios/referral.yaml"], replications=5, out="results/ref")
    runs = sweep("experiments/smoke.yaml", out="results/sweep-smoke", workers=2)

Modules:
- batch.py: the one batch engine under compare and sweep (jobs and their common seeds, Parquet
  parts written as runs end, resume, lost workers, failures recorded);
- executors.py: where runs execute (in this process, a local process pool; a Dask cluster's
  executor plugs in behind the same concurrent.futures.Executor interface);
- stats.py: paired confidence intervals and targets;
- comparison.py: `run.py compare`; sweeps.py: `run.py sweep` (specs and designs); analysis.py:
  `run.py analyze` (sensitivity, convergence, main effects, Pareto settings, robust choice);
- report.py: `run.py report`; validation.py (with result.py, stylised_facts.py): `run.py validate`;
  bench.py: `run.py bench`; transactions.py, calibration.py, synthetic_log.py: `run.py calibrate`;
- library.py: the scenario library and validation cases shipped with the package.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compare", "sweep"]


def __getattr__(name: str) -> Any:
    """`compare` and `sweep`, imported when first asked for (importing the package stays cheap)."""
    if name == "compare":
        from experiments.comparison import compare
        return compare
    if name == "sweep":
        from experiments.sweeps import sweep
        return sweep
    raise AttributeError(f"module 'experiments' has no attribute {name!r}")
