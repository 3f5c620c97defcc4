"""The lexical component of a model: TF-IDF word n-grams and a logistic regression per task.

A model directory may hold, beside its encoder, a bag-of-words classifier whose
log-probabilities are mixed with the encoder's, task by task::

    score = (1 - w) * log_softmax(encoder logits) + w * log_softmax(lexical logits)

with the weight ``w`` of each task chosen on dev by ``stance train`` (``training/lexical.py``)
and stored in ``config.json`` (``lexical``); the calibration temperature then applies to the
mixed score. The two files are plain data, no pickles:

    lexical.json          vocabulary (n-grams in column order) and the featurizer's settings
    lexical.safetensors   idf weights, and per task the regression's coefficients and intercepts

The featurizer reproduces scikit-learn's ``TfidfVectorizer`` (lower-cased, tokens of two or
more word characters, word n-grams, sublinear tf, smoothed idf, l2 norm) in numpy, so
labelling needs neither scikit-learn nor torch. It runs in the labelling process while worker
processes run the encoder.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stance.errors import ModelError

LEXICAL_JSON = "lexical.json"
LEXICAL_WEIGHTS = "lexical.safetensors"
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # scikit-learn's default


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


@dataclass
class LexicalModel:
    """TF-IDF features and one linear classifier per task (coefficients: labels x features)."""

    vocabulary: list[str]
    idf: np.ndarray
    coef: dict[str, np.ndarray]
    intercept: dict[str, np.ndarray]
    ngram_max: int = 2
    token_pattern: str = TOKEN_PATTERN

    def __post_init__(self) -> None:
        self._index = {term: i for i, term in enumerate(self.vocabulary)}
        self._token = re.compile(self.token_pattern)
        self._tasks = list(self.coef)
        self._stacked = np.concatenate([self.coef[t] for t in self._tasks], axis=0)  # (labels, V)
        self._splits = np.cumsum([len(self.coef[t]) for t in self._tasks])[:-1]

    def terms(self, text: str) -> list[str]:
        tokens = self._token.findall(text.lower())
        out = list(tokens)
        for n in range(2, self.ngram_max + 1):
            out += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        return out

    def features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and l2-normalised tf-idf values of one text."""
        counts = Counter(self._index[t] for t in self.terms(text) if t in self._index)
        if not counts:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        idx = np.fromiter(counts.keys(), np.int64, len(counts))
        tf = np.fromiter(counts.values(), np.float64, len(counts))
        values = (np.log(tf) + 1.0) * self.idf[idx]
        return idx, values / np.sqrt((values * values).sum())

    def logits(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """``{task: (len(texts), n_labels)}`` decision values of each task's regression."""
        out = np.zeros((len(texts), self._stacked.shape[0]), np.float64)
        for row, text in enumerate(texts):
            idx, values = self.features(text)
            if len(idx):
                out[row] = self._stacked[:, idx] @ values
        parts = np.split(out, self._splits, axis=1)
        return {t: (p + self.intercept[t]).astype(np.float32) for t, p in zip(self._tasks, parts, strict=True)}

    def save(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        meta = {"kind": "tfidf-logreg", "ngram_max": self.ngram_max, "token_pattern": self.token_pattern,
                "tasks": self._tasks, "vocabulary": self.vocabulary}
        (directory / LEXICAL_JSON).write_text(json.dumps(meta, ensure_ascii=False) + "\n", encoding="utf-8")
        tensors = {"idf": np.ascontiguousarray(self.idf, np.float64)}
        for task in self._tasks:
            tensors[f"{task}.coef"] = np.ascontiguousarray(self.coef[task], np.float64)
            tensors[f"{task}.intercept"] = np.ascontiguousarray(self.intercept[task], np.float64)
        save_file(tensors, str(directory / LEXICAL_WEIGHTS))

    @classmethod
    def load(cls, directory: Path, weights: dict[str, float] | None = None) -> LexicalModel:
        """Read the two files; ``weights`` (from config.json) must name tasks that they hold."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            meta = json.loads((directory / LEXICAL_JSON).read_text(encoding="utf-8"))
            tensors = load_file(str(directory / LEXICAL_WEIGHTS))
            tasks = list(meta["tasks"])
            missing = sorted(set(weights or {}) - set(tasks))
            if missing:
                raise ModelError(f"{directory / LEXICAL_JSON}: no classifier for tasks {missing}")
            return cls(
                vocabulary=list(meta["vocabulary"]),
                idf=tensors["idf"],
                coef={t: tensors[f"{t}.coef"] for t in tasks},
                intercept={t: tensors[f"{t}.intercept"] for t in tasks},
                ngram_max=int(meta["ngram_max"]),
                token_pattern=str(meta["token_pattern"]),
            )
        except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
            raise ModelError(f"{directory}: unreadable lexical component ({exc!r})") from None


def mix(encoder_logits: np.ndarray, lexical_logits: np.ndarray, weight: float) -> np.ndarray:
    """The mixed score of one task: weighted sum of the two log-probability vectors."""
    mixed = log_softmax(encoder_logits.astype(np.float64))
    if weight > 0:
        mixed = (1 - weight) * mixed + weight * log_softmax(lexical_logits.astype(np.float64))
    return mixed.astype(np.float32)
