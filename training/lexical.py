"""Fit the lexical component of a model (see :mod:`stance.lexical`) and choose its weights.

``stance train`` calls :func:`fit_lexical` after selecting the best epoch: a word 1-2-gram
TF-IDF and a class-balanced logistic regression per task are fitted on the training split
with scikit-learn, converted to plain arrays, and :func:`choose_weights` picks, task by task,
the mixing weight from ``lexical.weights`` that gives the best dev macro-F1 (the smaller
weight on ties, so a task the classifier does not help keeps weight 0).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from eval.metrics import macro_f1
from stance.lexical import TOKEN_PATTERN, LexicalModel, mix
from stance.scheme import Scheme

log = logging.getLogger("stance")


def fit_lexical(
    scheme: Scheme, texts: list[str], labels: dict[str, list[str | None]], *, c: float, min_df: int, seed: int
) -> LexicalModel | None:
    """The fitted component, or None when the training texts give no vocabulary."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2), min_df=min_df, sublinear_tf=True, lowercase=True, token_pattern=TOKEN_PATTERN
    )
    try:
        x = vectorizer.fit_transform(texts)
    except ValueError as exc:  # "empty vocabulary", or min_df above the number of texts
        log.warning("lexical component skipped: %s", exc)
        return None
    coef, intercept = {}, {}
    for task in scheme:
        keep = [i for i, y in enumerate(labels[task.name]) if y is not None]
        y = np.array([task.label2id[labels[task.name][i]] for i in keep])  # type: ignore[index]
        n_labels, n_features = len(task.labels), x.shape[1]
        coef[task.name] = np.zeros((n_labels, n_features))
        intercept[task.name] = np.zeros(n_labels)
        classes = np.unique(y)
        if len(classes) < 2:
            intercept[task.name][:] = -30.0
            intercept[task.name][classes] = 0.0
            continue
        clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced", random_state=seed)
        clf.fit(x[keep], y)
        if len(clf.classes_) == 2:  # one decision function: logits [0, d] give the same probabilities
            coef[task.name][clf.classes_[1]] = clf.coef_[0]
            intercept[task.name][clf.classes_[1]] = clf.intercept_[0]
        else:
            coef[task.name][clf.classes_] = clf.coef_
            intercept[task.name][clf.classes_] = clf.intercept_
        absent = np.setdiff1d(np.arange(n_labels), clf.classes_)
        intercept[task.name][absent] = intercept[task.name][clf.classes_].min() - 30.0  # never seen
    vocabulary = [""] * len(vectorizer.vocabulary_)
    for term, column in vectorizer.vocabulary_.items():
        vocabulary[column] = term
    return LexicalModel(vocabulary=vocabulary, idf=vectorizer.idf_.astype(np.float64), coef=coef, intercept=intercept)


def choose_weights(
    scheme: Scheme,
    encoder_logits: dict[str, np.ndarray],
    lexical_logits: dict[str, np.ndarray],
    gold: dict[str, list[str | None]],
    grid: list[float],
) -> dict[str, dict[str, Any]]:
    """Per task: the best weight of ``grid`` on dev and the dev macro-F1 with and without it."""
    chosen: dict[str, dict[str, Any]] = {}
    for task in scheme:
        keep = [i for i, y in enumerate(gold[task.name]) if y is not None]
        truth = [gold[task.name][i] for i in keep]

        def f1(weight: float, task: Any = task, keep: list[int] = keep, truth: list[Any] = truth) -> float:
            scores = mix(encoder_logits[task.name][keep], lexical_logits[task.name][keep], weight)
            return macro_f1(truth, [task.labels[k] for k in scores.argmax(1)], task.labels)

        results = [(f1(w), -w) for w in sorted({0.0, *grid})]
        best_f1, best_w = max(results)
        chosen[task.name] = {"weight": -best_w, "dev_macro_f1": best_f1, "dev_macro_f1_without": f1(0.0)}
    return chosen
