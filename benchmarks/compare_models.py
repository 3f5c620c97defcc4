"""Two labelling models side by side in one run: sentences/s and how often their labels agree.

    python benchmarks/compare_models.py MODEL_A MODEL_B [--sentences 4000] [--workers 2] [--runs 3]

Both models label the same corpus sentences (``data/*.jsonl``) with ``workers`` processes, as
``stance label`` does; throughput is the median of ``--runs`` runs after a warm-up. Used to
weigh a smaller model (``stance train ... --set model.layers=3``, then ``stance export
--quantize int8``) against the shipped one.
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
    import stance
    from benchmarks.throughput import corpus_sentences

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs=2, type=Path)
    ap.add_argument("--sentences", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    texts = corpus_sentences(args.sentences)
    probs = []
    print(f"{len(texts)} sentences, {args.workers} workers, median of {args.runs} runs\n")
    print(f"{'model':<40} {'sentences/s':>12}")
    for path in args.models:
        with stance.load(path, workers=args.workers) as model:
            model.predict_proba(texts[:256])
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                p = model.predict_proba(texts)
                times.append(time.perf_counter() - t0)
            probs.append(p)
            print(f"{path!s:<40} {len(texts) / statistics.median(times):>12,.0f}")
    a, b = probs
    agree = ", ".join(f"{t} {float((a[t].argmax(1) == b[t].argmax(1)).mean()):.1%}" for t in a if t in b)
    print(f"\nlabel agreement: {agree}")


if __name__ == "__main__":
    main()
