"""Metrics as pure functions of labels and probabilities.

Key names (as in ``metrics.json``; gates name them as ``<task>.<key>``):

* ``accuracy``, ``macro_f1``, ``weighted_f1``: floats in [0, 1];
* ``per_label``: ``{label: {"precision", "recall", "f1", "support"}}``;
* ``confusion``: ``{"labels": [...], "matrix": [[...]]}``, rows are true labels, columns predicted;
* ``macro_f1_ci``: ``[low, high]``, a seeded 95% bootstrap interval over sentences;
* ``ece``: expected calibration error of the top label (15 equal-width bins);
* ``n``: number of scored sentences.

The primary metric, used for model selection and early stopping, is :data:`PRIMARY_METRIC`:
the mean over tasks of ``macro_f1``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

PRIMARY_METRIC = "mean_macro_f1"


def confusion_matrix(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        m[index[t], index[p]] += 1
    return m


def _prf(m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tp = np.diag(m).astype(float)
    predicted = m.sum(axis=0).astype(float)
    support = m.sum(axis=1).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1, support


def macro_f1_from_confusion(m: np.ndarray) -> float:
    """Mean F1 over labels that occur in the gold data or the predictions."""
    _, _, f1, support = _prf(m)
    present = (support > 0) | (m.sum(axis=0) > 0)
    return float(f1[present].mean()) if present.any() else 0.0


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> float:
    return macro_f1_from_confusion(confusion_matrix(y_true, y_pred, labels))


def bootstrap_macro_f1_ci(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    labels: Sequence[str],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of macro-F1, resampling sentences with replacement."""
    n = len(y_true)
    if n == 0:
        return (0.0, 0.0)
    index = {label: i for i, label in enumerate(labels)}
    t = np.array([index[x] for x in y_true])
    p = np.array([index[x] for x in y_pred])
    k = len(labels)
    rng = np.random.default_rng(seed)
    scores = np.empty(n_resamples)
    for b in range(n_resamples):
        idx = rng.integers(0, n, n)
        m = np.bincount(t[idx] * k + p[idx], minlength=k * k).reshape(k, k)
        scores[b] = macro_f1_from_confusion(m)
    alpha = (1 - level) / 2
    return float(np.quantile(scores, alpha)), float(np.quantile(scores, 1 - alpha))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> float:
    """ECE of the top label: sum over equal-width bins of |accuracy - confidence| x bin share."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if confidence.size == 0:
        return 0.0
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> list[dict[str, float]]:
    """Per-bin mean confidence, accuracy and count, for reliability diagrams."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    out = []
    for b in range(n_bins):
        mask = bins == b
        out.append(
            {
                "low": b / n_bins,
                "high": (b + 1) / n_bins,
                "confidence": float(confidence[mask].mean()) if mask.any() else 0.0,
                "accuracy": float(correct[mask].mean()) if mask.any() else 0.0,
                "count": int(mask.sum()),
            }
        )
    return out


def task_metrics(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    labels: Sequence[str],
    *,
    probs: np.ndarray | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every metric of one task. ``probs``: (n, len(labels)) probabilities, for ``ece``."""
    m = confusion_matrix(y_true, y_pred, labels)
    precision, recall, f1, support = _prf(m)
    n = int(m.sum())
    total = support.sum()
    out: dict[str, Any] = {
        "n": n,
        "accuracy": float(np.trace(m) / n) if n else 0.0,
        "macro_f1": macro_f1_from_confusion(m),
        "weighted_f1": float((f1 * support).sum() / total) if total else 0.0,
        "per_label": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion": {"labels": list(labels), "matrix": m.tolist()},
    }
    if bootstrap:
        out["macro_f1_ci"] = list(bootstrap_macro_f1_ci(y_true, y_pred, labels, n_resamples=bootstrap, seed=seed))
    if probs is not None and n:
        probs = np.asarray(probs)
        index = {label: i for i, label in enumerate(labels)}
        gold = np.array([index[t] for t in y_true])
        top = probs.argmax(axis=1)
        out["ece"] = expected_calibration_error(probs.max(axis=1), top == gold)
    return out


def summarize(per_task: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``{"tasks": per_task, "mean_macro_f1": ...}``: the primary metric over all tasks."""
    values = [t["macro_f1"] for t in per_task.values()]
    return {"tasks": dict(per_task), PRIMARY_METRIC: float(np.mean(values)) if values else 0.0}
