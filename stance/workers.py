"""One labelling process per CPU core.

On a small machine, ONNX Runtime gets more sentences per second from two single-threaded
sessions in two processes than from one session with two threads (the matrices of a
sentence batch are too small to share well between threads). :class:`WorkerPool` is a
backend like the others: the :class:`~stance.predict.Predictor` still forms the batches
(so labels do not depend on the number of workers), and the pool runs them, in order,
on worker processes that each load the model once.

Workers are started with ``spawn``: a script that uses ``stance.load(..., workers=N)``
must guard its entry point with ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np

from stance.errors import ModelError

STARTUP_TIMEOUT = 300  # seconds for every worker to start and load the model
TASKS_PER_WORKER = 4  # tasks each worker gets per submitted chunk of batches
CANNOT_LOAD = "labelling worker could not load the model"
DIED = "a labelling worker process died (out of memory?); rerun with --resume"
_backend: Any = None  # the worker's own backend, loaded once by _start
_failure: Exception | None = None
_barrier: Any = None


def _ready() -> str | None:
    """Wait until every worker has loaded the model (one such task per worker); report a failure."""
    _barrier.wait(timeout=STARTUP_TIMEOUT)
    return None if _failure is None else str(_failure)


def _start(directory: str, threads: int, barrier: Any, options: dict[str, Any]) -> None:
    global _backend, _failure, _barrier
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the pool
    _barrier = barrier
    from stance.modeldir import read_config
    from stance.predict import make_backend

    try:
        _backend = make_backend(Path(directory), read_config(Path(directory)), threads, **options)
    except Exception as exc:  # reported to the parent by _ready, as a ModelError
        _failure = exc


def _run(batches: list[tuple[np.ndarray, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    if _failure is not None:  # a worker restarted after start-up: the pool reports it the same way
        raise ModelError(f"{CANNOT_LOAD}: {_failure}")
    return [_backend.logits(*batch) for batch in batches]


class WorkerPool:
    """Runs batches on ``workers`` processes with ``threads`` intra-op threads each.

    ``options`` go to each worker's :func:`~stance.predict.make_backend` (device, precision).
    """

    def __init__(self, directory: Path, *, workers: int, threads: int = 1, **options: Any) -> None:
        if workers < 2:
            raise ModelError(f"a worker pool needs at least 2 workers, got {workers}")
        self.workers = workers
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_start,
            initargs=(str(directory), threads, context.Barrier(workers), options),
        )
        # Start every worker now and wait until each has loaded the model, so that the first
        # batches do not wait for a process still starting, and a broken model fails here.
        try:
            failures = [f.result() for f in [self._pool.submit(_ready) for _ in range(workers)]]
        except (BrokenProcessPool, threading.BrokenBarrierError) as exc:
            self.close()
            raise ModelError(f"labelling workers did not start ({exc or type(exc).__name__})") from None
        failure = next((f for f in failures if f), None)
        if failure:
            self.close()
            raise ModelError(f"{CANNOT_LOAD}: {failure}")

    def map(self, batches: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        return self.submit(batches)()

    def submit(self, batches: Sequence[tuple[np.ndarray, np.ndarray]]) -> Callable[[], list[dict[str, np.ndarray]]]:
        """Queue the batches on the workers now; the returned function waits for their logits."""
        # a few tasks per worker, each of several batches: fewer round trips than one per batch,
        # and still enough tasks for the workers to finish together
        size = max(1, -(-len(batches) // (self.workers * TASKS_PER_WORKER)))
        try:
            futures = [self._pool.submit(_run, list(batches[i : i + size])) for i in range(0, len(batches), size)]
        except BrokenProcessPool:
            raise ModelError(DIED) from None

        def results() -> list[dict[str, np.ndarray]]:
            try:
                return [logits for f in futures for logits in f.result()]
            except BrokenProcessPool:
                raise ModelError(DIED) from None

        return results

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        return self.map([(input_ids, attention_mask)])[0]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
