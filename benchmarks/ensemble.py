"""Would averaging models help? Macro-F1 of each model alone and of their mean probabilities.

    python benchmarks/ensemble.py MODEL MODEL [MODEL ...] [--data data/test.jsonl]

Each model labels the data's sentences (calibrated probabilities, lexical component
included, as ``stance label`` gives them); the table has each model's macro-F1 per task and
that of the mean of their probabilities. An ensemble that beats its members points to
variance between training runs; one that does not, to errors every run makes. An ensemble
costs one forward pass per member, so it is a diagnostic here, not a shipped path.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def score(gold: list[str], probs: Any, labels: tuple[str, ...]) -> float:
    from eval.metrics import macro_f1

    return macro_f1(gold, [labels[i] for i in probs.argmax(1)], labels)


def main() -> None:
    import stance

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "test.jsonl")
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [r["text"] for r in rows]
    probs, scheme = [], None
    for path in args.models:
        model = stance.load(path)
        scheme = model.scheme
        probs.append(model.predict_proba(texts))
    print(f"{len(rows)} sentences of {args.data}\n")
    print(f"{'task':<12} " + " ".join(f"{p.name[-14:]:>14}" for p in args.models) + f" {'mean probs':>11}")
    for task in scheme:
        gold = [r[task.name] for r in rows]
        alone = [score(gold, p[task.name], task.labels) for p in probs]
        mixed = score(gold, sum(p[task.name] for p in probs) / len(probs), task.labels)
        print(f"{task.name:<12} " + " ".join(f"{x:>14.4f}" for x in alone) + f" {mixed:>11.4f}")


if __name__ == "__main__":
    main()
