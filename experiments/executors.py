"""Where runs execute, behind `concurrent.futures.Executor`.

Results never depend on the executor or the number of workers: every run carries its own
seed (experiments/batch.py), so serial, process-pool and Dask execution give the
same bits.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any


class SerialExecutor(Executor):
    """Runs each task at submit time in this process (one worker: no pickling, plain tracebacks)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future


def default_workers() -> int:
    """The cores this process may use (CPU affinity and a container's quota: sim.runner.usable_cores), at
    most 8."""
    from sim.runner import usable_cores
    return min(usable_cores(), 8)


WORKER_NICENESS = 5


def _init_worker() -> None:
    """Workers leave Ctrl-C to the main process, which stops them (no traceback from every worker), and
    tqdm takes a thread lock: its default multiprocessing lock is a named semaphore that a worker stopped
    mid-run leaves behind (and Python warns of at exit). They run at a lower priority (nice +5), so the
    process driving them (a terminal's progress bar, the studio's page) answers at once while they compute;
    priority never changes a result."""
    from tqdm import tqdm
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(WORKER_NICENESS)
    except (AttributeError, OSError):  # no nice on this platform: same results, less responsive
        pass
    tqdm.set_lock(threading.RLock())


def local_executor(workers: int, processes: bool = False) -> Executor:
    """One worker: in this process (unless `processes`: a pool of one, which a stop can terminate and which
    leaves this process free); more: a pool of worker processes."""
    if workers <= 1 and not processes:
        return SerialExecutor()
    return ProcessPoolExecutor(max_workers=workers, initializer=_init_worker)
