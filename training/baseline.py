"""TF-IDF + logistic regression baseline, trained on the same data and scored by the same code.

    python -m training.baseline [configs/default.toml] [--report-dir reports/baseline]

One word+bigram TF-IDF and one character 2-5-gram TF-IDF feed a class-balanced logistic
regression per task. The metrics come from :func:`eval.scoring.score_predictions`, the
function that scores the transformer, and the report folder it writes is accepted by
``stance eval --baseline``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from eval.metrics import PRIMARY_METRIC
from eval.scoring import score_predictions
from training.config import load_config
from training.data import load_examples, resolve_scheme


def train_baseline(config_path: str, *, seed: int = 0) -> dict[str, Any]:
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    cfg = load_config(config_path)
    names = cfg.task_names
    train = load_examples(cfg.data.train, cfg.data.text_field, names)
    scheme = resolve_scheme(cfg.tasks, names, train)
    started = time.perf_counter()
    words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, lowercase=True)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, max_features=100_000)
    texts = [e.text for e in train]
    x_train = hstack([words.fit_transform(texts), chars.fit_transform(texts)]).tocsr()
    models = {}
    for task in scheme:
        keep = [i for i, e in enumerate(train) if e.labels[task.name] is not None]
        y = [task.label2id[train[i].labels[task.name]] for i in keep]  # type: ignore[index]
        clf = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced", random_state=seed)
        clf.fit(x_train[keep], y)
        models[task.name] = clf
    out: dict[str, Any] = {"model": "tfidf-logreg", "train_seconds": round(time.perf_counter() - started, 1)}
    for split, path in (("dev", cfg.data.dev), ("test", cfg.data.test)):
        if not path:
            continue
        examples = load_examples(path, cfg.data.text_field, names)
        tx = [e.text for e in examples]
        x = hstack([words.transform(tx), chars.transform(tx)]).tocsr()
        probs = {}
        for task in scheme:
            p = np.zeros((len(tx), len(task.labels)))
            p[:, models[task.name].classes_] = models[task.name].predict_proba(x)
            probs[task.name] = p
        gold = {t.name: [e.labels[t.name] for e in examples] for t in scheme}
        out[split] = score_predictions(scheme, gold, probs, seed=seed)
        out[split]["data"] = [str(path)]
        out[split]["predictions"] = [
            {t.name: t.labels[int(probs[t.name][i].argmax())] for t in scheme} for i in range(len(tx))
        ]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", nargs="?", default="configs/default.toml")
    ap.add_argument("--report-dir", type=Path, help="write metrics.json (+ predictions.jsonl) of the test split here")
    args = ap.parse_args()
    result = train_baseline(args.config)
    for split in ("dev", "test"):
        if split in result:
            tasks = result[split]["tasks"]
            print(f"{split}: {PRIMARY_METRIC} {result[split][PRIMARY_METRIC]:.3f}; "
                  + ", ".join(f"{t} macro-F1 {m['macro_f1']:.3f} acc {m['accuracy']:.3f}" for t, m in tasks.items()))
    if args.report_dir and "test" in result:
        from eval.harness import data_fingerprint

        args.report_dir.mkdir(parents=True, exist_ok=True)
        test = dict(result["test"])
        preds = test.pop("predictions")
        cfg = load_config(args.config)
        texts = [e.text for e in load_examples(cfg.data.test, cfg.data.text_field, cfg.task_names)]  # type: ignore[arg-type]
        test.update(model="tfidf-logreg", data_fingerprint=data_fingerprint(texts), primary_metric=PRIMARY_METRIC)
        (args.report_dir / "metrics.json").write_text(json.dumps(test, indent=2) + "\n", encoding="utf-8")
        with (args.report_dir / "predictions.jsonl").open("w", encoding="utf-8") as fh:
            for p in preds:
                fh.write(json.dumps(p) + "\n")
        print(f"wrote {args.report_dir}/metrics.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
