"""Two labelling models side by side in one run: sentences/s and how often their labels agree.

    python benchmarks/compare_models.py MODEL_A MODEL_B [--sentences 4000] [--workers 2] [--runs 3]

Both models label the same corpus sentences (``data/*.jsonl``) with ``workers`` processes, as
``stance label`` does, each from its own process. They are timed in interleaved rounds (each
round runs A and B once, in alternating order, as ``benchmarks/throughput.py`` does), so both
see the same drift of the machine's speed; throughput is the median over the rounds, and the
label agreement comes from the last round's outputs (no extra pass). Used to
weigh a smaller model (``stance train ... --set model.layers=3``, then ``stance export
--quantize int8``) against the shipped one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from benchmarks.throughput import corpus_sentences, measure

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs=2, type=Path)
    ap.add_argument("--sentences", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    texts = corpus_sentences(args.sentences)
    with tempfile.TemporaryDirectory() as tmp:
        sfile = Path(tmp) / "sentences.json"
        sfile.write_text(json.dumps(texts), encoding="utf-8")
        plan = [(str(path), "workers", path) for path in args.models]
        rows = measure(plan, sfile, len(texts), args.runs, args.workers, labels=True)
    print(f"\n{len(texts)} sentences, {args.workers} workers, medians of {args.runs} interleaved rounds\n")
    print(f"{'model':<40} {'sentences/s':>12} {'x first':>8}")
    first = rows[0][1]["sentences_per_s"]
    for name, r in rows:
        print(f"{name:<40} {r['sentences_per_s']:>12,.0f} {r['sentences_per_s'] / first:>7.2f}x")
    a, b = (r["labels"] for _, r in rows)
    agree = ", ".join(f"{t} {sum(x == y for x, y in zip(a[t], b[t], strict=True)) / len(a[t]):.1%}" for t in a if t in b)
    print(f"\nlabel agreement: {agree}")


if __name__ == "__main__":
    main()
