"""One press of Run in the studio: a comparison's runs in the background, its results as they come in.

The runs are a comparison's (experiments/comparison.py: replication r of every column before r + 1,
common random numbers) on the one batch engine, with the run cache, so a setting seen before, a page
reload, a server restart or an earlier `run.py compare` with the same inputs costs nothing. A
`RunSession` is read from the page's thread while its batch runs in a thread of its own: `snapshot()`
gives the progress per column, the paired changes so far (only replications finished in both the
baseline and the column), the targets and the series for the fan chart.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiments.batch import PARTS, BatchStats, JobResult, run_batch
from experiments.cache import default_cache
from experiments.comparison import comparison_jobs, comparison_table, runs_table, simulate
from experiments.stats import assess_targets
from sim.errors import Interrupted, ScenarioError
from sim.scenario import Scenario


@dataclass
class Snapshot:
    """What the page shows of a session at one moment."""

    status: str                      # running, finished, cancelled, failed
    done: list[int]                  # finished runs per column
    total: int                       # runs per column (the replications)
    paired: pd.DataFrame             # comparison.csv's rows for the replications finished in pairs
    targets: pd.DataFrame            # targets.csv's rows so far
    series: dict[str, list[pd.DataFrame]]  # per column, each finished run's daily series
    cached: int                      # runs taken from the run cache
    seconds: float                   # since Run was pressed
    first_interval_seconds: float | None  # when the first paired interval (2 pairs) could be shown
    error: str
    robust_done: int = 0             # robustness runs finished (with `robust` points)
    robust_total: int = 0
    verdicts: pd.DataFrame | None = None  # verdicts.csv's rows, once the robustness runs are done


class RunSession:
    """The runs of `scenarios` (the baseline first) x `replications`, in a background thread."""

    def __init__(self, scenarios: list[Scenario], replications: int, *, workers: int = 1,
                 executor: Executor | None = None, robust: int = 0, notify=None) -> None:
        self.scenarios = scenarios
        self.names = [s.name for s in scenarios]
        self.replications = replications
        self.workers, self.executor = workers, executor
        self.jobs = comparison_jobs(scenarios, replications)
        self.records: list[JobResult] = []
        self.stop = threading.Event()
        self.status = "running"
        self.error = ""
        self.stats: BatchStats | None = None
        self.started = time.perf_counter()
        self.ended: float | None = None
        self.first_interval: float | None = None
        self.robust = robust
        self.notify = notify  # called (from the session's thread) when a run finishes and when it all ends
        self.robust_done = self.robust_total = 0
        self.verdicts: pd.DataFrame | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="ecomsim-studio-runs", daemon=True)

    def start(self) -> RunSession:
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Stop now: running workers are terminated; finished runs stay in the run cache."""
        self.stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _work(self) -> None:
        folder = Path(tempfile.mkdtemp(prefix="ecomsim-studio-"))
        try:
            self.stats = run_batch(self.jobs, simulate, folder, workers=self.workers, executor=self.executor,
                                   tables_in=folder / PARTS, on_record=self._record, stop=self.stop,
                                   cache=default_cache(), processes=True, write_cached=False)
            failed = [r for r in self.records if r.status != "ok"]
            if failed:
                first = failed[0]
                self.error = (f"{len(failed)} of {len(self.jobs)} runs did not finish; first: "
                              f"{first.columns['scenario']} replication {first.replication}: {first.error}")
                self.status = "failed"
                return
            if self.robust:
                self._judge(folder / "robust")
            self.status = "finished"
        except ScenarioError as exc:
            self.status, self.error = "failed", str(exc)
        except Interrupted:
            self.status = "cancelled"
        except Exception as exc:  # noqa: BLE001 - shown on the page, the server goes on
            self.status, self.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            self.ended = time.perf_counter()
            shutil.rmtree(folder, ignore_errors=True)
            self._notify()

    def _notify(self) -> None:
        if self.notify is not None:
            try:
                self.notify()
            except Exception:  # noqa: BLE001 - a page gone away: the periodic check still sees the end
                pass

    def _judge(self, folder: Path) -> None:
        """The robust verdicts: every column at `robust` points of the uncertainty set (experiments/robust.py)."""
        from experiments.robust import load_uncertainties, run_robust, sample_points
        points = sample_points(load_uncertainties(None), self.robust, self.scenarios[0].seed)
        self.robust_total = len(points) * self.replications * len(self.scenarios)

        def counted(_: JobResult) -> None:
            self.robust_done += 1
        self.verdicts = run_robust(self.scenarios, points, self.replications, folder, workers=self.workers,
                                   executor=self.executor, cache=default_cache(), stop=self.stop, on_record=counted,
                                   processes=True)

    def _record(self, record: JobResult) -> None:
        with self._lock:
            self.records.append(record)
            if self.first_interval is None and self._pairs() >= 2:
                self.first_interval = time.perf_counter() - self.started
        self._notify()

    def _pairs(self) -> int:
        """The most replications any what-if column has finished together with the baseline."""
        done = {}
        for r in self.records:
            if r.status == "ok":
                done.setdefault(r.point, set()).add(r.replication)
        base = done.get(0, set())
        return max((len(base & reps) for point, reps in done.items() if point), default=0)

    def snapshot(self) -> Snapshot:
        with self._lock:
            records = list(self.records)
        ok = [r for r in records if r.status == "ok"]
        done = [sum(1 for r in records if r.point == i) for i in range(len(self.names))]
        paired, targets = _paired(ok, self.names, self.scenarios)
        series: dict[str, list[pd.DataFrame]] = {name: [] for name in self.names}
        for r in sorted(ok, key=lambda r: (r.point, r.replication)):
            if "series" in r.tables:
                series[self.names[r.point]].append(r.tables["series"])
        end = self.ended if self.ended is not None else time.perf_counter()
        cached = self.stats.cached if self.stats is not None else 0
        return Snapshot(self.status, done, self.replications, paired, targets, series, cached, end - self.started,
                        self.first_interval, self.error, self.robust_done, self.robust_total, self.verdicts)


def _paired(ok: list[JobResult], names: list[str], scenarios: list[Scenario]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """comparison.csv's and targets.csv's rows over the replications each column has finished together with
    the baseline (empty frames before the first pair)."""
    if not ok:
        return pd.DataFrame(), pd.DataFrame()
    gathered = pd.DataFrame([r.row() for r in ok])
    runs = runs_table(gathered)
    base_reps = set(runs.loc[runs["scenario"] == names[0], "replication"])
    tables, targets = [], []
    for i, name in enumerate(names[1:], start=1):
        reps = base_reps & set(runs.loc[runs["scenario"] == name, "replication"])
        if not reps:
            continue
        pair = runs[runs["scenario"].isin([names[0], name]) & runs["replication"].isin(reps)]
        table = comparison_table(pair, [names[0], name])
        tables.append(table[table["scenario"] == name])
        goals = assess_targets(pair, [names[0], name], [scenarios[0].targets, scenarios[i].targets])
        targets.append(goals[goals["scenario"] == name] if len(goals) else goals)
    paired = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    goals = pd.concat(targets, ignore_index=True) if targets else pd.DataFrame()
    return paired, goals
