"""The labelled corpus: parse the hand-written article sources, split, validate.

    python -m training.corpus build      # data/articles/**/*.txt -> data/{train,dev,test}.jsonl
    python -m training.corpus validate   # checks of issue 3; exits 1 on a failure
    python -m training.corpus text DOC_ID  # rebuild one article's page text
    python -m training.corpus pages OUT.jsonl  # every article as page text + metadata, unlabelled

Sources (``data/articles/<slice>/<doc_id>.txt``, see ``data/AUTHORING.md``) hold a header of
``# key: value`` lines and one ``STANCE | CLAIM_TYPE | TEXT`` line per sentence unit; a
blank line ends a paragraph. ``build`` only compiles and splits them: it writes no text.

Splits are by article, stratified: articles are ordered by dispute, outlet type and a hash
of the doc_id, and each goes to the split furthest below its target share (train 70%,
dev 12%, test 18%), so every dispute and genre is spread over the three splits.
Assignments are frozen in ``data/splits.tsv``: an article keeps its split when articles are
added, and only new articles are assigned (among themselves, by the same rule), so scores
on an older test set stay comparable.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from stance.scheme import Scheme

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
ARTICLES = DATA / "articles"
SPLIT_FILE = DATA / "splits.tsv"
SPLITS = ("train", "dev", "test")
TARGETS = {"train": 0.70, "dev": 0.12, "test": 0.18}
OUTLET_TYPES = {
    "wire", "analysis", "op-ed", "editorial", "state-media", "trade-press", "blog",
    "press-release", "market-note", "newsletter", "explainer",
}
HEADER_KEYS = ("doc_id", "date", "outlet_type", "voice", "dispute", "countries")
TASK_COLUMNS = ("stance", "claim_type")


@dataclass
class Unit:
    text: str
    labels: dict[str, str]
    paragraph: int
    line: int


@dataclass
class Article:
    path: Path
    meta: dict[str, str]
    units: list[Unit] = field(default_factory=list)

    @property
    def doc_id(self) -> str:
        return self.meta["doc_id"]

    def page_text(self) -> str:
        """The page as a reader would paste it: paragraphs separated by blank lines."""
        paragraphs: dict[int, list[str]] = defaultdict(list)
        for u in self.units:
            paragraphs[u.paragraph].append(u.text)
        return "\n\n".join(" ".join(p) for _, p in sorted(paragraphs.items())) + "\n"


class CorpusError(Exception):
    pass


def default_scheme() -> Scheme:
    """The project's scheme, declared once in configs/default.toml."""
    from training.config import load_config

    cfg = load_config(ROOT / "configs" / "default.toml")
    if cfg.tasks is None:
        raise CorpusError("configs/default.toml declares no [tasks]")
    return Scheme.from_mapping(cfg.tasks)


