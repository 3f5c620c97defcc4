"""Training-step speed, fp32 against bf16 autocast (`training.bf16`), side by side.

    python benchmarks/train_step.py [--layers 4] [--steps 30] [--rounds 3] [--batch-size 32]

Builds the default recipe's network (the packaged MiniLM's first ``--layers`` layers, token
embeddings frozen, one head per task of the project's scheme) and times full optimiser steps
(forward, cross-entropy, backward, AdamW) on batches of corpus sentences formed as the
trainer forms them (sorted by length in groups, then shuffled). Each round times every
precision once, in turn, from the same starting weights, so both see the same drift of the
machine's speed. Prints sentences/s per precision (median over rounds) and the split of a
step into forward, backward and optimiser time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import contextlib

    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from benchmarks.throughput import corpus_sentences
    from stance.modeldir import ModelConfig
    from stance.network import MultiTaskModel, load_pretrained_encoder
    from training.config import PACKAGED_MINILM
    from training.corpus import default_scheme
    from training.trainer import resolve_base

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--steps", type=int, default=30, help="timed steps per precision and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()

    hf_logging.set_verbosity_error()
    torch.manual_seed(0)
    base = resolve_base(PACKAGED_MINILM)
    tokenizer = AutoTokenizer.from_pretrained(base)
    scheme = default_scheme()
    texts = sorted(corpus_sentences((args.steps + 2) * args.batch_size), key=len)
    batches = [texts[i : i + args.batch_size] for i in range(0, len(texts), args.batch_size)]
    random.Random(0).shuffle(batches)
    encoded = [tokenizer(b, padding=True, truncation=True, max_length=128, return_tensors="pt") for b in batches]
    labels = [torch.randint(0, 3, (len(b), len(scheme.names))) for b in batches]

    encoder, encoder_cfg = load_pretrained_encoder(base, args.layers)
    config = ModelConfig(scheme=scheme, base_model=PACKAGED_MINILM, max_length=128, pooling="mean",
                         encoder=encoder_cfg, pad_token_id=int(tokenizer.pad_token_id or 0))
    start_state = {k: v.clone() for k, v in MultiTaskModel(encoder, config).state_dict().items()}

    def run(bf16: bool) -> tuple[float, float, float]:
        model = MultiTaskModel(encoder, config)
        model.load_state_dict(start_state)
        model.encoder.get_input_embeddings().weight.requires_grad_(False)
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-5)
        times = [0.0, 0.0, 0.0]
        for i, (batch, y) in enumerate(zip(encoded, labels, strict=True)):
            t0 = time.perf_counter()
            ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
            with ctx:
                out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=y)
            t1 = time.perf_counter()
            out["loss"].backward()
            t2 = time.perf_counter()
            opt.step()
            opt.zero_grad()
            t3 = time.perf_counter()
            if i >= 2:  # the first two steps warm up kernels and caches
                times[0] += t1 - t0
                times[1] += t2 - t1
                times[2] += t3 - t2
        return times[0], times[1], times[2]

    precisions = {"fp32": False, "bf16 autocast": True}
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in precisions}
    for r in range(args.rounds):
        order = list(precisions) if r % 2 == 0 else list(reversed(precisions))
        for name in order:
            results[name].append(run(precisions[name]))
    n = (len(batches) - 2) * args.batch_size
    print(f"{args.layers}-layer MiniLM, embeddings frozen, batches of {args.batch_size}, "
          f"{len(batches) - 2} timed steps x {args.rounds} rounds, {torch.get_num_threads()} threads")
    print(f"{'precision':<15} {'sentences/s':>12} {'forward':>9} {'backward':>9} {'optimiser':>10}")
    base_rate = None
    for name, rounds in results.items():
        rates = [n / sum(t) for t in rounds]
        rate = statistics.median(rates)
        base_rate = base_rate or rate
        f, b, o = (statistics.median(t[k] for t in rounds) / (len(batches) - 2) * 1000 for k in range(3))
        print(f"{name:<15} {rate:>12,.0f} {f:>7.0f}ms {b:>7.0f}ms {o:>8.0f}ms   ({rate / base_rate:.2f}x)")


if __name__ == "__main__":
    main()
