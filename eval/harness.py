"""``stance eval``: score a model on labelled sentence files, compare, gate, report.

:func:`evaluate` returns an :class:`EvalResult` (metrics and per-row predictions) and writes
nothing; :mod:`eval.report` writes the reports; :mod:`eval.gates` checks the gates.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eval.metrics import (
    PRIMARY_METRIC,
    expected_calibration_error,
    macro_f1,
    reliability_bins,
    task_metrics,
)
from stance.errors import InputError
from stance.predict import softmax
from stance.records import read_labelled


@dataclass
class EvalResult:
    metrics: dict[str, Any]
    rows: list[dict[str, Any]]  # the labelled rows, in order
    probs: dict[str, np.ndarray]  # calibrated probabilities per task
    predictions: dict[str, list[str]]  # predicted label per task
    gold: dict[str, list[str | None]]
    baseline: dict[str, Any] | None = None  # comparison against a baseline, if any
    figures: dict[str, Any] = field(default_factory=dict)


def load_rows(paths: Sequence[str], text_field: str, scheme: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    about = f"the model's tasks are {', '.join(scheme.names)}"
    for p in paths:
        for where, rec in read_labelled(p, text_field, scheme.names, about=about):
            for task in scheme:
                value = rec.get(task.name)
                if value is not None and str(value).strip() and str(value) not in task.labels:
                    raise InputError(
                        f"{where}: unknown {task.name} label {value!r} (the model knows {', '.join(task.labels)})"
                    )
            rows.append({**rec, "_where": where})
    return rows


def data_fingerprint(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def slice_metrics(
    field_name: str, rows: Sequence[dict[str, Any]], gold: Sequence[str | None], pred: Sequence[str], labels: Sequence[str]
) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        value = r.get(field_name)
        if isinstance(value, list):
            value = ",".join(map(str, value))
        groups.setdefault("(missing)" if value is None or value == "" else str(value), []).append(i)
    out = {}
    for key in sorted(groups):
        idx = [i for i in groups[key] if gold[i] is not None]
        if not idx:
            continue
        g = [gold[i] for i in idx]
        p = [pred[i] for i in idx]
        out[key] = {
            "n": len(idx),
            "accuracy": float(np.mean([a == b for a, b in zip(g, p)])),
            "macro_f1": macro_f1(g, p, labels),  # type: ignore[arg-type]
        }
    return out


def evaluate(
    model: Any,
    data: Sequence[str],
    *,
    text_field: str = "text",
    slice_by: Sequence[str] = (),
    bootstrap: int = 1000,
    seed: int = 0,
) -> EvalResult:
    """Score ``model`` (a :class:`stance.StanceModel`) on labelled files."""
    scheme = model.scheme
    rows = load_rows(data, text_field, scheme)
    texts = [r[text_field] for r in rows]
    logits = model.predictor.logits(texts)
    probs, per_task = {}, {}
    predictions: dict[str, list[str]] = {}
    gold: dict[str, list[str | None]] = {}
    for task in scheme:
        g = [None if r.get(task.name) in (None, "") else str(r[task.name]) for r in rows]
        gold[task.name] = g
        p = softmax(logits[task.name] / model.config.temperature(task.name))
        raw = softmax(logits[task.name])
        probs[task.name] = p
        pred = [task.labels[k] for k in p.argmax(axis=1)]
        predictions[task.name] = pred
        keep = [i for i, x in enumerate(g) if x is not None]
        y_true = [g[i] for i in keep]
        y_pred = [pred[i] for i in keep]
        m = task_metrics(y_true, y_pred, task.labels, probs=p[keep], bootstrap=bootstrap, seed=seed)  # type: ignore[arg-type]
        gold_ids = np.array([task.label2id[x] for x in y_true])  # type: ignore[index]
        correct_raw = raw[keep].argmax(1) == gold_ids
        m["ece_uncalibrated"] = expected_calibration_error(raw[keep].max(1), correct_raw)
        m["temperature"] = model.config.temperature(task.name)
        m["reliability"] = reliability_bins(p[keep].max(1), p[keep].argmax(1) == gold_ids)
        m["reliability_uncalibrated"] = reliability_bins(raw[keep].max(1), correct_raw)
        if slice_by:
            m["slices"] = {f: slice_metrics(f, [rows[i] for i in keep], y_true, y_pred, task.labels) for f in slice_by}
        per_task[task.name] = m
    metrics = {
        "model": str(model.path),
        "backend": model.backend,
        "data": [str(d) for d in data],
        "data_fingerprint": data_fingerprint(texts),
        "n": len(rows),
        "primary_metric": PRIMARY_METRIC,
        PRIMARY_METRIC: float(np.mean([m["macro_f1"] for m in per_task.values()])),
        "tasks": per_task,
    }
    return EvalResult(metrics, rows, probs, predictions, gold)


def paired_bootstrap(
    gold: Sequence[str | None], a: Sequence[str], b: Sequence[str], labels: Sequence[str], *, n_resamples: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Macro-F1 of a minus b, and a two-sided p-value from a paired bootstrap over sentences."""
    keep = [i for i, g in enumerate(gold) if g is not None]
    index = {lab: i for i, lab in enumerate(labels)}
    t = np.array([index[gold[i]] for i in keep])  # type: ignore[index]
    pa = np.array([index[a[i]] for i in keep])
    pb = np.array([index[b[i]] for i in keep])
    k = len(labels)
    from eval.metrics import macro_f1_from_confusion

    def f1(tt: np.ndarray, pp: np.ndarray) -> float:
        return macro_f1_from_confusion(np.bincount(tt * k + pp, minlength=k * k).reshape(k, k))

    delta = f1(t, pa) - f1(t, pb)
    rng = np.random.default_rng(seed)
    deltas = np.empty(n_resamples)
    n = len(keep)
    for r in range(n_resamples):
        idx = rng.integers(0, n, n)
        deltas[r] = f1(t[idx], pa[idx]) - f1(t[idx], pb[idx])
    p = 2 * min((deltas <= 0).mean(), (deltas >= 0).mean())
    return {"delta": float(delta), "p_value": float(min(1.0, p))}


