"""Labelled data for training and evaluation: read, check, encode.

Checks run before any training starts, naming ``file:line``:

* errors: an unreadable file, a malformed record, empty text, a missing label column, a label
  in dev or test that the training labels (or the declared scheme) do not have;
* warnings: a label with fewer than ``min_examples`` training examples, texts shared between
  train and test (or dev).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stance.errors import InputError
from stance.records import read_labelled
from stance.scheme import Scheme, infer_scheme

log = logging.getLogger("stance")


@dataclass
class Example:
    text: str
    labels: dict[str, str | None]
    where: str  # file:line
    row: dict[str, Any]  # the whole record, for slices and error reports


def load_examples(path: str | Path, text_field: str, task_names: Sequence[str]) -> list[Example]:
    examples = []
    for where, rec in read_labelled(path, text_field, list(task_names)):
        labels: dict[str, str | None] = {}
        for task in task_names:
            if task not in rec:
                raise InputError(f"{where}: missing column {task!r}")
            value = rec[task]
            labels[task] = None if value is None or str(value).strip() == "" else str(value).strip()
        examples.append(Example(rec[text_field], labels, where, rec))
    return examples


def resolve_scheme(declared: dict[str, list[str]] | None, task_names: Sequence[str], train: list[Example]) -> Scheme:
    if declared is not None:
        return Scheme.from_mapping(declared)
    scheme = infer_scheme(task_names, ({t: e.labels[t] for t in task_names} for e in train))
    for task in scheme:
        log.info("inferred task %r with %d labels: %s", task.name, len(task.labels), ", ".join(task.labels))
    return scheme


def check_examples(
    scheme: Scheme,
    train: list[Example],
    others: dict[str, list[Example]],
    *,
    min_examples: int = 5,
) -> None:
    """Raise InputError on labels outside the scheme; warn on rare labels and shared texts."""
    for split, examples in {"train": train, **others}.items():
        for ex in examples:
            for task in scheme:
                value = ex.labels[task.name]
                if value is not None and value not in task.labels:
                    raise InputError(
                        f"{ex.where}: unknown {task.name} label {value!r} "
                        f"(known: {', '.join(task.labels)})"
                    )
    for task in scheme:
        counts = Counter(ex.labels[task.name] for ex in train if ex.labels[task.name] is not None)
        for label in task.labels:
            if counts[label] < min_examples:
                log.warning(
                    "task %r: label %r has only %d training examples (fewer than %d)",
                    task.name, label, counts[label], min_examples,
                )
    train_texts = {" ".join(ex.text.split()).lower() for ex in train}
    for split, examples in others.items():
        shared = [ex for ex in examples if " ".join(ex.text.split()).lower() in train_texts]
        if shared:
            log.warning(
                "%d %s texts also occur in train (first: %s %r)",
                len(shared), split, shared[0].where, shared[0].text[:60],
            )


def encode_examples(tokenizer: Any, scheme: Scheme, examples: list[Example]) -> list[dict[str, Any]]:
    """Token ids and label ids (-100 where a label is missing)."""
    encodings = tokenizer.encode_batch([ex.text for ex in examples])
    maps = [task.label2id for task in scheme]
    out = []
    for ex, enc in zip(examples, encodings):
        labels = [
            m[ex.labels[task.name]] if ex.labels[task.name] is not None else -100
            for task, m in zip(scheme, maps)
        ]
        out.append({"input_ids": enc.ids, "labels": labels})
    return out


def collate(features: list[dict[str, Any]], pad_id: int = 0) -> dict[str, Any]:
    import torch

    width = max(len(f["input_ids"]) for f in features)
    ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    for i, f in enumerate(features):
        n = len(f["input_ids"])
        ids[i, :n] = torch.tensor(f["input_ids"], dtype=torch.long)
        mask[i, :n] = 1
    labels = torch.tensor([f["labels"] for f in features], dtype=torch.long)
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if "teacher_logits" in features[0]:
        batch["teacher_logits"] = torch.tensor(np.stack([f["teacher_logits"] for f in features]))
    return batch