def _shown(path: Path) -> str:
    """The path as error messages show it: relative to the repository when inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def parse_article(path: Path, scheme: Scheme) -> Article:
    meta: dict[str, str] = {}
    article = Article(path, meta)
    paragraph = 0
    in_body = False
    names = scheme.names
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.rstrip()
        where = f"{_shown(path)}:{lineno}"
        if not in_body and line.startswith("#"):
            m = re.match(r"#\s*([a-z_]+):\s*(.*)$", line)
            if not m:
                raise CorpusError(f"{where}: malformed header line {line!r}")
            meta[m.group(1)] = m.group(2).strip()
            continue
        if not line.strip():
            if in_body:
                paragraph += 1
            continue
        in_body = True
        parts = line.split(" | ", len(names))
        if len(parts) != len(names) + 1:
            raise CorpusError(f"{where}: expected '{' | '.join(n.upper() for n in names)} | TEXT'")
        labels = dict(zip(names, (p.strip() for p in parts[:-1])))
        for task in scheme:
            if labels[task.name] not in task.labels:
                raise CorpusError(f"{where}: unknown {task.name} label {labels[task.name]!r}")
        text = parts[-1].strip()
        if not text:
            raise CorpusError(f"{where}: empty text")
        article.units.append(Unit(text, labels, paragraph, lineno))
    missing = [k for k in HEADER_KEYS if k not in meta]
    if missing:
        raise CorpusError(f"{_shown(path)}: missing header keys {missing}")
    if meta["doc_id"] != path.stem:
        raise CorpusError(f"{_shown(path)}: doc_id {meta['doc_id']!r} != file name")
    try:
        date.fromisoformat(meta["date"])
    except ValueError:
        raise CorpusError(f"{_shown(path)}: date {meta['date']!r} is not ISO") from None
    if meta["outlet_type"] not in OUTLET_TYPES:
        raise CorpusError(f"{_shown(path)}: unknown outlet_type {meta['outlet_type']!r}")
    if not article.units:
        raise CorpusError(f"{_shown(path)}: no sentence units")
    return article


def load_articles(root: Path = ARTICLES, scheme: Scheme | None = None) -> list[Article]:
    scheme = scheme or default_scheme()
    articles = [parse_article(p, scheme) for p in sorted(root.rglob("*.txt"))]
    seen: set[str] = set()
    for a in articles:
        if a.doc_id in seen:
            raise CorpusError(f"duplicate doc_id {a.doc_id!r}")
        seen.add(a.doc_id)
    return articles


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def assign_splits(articles: Sequence[Article], frozen: dict[str, str] | None = None) -> dict[str, str]:
    """Split of every article: ``frozen`` assignments kept, the others assigned by the rule."""
    frozen = frozen or {}
    out = {a.doc_id: frozen[a.doc_id] for a in articles if a.doc_id in frozen}
    new = [a for a in articles if a.doc_id not in frozen]
    ordered = sorted(new, key=lambda a: (a.meta["dispute"], a.meta["outlet_type"], _hash(a.doc_id)))
    counts = Counter({s: 0 for s in SPLITS})
    for i, a in enumerate(ordered, start=1):
        split = max(SPLITS, key=lambda s: (TARGETS[s] * i - counts[s], -SPLITS.index(s)))
        counts[split] += 1
        out[a.doc_id] = split
    return out


def read_frozen_splits(path: Path = SPLIT_FILE) -> dict[str, str]:
    if not path.exists():
        return {}
    out = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        doc_id, _, split = line.partition("\t")
        if split not in SPLITS:
            raise CorpusError(f"{path}:{lineno}: unknown split {split!r}")
        out[doc_id] = split
    return out


def write_frozen_splits(splits: dict[str, str], path: Path = SPLIT_FILE) -> None:
    lines = ["# doc_id\tsplit: frozen split assignments (training/corpus.py); new articles are appended"]
    lines += [f"{d}\t{s}" for d, s in sorted(splits.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def rows_for(article: Article) -> list[dict[str, object]]:
    countries = [c.strip() for c in article.meta["countries"].split(",") if c.strip()]
    return [
        {
            "doc_id": article.doc_id,
            "sentence": i,
            "text": u.text,
            **u.labels,
            "date": article.meta["date"],
            "outlet_type": article.meta["outlet_type"],
            "dispute": article.meta["dispute"],
            "countries": countries,
        }
        for i, u in enumerate(article.units)
    ]


def build(data_dir: Path = DATA, *, frozen: Path = SPLIT_FILE) -> dict[str, int]:
    """Write ``{train,dev,test}.jsonl`` and ``splits.tsv`` to ``data_dir``; splits in ``frozen`` are kept."""
    articles = load_articles()
    splits = assign_splits(articles, read_frozen_splits(frozen))
    write_frozen_splits(splits, data_dir / SPLIT_FILE.name)
    sizes = {}
    for split in SPLITS:
        rows = [r for a in articles if splits[a.doc_id] == split for r in rows_for(a)]
        with (data_dir / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        sizes[split] = len(rows)
    return sizes


# -- validation ------------------------------------------------------------------------------


def read_split(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", "", text.lower()).split())


def validate(data_dir: Path = DATA, out=sys.stdout) -> list[str]:
    """Run every check; print the label distribution per split; return the failures."""
    scheme = default_scheme()
    failures: list[str] = []
    splits = {s: read_split(data_dir / f"{s}.jsonl") for s in SPLITS}
    required = ("doc_id", "sentence", "text", *scheme.names, "date", "outlet_type", "dispute", "countries")
    docs_by_split: dict[str, set[str]] = {}
    for split, rows in splits.items():
        docs_by_split[split] = {str(r.get("doc_id")) for r in rows}
        last: dict[str, int] = {}
        for i, r in enumerate(rows, start=1):
            where = f"data/{split}.jsonl:{i}"
            missing = [k for k in required if k not in r]
            if missing:
                failures.append(f"{where}: missing fields {missing}")
                continue
            for task in scheme:
                if r[task.name] not in task.labels:
                    failures.append(f"{where}: {task.name} label {r[task.name]!r} not in {list(task.labels)}")
            if not str(r["text"]).strip():
                failures.append(f"{where}: empty text")
            if r["outlet_type"] not in OUTLET_TYPES:
                failures.append(f"{where}: unknown outlet_type {r['outlet_type']!r}")
            try:
                date.fromisoformat(str(r["date"]))
            except ValueError:
                failures.append(f"{where}: date {r['date']!r} is not ISO")
            doc = str(r["doc_id"])
            expected = last.get(doc, -1) + 1
            if r["sentence"] != expected:
                failures.append(f"{where}: sentence {r['sentence']} of {doc} out of order (expected {expected})")
            last[doc] = int(r["sentence"])  # type: ignore[arg-type]
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        shared = docs_by_split[a] & docs_by_split[b]
        if shared:
            failures.append(f"articles in both {a} and {b}: {sorted(shared)[:5]}")
    all_rows = [r for rows in splits.values() for r in rows]
    n = len(all_rows)
    n_docs = sum(len(d) for d in docs_by_split.values())
    for split, share in (("test", 0.15), ("dev", 0.10)):
        if len(docs_by_split[split]) < share * n_docs:
            failures.append(f"{split} holds {len(docs_by_split[split])} of {n_docs} articles (< {share:.0%})")
    # duplicates
    counts = Counter(_norm(str(r["text"])) for r in all_rows)
    dupes = sum(c - 1 for c in counts.values() if c > 1)
    if dupes >= 0.005 * n:
        failures.append(f"duplicate sentences: {dupes} ({dupes / n:.2%} >= 0.5%)")
    # templating: 6-word openings shared by 4 or more sentences
    openings = Counter(" ".join(_norm(str(r["text"])).split()[:6]) for r in all_rows if len(str(r["text"]).split()) >= 6)
    templated = sum(c for c in openings.values() if c >= 4)
    if templated > 0.03 * n:
        failures.append(f"templating: {templated} sentences ({templated / n:.2%}) share a 6-word opening with 3+ others")
    # report
    print(f"corpus: {n} sentences in {n_docs} articles; duplicates {dupes} ({dupes / max(n, 1):.2%}); "
          f"templated openings {templated} ({templated / max(n, 1):.2%})", file=out)
    header = f"{'split':<6} {'articles':>8} {'sentences':>9}  " + "  ".join(
        f"{lab[:12]:>12}" for task in scheme for lab in task.labels
    )
    print(header, file=out)
    for split, rows in [*splits.items(), ("all", all_rows)]:
        docs = len({r["doc_id"] for r in rows})
        cells = []
        for task in scheme:
            c = Counter(r[task.name] for r in rows)
            cells += [f"{c[lab] / max(len(rows), 1):>12.1%}" for lab in task.labels]
        print(f"{split:<6} {docs:>8} {len(rows):>9}  " + "  ".join(cells), file=out)
    disputes = Counter(r["dispute"] for r in all_rows)
    genres = Counter(r["outlet_type"] for r in all_rows)
    print(f"disputes: {len(disputes)}; outlet types: {len(genres)}", file=out)
    return failures


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.corpus", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="compile data/articles into data/{train,dev,test}.jsonl")
    sub.add_parser("validate", help="check the splits and print label distributions")
    t = sub.add_parser("text", help="print an article's page text")
    t.add_argument("doc_id")
    pg = sub.add_parser("pages", help="write every article's page text and metadata as JSONL (no labels)")
    pg.add_argument("output")
    args = ap.parse_args(list(argv) if argv is not None else None)
    try:
        if args.cmd == "build":
            sizes = build()
            print("wrote " + ", ".join(f"data/{s}.jsonl ({n} sentences)" for s, n in sizes.items()))
            return 0
        if args.cmd == "pages":
            with open(args.output, "w", encoding="utf-8") as fh:
                for a in load_articles():
                    record = {"id": a.doc_id, "text": a.page_text(), "date": a.meta["date"],
                              "outlet_type": a.meta["outlet_type"], "dispute": a.meta["dispute"]}
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            return 0
        if args.cmd == "text":
            for a in load_articles():
                if a.doc_id == args.doc_id:
                    sys.stdout.write(a.page_text())
                    return 0
            print(f"error: no article {args.doc_id!r}", file=sys.stderr)
            return 2
        failures = validate()
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
