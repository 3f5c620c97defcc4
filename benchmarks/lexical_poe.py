"""An experiment (not a shipped path): train the encoder against the lexical component.

    python benchmarks/lexical_poe.py --output runs/poe [--stance-weight 0.5] [--claim-weight 0.4] [--set KEY=VALUE ...] [--quiet]

``stance train`` fits the lexical component (TF-IDF + logistic regression) after the encoder
and mixes the two only at inference. Here the encoder is trained as one half of a product of
experts instead: each training sentence's loss is the cross-entropy of the mix
``(1 - w) * log_softmax(encoder) + w * lexical_log_probs``, where the lexical
log-probabilities come from classifiers fitted on the other four of five folds of articles
(so they are as good as on unseen text), and only the encoder learns. The idea: the encoder
spends its capacity on what the words alone miss. Everything else is ``stance train
configs/default.toml`` (same data, recipe, lexical fit and weight choice on dev afterwards,
calibration, scoring); compare the two models with ``stance eval data/test.jsonl -m OUTPUT
--baseline runs/v13``.

The script reuses the trainer's distillation hook to carry the per-sentence lexical
log-probabilities and replaces the model's loss for this process only.
"""

from __future__ import annotations

import argparse
import logging
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FOLDS = 5
log = logging.getLogger("stance")


def crossfit_lexical(scheme: Any, examples: list[Any]) -> np.ndarray:
    """Per training sentence, the lexical log-probabilities of a classifier that never saw its article."""
    from stance.lexical import log_softmax
    from training.lexical import fit_lexical

    texts = [e.text for e in examples]
    fold = np.array([zlib.crc32(str(e.row.get("doc_id", e.text)).encode()) % FOLDS for e in examples])
    out = {task.name: np.zeros((len(texts), len(task.labels)), np.float32) for task in scheme}
    for k in range(FOLDS):
        fit, held = np.where(fold != k)[0], np.where(fold == k)[0]
        labels = {task.name: [examples[i].labels[task.name] for i in fit] for task in scheme}
        lexical = fit_lexical(scheme, [texts[i] for i in fit], labels, c=4.0, min_df=2, seed=42)
        if lexical is None:
            raise SystemExit("the training texts give no lexical vocabulary")
        logits = lexical.logits([texts[i] for i in held])
        for task in scheme:
            out[task.name][held] = log_softmax(logits[task.name].astype(np.float64))
        log.info("cross-fitted lexical fold %d: %d sentences held out", k + 1, len(held))
    return np.concatenate([out[t.name] for t in scheme], axis=1).astype(np.float32)


def product_of_experts_loss(weights: dict[str, float]):
    """A replacement for ``MultiTaskModel.loss``: each task's cross-entropy on the mix with the prior."""
    import torch
    from torch import nn

    def loss(self: Any, logits: dict[str, Any], labels: Any, teacher_logits: Any = None) -> Any:
        total = logits[next(iter(logits))].new_zeros(())
        offset = 0
        for i, (name, z) in enumerate(logits.items()):
            width = z.shape[-1]
            w = weights.get(name, 0.0)
            prior = teacher_logits[:, offset : offset + width].to(z.dtype)
            mixed = (1 - w) * nn.functional.log_softmax(z, dim=-1) + w * prior
            class_weight = self.class_weights.get(name)
            task_loss = nn.functional.cross_entropy(
                mixed, labels[:, i],
                weight=class_weight.to(z.device) if class_weight is not None else None,
                ignore_index=-100,
            )
            if torch.isnan(task_loss):  # every label of this task missing in the batch
                task_loss = z.new_zeros(())
            offset += width
            total = total + self.task_weights.get(name, 1.0) * task_loss
        return total

    return loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--config", default=str(ROOT / "configs" / "default.toml"))
    parser.add_argument("--stance-weight", type=float, default=0.5)  # v13's lexical weights, chosen on dev
    parser.add_argument("--claim-weight", type=float, default=0.4)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    args = parser.parse_args()

    import training.trainer as trainer
    from stance.cli import app
    from stance.network import MultiTaskModel

    trainer.teacher_logits = lambda teacher, scheme, examples: crossfit_lexical(scheme, examples)
    MultiTaskModel.loss = product_of_experts_loss({"stance": args.stance_weight, "claim_type": args.claim_weight})
    sets = [x for o in ["distill.teacher=lexical-prior", *args.overrides] for x in ("--set", o)]
    sys.argv = ["stance", "train", args.config, *sets, "--output", args.output, *(["--quiet"] if args.quiet else [])]
    app()


if __name__ == "__main__":
    main()
