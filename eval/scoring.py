"""Score a predictor on labelled sentences: probabilities in, metrics out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eval.metrics import summarize, task_metrics
from stance.scheme import Scheme


@dataclass
class Scored:
    metrics: dict[str, Any]  # summarize(): {"tasks": {...}, "mean_macro_f1": ...}
    probs: dict[str, np.ndarray]  # calibrated probabilities per task, (n, n_labels)
    logits: dict[str, np.ndarray]


def score_predictions(
    scheme: Scheme,
    gold: Mapping[str, Sequence[str | None]],
    probs: Mapping[str, np.ndarray],
    *,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics per task from gold labels (None = unlabelled, skipped) and probabilities."""
    per_task = {}
    for task in scheme:
        g = gold[task.name]
        keep = [i for i, x in enumerate(g) if x is not None]
        p = np.asarray(probs[task.name])[keep]
        y_true = [g[i] for i in keep]
        y_pred = [task.labels[k] for k in p.argmax(axis=1)] if len(keep) else []
        per_task[task.name] = task_metrics(
            y_true, y_pred, task.labels, probs=p, bootstrap=bootstrap, seed=seed  # type: ignore[arg-type]
        )
    return summarize(per_task)


def score(
    predictor: Any,
    texts: Sequence[str],
    gold: Mapping[str, Sequence[str | None]],
    *,
    bootstrap: int = 1000,
    seed: int = 0,
) -> Scored:
    """Run ``predictor`` (a :class:`stance.predict.Predictor`) and score it."""
    from stance.predict import softmax

    logits = predictor.logits(list(texts))
    scheme = predictor.config.scheme
    probs = {t.name: softmax(logits[t.name] / predictor.config.temperature(t.name)) for t in scheme}
    metrics = score_predictions(scheme, gold, probs, bootstrap=bootstrap, seed=seed)
    return Scored(metrics, probs, logits)
