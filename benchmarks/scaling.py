"""Scaling on one machine: the Ray engine against the local engine, and DDP training.

    python benchmarks/scaling.py [--workers 2] [--train-steps 40] [--skip ray|ddp]

Labelling: the corpus's articles as one JSONL file (``python -m training.corpus pages``),
labelled with the shipped model by the local engine and by ``--engine ray`` on a local
cluster; wall time includes Ray's start-up. Training: ``stance train configs/default.toml``
for ``--train-steps`` optimiser steps in one process (2 threads) and under ``torchrun`` with
2 processes (1 thread each, batch 32 per process, so twice the sentences per step).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, **(env or {})},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--train-steps", type=int, default=40)
    ap.add_argument("--skip", nargs="*", default=[])
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        if "ray" not in args.skip:
            pages = t / "pages.jsonl"
            subprocess.run([py, "-m", "training.corpus", "pages", str(pages)], check=True, cwd=ROOT)
            local = run([py, "-m", "stance.cli", "label", str(pages), "-o", str(t / "local.jsonl"), "-q"])
            n = sum(1 for _ in (t / "local.jsonl").open())
            ray_s = run([py, "-m", "stance.cli", "label", str(pages), "-o", str(t / "ray"), "-q", "--engine", "ray",
                         "--workers", str(args.workers)])
            n_ray = sum(1 for f in (t / "ray").iterdir() for _ in f.open())
            articles = sum(1 for _ in pages.open())
            print(f"{f'labelling, {articles} articles':<40} {'seconds':>8} {'sentences/s':>12}")
            print(f"{'local engine (default: a worker per core)':<40} {local:>8.1f} {n / local:>12.0f}")
            print(f"{f'ray engine ({args.workers} actors, local cluster)':<40} {ray_s:>8.1f} {n_ray / ray_s:>12.0f}")
        if "ddp" not in args.skip:
            base = [py, "-m", "stance.cli", "train", "configs/default.toml", "-q",
                    "--set", f"training.max_steps={args.train_steps}", "--set", "training.calibrate=false"]
            one = run([*base, "-o", str(t / "one")])
            two = run([py, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29541",
                       *base[1:], "-o", str(t / "two")], env={"OMP_NUM_THREADS": "1"})
            m1 = json.loads((t / "one" / "metrics.json").read_text())
            m2 = json.loads((t / "two" / "metrics.json").read_text())
            s1 = args.train_steps * 32 / one
            s2 = args.train_steps * 64 / two
            print(f"\n{f'training, {args.train_steps} steps (incl. start-up, dev and test scoring)':<58} {'seconds':>8} {'sentences/s':>12}")
            print(f"{'1 process x 2 threads, batch 32':<58} {one:>8.1f} {s1:>12.1f}   world_size {m1['world_size']}")
            print(f"{'torchrun 2 processes x 1 thread, batch 32 each':<58} {two:>8.1f} {s2:>12.1f}   world_size {m2['world_size']}")


if __name__ == "__main__":
    main()
