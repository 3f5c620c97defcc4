"""Compare sentence splitters on the hand-split gold set: boundary F1 and speed.

    python benchmarks/splitters.py [--gold benchmarks/data/sbd_gold.txt] [--errors]

Gold format: passages headed ``=== id ===``; ``‖`` marks the end of every unit. A predicted
boundary is the end offset of a unit (trailing whitespace stripped); the end of a passage is
not counted. Each splitter sees the raw passage text (markers removed). For pysbd and
blingfire, which return strings, offsets are recovered by searching the text in order.
Speed is measured on the gold text repeated to about 1 MB (median of 3 runs).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stance.segment import split_sentences

GOLD = Path(__file__).parent / "data" / "sbd_gold.txt"


def load_gold(path: Path) -> list[tuple[str, str, set[int]]]:
    text = path.read_text(encoding="utf-8")
    chunks = re.split(r"^=== (.+?) ===\n", text, flags=re.M)[1:]
    out = []
    for pid, body in zip(chunks[::2], chunks[1::2], strict=False):
        body = body.rstrip("\n")
        raw: list[str] = []
        gold: set[int] = set()
        n = 0
        for ch in body:
            if ch == "‖":
                gold.add(n)
            else:
                raw.append(ch)
                n += 1
        out.append((pid, "".join(raw), gold))
    return out


def _ends_from_strings(text: str, pieces: list[str]) -> set[int]:
    ends, pos = set(), 0
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        i = text.find(piece, pos)
        if i < 0:  # the splitter changed the text (e.g. collapsed whitespace): best effort
            first = piece.split()[0]
            i = text.find(first, pos)
            if i < 0:
                continue
            # walk forward over the piece's non-space characters
            j, k = i, 0
            compact = piece.replace(" ", "").replace("\n", "")
            while j < len(text) and k < len(compact):
                if not text[j].isspace():
                    k += 1
                j += 1
            ends.add(j)
            pos = j
            continue
        ends.add(i + len(piece))
        pos = i + len(piece)
    return ends


def splitter_stance(text: str) -> set[int]:
    return {u.end for u in split_sentences(text)}


def make_pysbd() -> Callable[[str], set[int]] | None:
    try:
        import pysbd
    except ImportError:
        return None
    seg = pysbd.Segmenter(language="en", clean=False, char_span=False)
    return lambda text: _ends_from_strings(text, seg.segment(text))


def make_pysbd_lines() -> Callable[[str], set[int]] | None:
    """pysbd run line by line (so headlines and page lines stay units)."""
    try:
        import pysbd
    except ImportError:
        return None
    seg = pysbd.Segmenter(language="en", clean=False, char_span=False)

    def run(text: str) -> set[int]:
        ends, offset = set(), 0
        for line in text.split("\n"):
            if line.strip():
                ends |= {offset + e for e in _ends_from_strings(line, seg.segment(line))}
            offset += len(line) + 1
        return ends

    return run


def make_blingfire() -> Callable[[str], set[int]] | None:
    try:
        import blingfire
    except ImportError:
        return None

    def run(text: str) -> set[int]:
        _, offsets = blingfire.text_to_sentences_and_offsets(text)
        return {end for _, end in offsets}

    return run


def score(fn: Callable[[str], set[int]], gold: list[tuple[str, str, set[int]]]) -> dict[str, float]:
    tp = fp = fn_ = 0
    for _, raw, g in gold:
        final = len(raw.rstrip())
        pred = {e for e in fn(raw) if e != final}
        g = {e for e in g if e != final}
        tp += len(pred & g)
        fp += len(pred - g)
        fn_ += len(g - pred)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn_) if tp + fn_ else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f1, "tp": tp, "fp": fp, "fn": fn_}


def speed(fn: Callable[[str], set[int]], gold: list[tuple[str, str, set[int]]]) -> float:
    """Characters per second (median of 3) on the gold passages repeated to about 1 MB."""
    corpus = [raw for _, raw, _ in gold]
    size = sum(map(len, corpus))
    reps = max(1, 1_000_000 // max(size, 1))
    texts = corpus * reps
    total = sum(map(len, texts))
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        for t in texts:
            fn(t)
        times.append(time.perf_counter() - t0)
    return total / statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", type=Path, default=GOLD)
    ap.add_argument("--errors", action="store_true", help="print stance's errors")
    args = ap.parse_args()
    gold = load_gold(args.gold)
    n_bound = sum(len({e for e in g if e != len(raw.rstrip())}) for _, raw, g in gold)
    print(f"gold: {len(gold)} passages, {n_bound} internal boundaries ({args.gold})")
    candidates = {
        "stance rules": splitter_stance,
        "pysbd": make_pysbd(),
        "pysbd per line": make_pysbd_lines(),
        "blingfire": make_blingfire(),
    }
    print(f"{'splitter':<16} {'P':>6} {'R':>6} {'F1':>6} {'FP':>4} {'FN':>4} {'chars/s':>12}")
    for name, fn in candidates.items():
        if fn is None:
            print(f"{name:<16} not installed (pip install -e '.[bench]')")
            continue
        s = score(fn, gold)
        cps = speed(fn, gold)
        print(
            f"{name:<16} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f} "
            f"{s['fp']:4d} {s['fn']:4d} {cps:12,.0f}"
        )
    if args.errors:
        for pid, raw, g in gold:
            final = len(raw.rstrip())
            pred = {e for e in splitter_stance(raw) if e != final}
            for e in sorted(pred - g):
                print("FP", pid, repr(raw[max(0, e - 40) : e] + "|" + raw[e : e + 25]))
            for e in sorted(g - pred - {final}):
                print("FN", pid, repr(raw[max(0, e - 40) : e] + "|" + raw[e : e + 25]))


if __name__ == "__main__":
    main()
