"""Peak memory of `stance label` on a corpus and on one ten times larger.

    python benchmarks/memory.py [--model DIR] [--articles 280] [--factor 10] [--format jsonl]

The corpus is the project's own articles (``data/articles``, rebuilt as page text) written as
one JSONL record each, repeated with fresh ids up to the size asked. Each run is a separate
``stance label`` process; its peak RSS is that of its process tree (the main process and its
labelling workers, sampled every 50 ms, with the main process's VmHWM as the floor). Streaming means the 10x run
should peak at about the same memory as the 1x run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_corpus(path: Path, n: int) -> int:
    from training.corpus import load_articles

    articles = load_articles()
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            a = articles[i % len(articles)]
            fh.write(json.dumps({"id": f"{a.doc_id}#{i}", "text": a.page_text(), "date": a.meta["date"],
                                 "outlet_type": a.meta["outlet_type"]}) + "\n")
    return path.stat().st_size


def run(corpus: Path, out: Path, model: Path | None, threads: int) -> dict[str, float]:
    from benchmarks.throughput import run_cli_with_peak

    args = ["label", str(corpus), "-o", str(out), "--quiet", "--threads", str(threads)]
    if model:
        args += ["--model", str(model)]
    t0 = time.perf_counter()
    peak = run_cli_with_peak(args)
    seconds = time.perf_counter() - t0
    if out.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.ParquetFile(out).metadata.num_rows
    else:
        rows = sum(1 for _ in out.open("rb")) - (out.suffix == ".csv")
    return {"seconds": seconds, "peak_rss_mb": peak, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--articles", type=int, default=280)
    ap.add_argument("--factor", type=int, default=10)
    ap.add_argument("--format", default="jsonl", choices=["jsonl", "csv", "parquet"])
    # one stance label process per size; its own peak RSS (VmHWM) is reported
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    args = ap.parse_args()
    print(f"{'corpus':<8} {'articles':>9} {'input MB':>9} {'sentences':>10} {'seconds':>8} {'sent/s':>8} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for scale in (1, args.factor):
            n = args.articles * scale
            corpus = Path(tmp) / f"corpus{scale}.jsonl"
            size = write_corpus(corpus, n)
            r = run(corpus, Path(tmp) / f"out{scale}.{args.format}", args.model, args.threads)
            print(f"{f'{scale}x':<8} {n:>9,} {size / 1e6:>9.1f} {int(r['rows']):>10,} {r['seconds']:>8.1f} "
                  f"{r['rows'] / r['seconds']:>8.0f} {r['peak_rss_mb']:>12,.0f}")


if __name__ == "__main__":
    main()
