"""Inter-annotator agreement: Cohen's kappa and confusion between the first labelling (the
corpus) and the second, blind labelling of a sample (``data/agreement/second.tsv``).

    python -m training.agreement [--disagreements data/agreement/disagreements.jsonl]

The figures printed are the ones quoted in ``data/README.md``. ``--first`` may point to a
frozen copy of the first labels (``data/agreement/first.tsv``), which keeps the reported
agreement reproducible after disagreements have been adjudicated into the corpus.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np

from training.corpus import DATA, default_scheme, load_articles


def cohen_kappa(a: list[str], b: list[str], labels: list[str]) -> float:
    index = {x: i for i, x in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)))
    for x, y in zip(a, b):
        m[index[x], index[y]] += 1
    n = m.sum()
    po = np.trace(m) / n
    pe = (m.sum(0) * m.sum(1)).sum() / n**2
    return float((po - pe) / (1 - pe)) if pe < 1 else 1.0


def read_tsv(path: Path) -> dict[tuple[str, int], dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return {(r["doc_id"], int(r["sentence"])): r for r in csv.DictReader(fh, delimiter="\t")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--second", type=Path, default=DATA / "agreement" / "second.tsv")
    ap.add_argument("--first", type=Path, default=DATA / "agreement" / "first.tsv")
    ap.add_argument("--freeze", action="store_true", help="write the corpus's current labels of the sample to --first")
    ap.add_argument("--disagreements", type=Path, help="write disagreements (with context) as JSONL")
    args = ap.parse_args()
    scheme = default_scheme()
    second = read_tsv(args.second)
    articles = {a.doc_id: a for a in load_articles()}
    if args.freeze or not args.first.exists():
        with args.first.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, delimiter="\t", lineterminator="\n")
            w.writerow(["doc_id", "sentence", *scheme.names])
            for doc_id, i in sorted(second):
                u = articles[doc_id].units[i]
                w.writerow([doc_id, i, *(u.labels[t] for t in scheme.names)])
    first = read_tsv(args.first)
    keys = sorted(second)
    print(f"agreement on {len(keys)} sentences in {len({k[0] for k in keys})} articles")
    out = []
    for task in scheme:
        a = [first[k][task.name] for k in keys]
        b = [second[k][task.name] for k in keys]
        kappa = cohen_kappa(a, b, list(task.labels))
        agree = sum(x == y for x, y in zip(a, b)) / len(keys)
        print(f"\n{task.name}: Cohen's kappa {kappa:.3f}, raw agreement {agree:.1%}")
        print("first \\ second  " + "  ".join(f"{lab[:8]:>8}" for lab in task.labels))
        c = Counter(zip(a, b))
        for x in task.labels:
            print(f"{x[:14]:<15} " + "  ".join(f"{c[(x, y)]:>8}" for y in task.labels))
    if args.disagreements:
        for k in keys:
            diff = {t: (first[k][t], second[k][t]) for t in scheme.names if first[k][t] != second[k][t]}
            if diff:
                units = articles[k[0]].units
                out.append({
                    "doc_id": k[0], "sentence": k[1], "line": units[k[1]].line, "text": units[k[1]].text,
                    "before": units[k[1] - 1].text if k[1] > 0 else "",
                    "after": units[k[1] + 1].text if k[1] + 1 < len(units) else "",
                    "first": {t: first[k][t] for t in scheme.names},
                    "second": {t: second[k][t] for t in scheme.names},
                })
        with args.disagreements.open("w", encoding="utf-8") as fh:
            for r in out:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(f"\n{len(out)} disagreements -> {args.disagreements}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