def compare(result: EvalResult, baseline: str | Path, *, seed: int = 0) -> dict[str, Any]:
    """Deltas against a baseline: a report folder (or its metrics.json) or a model directory.

    With a model directory, or a report whose ``predictions.jsonl`` covers the same data,
    deltas of macro-F1 come with a paired-bootstrap p-value, and ``agreement`` gives per task
    the share of rows whose label equals the baseline's (how much a change of format or
    precision moves the labels, whatever it does to the scores).
    """
    import stance

    path = Path(baseline)
    base_pred: dict[str, list[str]] | None = None
    if (path / "config.json").exists():
        base_model = stance.load(path)
        base = evaluate(base_model, result.metrics["data"], bootstrap=0)
        base_metrics, base_pred, source = base.metrics, base.predictions, f"model {path}"
    else:
        metrics_file = path / "metrics.json" if path.is_dir() else path
        if not metrics_file.exists():
            raise InputError(f"--baseline {baseline}: neither a model directory nor a report (no metrics.json)")
        base_metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        if "tasks" not in base_metrics:
            raise InputError(f"{metrics_file}: not a stance eval or train metrics file")
        if "test" in base_metrics and "data_fingerprint" not in base_metrics:
            base_metrics = base_metrics["test"]  # a model's metrics.json
        source = f"report {metrics_file}"
        pred_file = metrics_file.parent / "predictions.jsonl"
        if pred_file.exists() and base_metrics.get("data_fingerprint") == result.metrics["data_fingerprint"]:
            preds = [json.loads(x) for x in pred_file.read_text(encoding="utf-8").splitlines()]
            base_pred = {t: [p[t] for p in preds] for t in result.predictions if preds and t in preds[0]}
    deltas: dict[str, Any] = {}
    agreement: dict[str, float] = {}
    for task, m in result.metrics["tasks"].items():
        b = base_metrics.get("tasks", {}).get(task)
        if not b:
            continue
        for key in ("macro_f1", "accuracy", "weighted_f1"):
            if key in b:
                deltas[f"{task}.{key}"] = {"value": m[key], "baseline": b[key], "delta": m[key] - b[key]}
        if base_pred and task in base_pred:
            labels = m["confusion"]["labels"]
            sig = paired_bootstrap(result.gold[task], result.predictions[task], base_pred[task], labels, seed=seed)
            deltas[f"{task}.macro_f1"]["p_value"] = sig["p_value"]
            ours, theirs = result.predictions[task], base_pred[task]
            agreement[task] = sum(a == b for a, b in zip(ours, theirs, strict=True)) / max(1, len(ours))
    if PRIMARY_METRIC in base_metrics:
        deltas[PRIMARY_METRIC] = {
            "value": result.metrics[PRIMARY_METRIC],
            "baseline": base_metrics[PRIMARY_METRIC],
            "delta": result.metrics[PRIMARY_METRIC] - base_metrics[PRIMARY_METRIC],
        }
    return {"source": source, "deltas": deltas, "agreement": agreement}
