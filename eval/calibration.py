"""Temperature scaling: one scalar per task, fitted on dev logits by minimising NLL."""

from __future__ import annotations

import numpy as np

from stance.lexical import log_softmax


def _nll(logits: np.ndarray, gold: np.ndarray, t: float) -> float:
    logp = log_softmax(logits / t)
    return float(-logp[np.arange(len(gold)), gold].mean())


def fit_temperature(logits: np.ndarray, gold: np.ndarray, *, low: float = 0.05, high: float = 20.0) -> float:
    """The temperature T > 0 minimising dev NLL of softmax(logits / T).

    A golden-section search on log T (the NLL is unimodal in T for fixed logits); returns
    1.0 when there is nothing to fit on.
    """
    logits = np.asarray(logits, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.int64)
    if len(gold) == 0:
        return 1.0
    a, b = np.log(low), np.log(high)
    ratio = (np.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = _nll(logits, gold, np.exp(c)), _nll(logits, gold, np.exp(d))
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = _nll(logits, gold, np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = _nll(logits, gold, np.exp(d))
    return float(np.exp((a + b) / 2))
