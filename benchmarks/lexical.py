"""Speed of a model's lexical component alone (TF-IDF features and regressions, one core).

    python benchmarks/lexical.py [--model stance/models/default] [--sentences 4000] [--runs 5]

Times :meth:`stance.lexical.LexicalModel.logits` on corpus sentences, the work that
``stance label`` adds to its main process for a model with a lexical component; prints the
median of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from benchmarks.throughput import corpus_sentences
    from stance.lexical import LexicalModel
    from stance.modeldir import read_config

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "stance" / "models" / "default")
    ap.add_argument("--sentences", type=int, default=4000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    config = read_config(args.model)
    if not config.lexical:
        sys.exit(f"error: {args.model} has no lexical component")
    lexical = LexicalModel.load(args.model, config.lexical)
    texts = corpus_sentences(args.sentences)
    rates = []
    for _ in range(args.runs):
        start = time.perf_counter()
        lexical.logits(texts)
        rates.append(len(texts) / (time.perf_counter() - start))
    print(f"lexical component of {args.model}: {len(lexical.vocabulary)} n-grams, "
          f"{statistics.median(rates):,.0f} sentences/s (median of {args.runs}; runs: "
          + ", ".join(f"{r:,.0f}" for r in rates) + ")")


if __name__ == "__main__":
    main()
