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
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np

from stance.errors import ModelError
from stance.modeldir import ModelConfig

_backend: Any = None  # the worker's own backend, loaded once by _start
_failure: Exception | None = None


def _start(directory: str, threads: int) -> None:
    global _backend, _failure
    from stance.modeldir import read_config
    from stance.predict import make_backend

    try:
        _backend = make_backend(Path(directory), read_config(Path(directory)), threads)
    except Exception as exc:  # reported by the first batch, in the parent, as a ModelError
        _failure = exc


def _run(batch: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    if _failure is not None:
        raise ModelError(f"labelling worker could not load the model: {_failure}")
    return _backend.logits(*batch)


class WorkerPool:
    """Runs batches on ``workers`` processes with ``threads`` intra-op threads each."""

    def __init__(self, directory: Path, config: ModelConfig, *, workers: int, threads: int = 1) -> None:
        if workers < 2:
            raise ModelError(f"a worker pool needs at least 2 workers, got {workers}")
        self.workers = workers
        self.tasks = config.scheme.names
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(str(directory), threads),
        )

    def map(self, batches: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[dict[str, np.ndarray]]:
        try:
            return list(self._pool.map(_run, batches))
        except BrokenProcessPool:
            raise ModelError("a labelling worker process died (out of memory?); rerun with --resume") from None

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        return self.map([(input_ids, attention_mask)])[0]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
