"""The batch layer: many runs of the model and what is learnt from them.

- runs.py: run specs with their common seeds, and one run in a worker;
- executors.py: where runs execute (serial, a local process pool; a Dask cluster plugs in
  behind the same concurrent.futures.Executor interface);
- stats.py: paired confidence intervals and targets;
- compare.py: `run.py compare`; validation.py: `run.py validate`; bench.py: `run.py bench`;
- sweep.py: `run.py sweep` (specs, designs, resumable Parquet parts); analysis.py: `run.py analyze`
  (sensitivity, convergence, main effects, Pareto settings, robust choice);
- library.py: the scenario library and validation cases shipped with the package.
"""
