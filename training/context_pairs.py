"""An experiment: does the previous sentence help the model label a sentence?

    python -m training.context_pairs data/train.jsonl data/dev.jsonl data/test.jsonl -o out/context
    stance train configs/default.toml --set data.train=out/context/train.jsonl \
        --set data.dev=out/context/dev.jsonl --set data.test=out/context/test.jsonl -o runs/context

writes copies of labelled sentence files (JSONL rows with ``doc_id`` and ``sentence``, as in
``data/``) in which each text becomes ``"<sentence> [SEP] <previous sentence of the same
article>"`` (the first sentence of an article stays alone). The sentence comes first so that
truncation cuts the context, never the sentence. A model trained this way labels only inputs
built the same way; ``stance label`` does not build them, so this is for measuring, not for
shipping. Results are in the README ("What was tried for stance").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stance.records import read_labelled

SEPARATOR = " [SEP] "  # the tokenizer's separator token, so the pair reads as two segments


def with_previous(rows: list[dict]) -> list[dict]:
    """Each row with the previous sentence of its article appended to its text."""
    texts = {(r["doc_id"], r["sentence"]): r["text"] for r in rows}
    out = []
    for r in rows:
        previous = texts.get((r["doc_id"], r["sentence"] - 1))
        out.append({**r, "text": r["text"] + SEPARATOR + previous if previous else r["text"]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    for path in args.files:
        rows = [record for _, record in read_labelled(path, "text", ["doc_id", "sentence"])]
        target = args.output / path.name
        with target.open("w", encoding="utf-8") as fh:
            for row in with_previous(rows):
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{path} -> {target} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
