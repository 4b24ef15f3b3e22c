"""Where runs execute, behind `concurrent.futures.Executor`.

Results never depend on the executor or the number of workers: every run carries its own
seed (experiments/runs.py), so serial, process-pool (and, later, Dask) execution give the
same bits.
"""

from __future__ import annotations

import os
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
    """The machine's cores, at most 8."""
    return max(1, min(os.cpu_count() or 1, 8))


def local_executor(workers: int) -> Executor:
    """One worker: in this process; more: a pool of worker processes."""
    return SerialExecutor() if workers <= 1 else ProcessPoolExecutor(max_workers=workers)
