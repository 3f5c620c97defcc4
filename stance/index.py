"""From sentences to articles to time: the escalation index.

Per article (from ``stance label`` rows, which arrive grouped by ``doc_id``):

* counts and shares of each stance label over the article's *scored* sentences, i.e. all
  sentences except page cruft (``--exclude claim_type=none`` by default: headlines,
  bylines, questions and page lines make no claim);
* ``net_score`` = mean over scored sentences of P(up) - P(down) (escalation minus
  de-escalation). With ``--probs`` columns the full probabilities are used; otherwise the
  predicted label's probability, signed (+ for up, - for down, 0 for others). Range [-1, 1];
* the share of each claim type over all sentences.

Per time bucket (and group): the mean article ``net_score`` with a seeded 95% bootstrap band
(articles resampled), the number of articles, and ``index``: the bucket's mean escalation
intensity ((1 + net_score) / 2, in [0, 1]) divided by its mean over the reference period,
times 100 -- the normalisation of the GPR and TPU indices.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from stance.errors import InputError, UsageError
from stance.records import iter_records

ARTICLE_ID = "doc_id"


@dataclass(frozen=True)
class IndexSpec:
    """Which task and labels make the score; defaults follow the project's default scheme."""

    task: str = "stance"
    up: str = "escalation"
    down: str = "de-escalation"
    exclude: tuple[tuple[str, str], ...] = (("claim_type", "none"),)  # cruft, not scored
    claim_task: str | None = "claim_type"  # shares reported per article (None: skip)


@dataclass
class ArticleSummarizer:
    spec: IndexSpec = field(default_factory=IndexSpec)
    keep: Sequence[str] = ()  # metadata fields copied to the article row

    def summarize(self, doc_id: str, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        s = self.spec
        scored = [r for r in rows if not any(str(r.get(t)) == lab for t, lab in s.exclude)]
        out: dict[str, Any] = {ARTICLE_ID: doc_id}
        for key in self.keep:
            out[key] = rows[0].get(key) if rows else None
        out["sentences"] = len(rows)
        out["scored"] = len(scored)
        labels = sorted({str(r.get(s.task)) for r in rows if r.get(s.task) is not None} | {s.up, s.down})
        for lab in labels:
            n = sum(1 for r in scored if str(r.get(s.task)) == lab)
            out[f"n_{lab}"] = n
            out[f"share_{lab}"] = n / len(scored) if scored else None
        contributions = [self._contribution(r) for r in scored]
        out["net_score"] = float(np.mean(contributions)) if contributions else None
        if s.claim_task and rows and s.claim_task in rows[0]:
            claims = sorted({str(r.get(s.claim_task)) for r in rows})
            for c in claims:
                out[f"share_{s.claim_task}_{c}"] = sum(1 for r in rows if str(r.get(s.claim_task)) == c) / len(rows)
        return out

    def _contribution(self, row: dict[str, Any]) -> float:
        s = self.spec
        up_p, down_p = row.get(f"{s.task}_p_{s.up}"), row.get(f"{s.task}_p_{s.down}")
        if up_p is not None and down_p is not None:
            return float(up_p) - float(down_p)
        label, score = str(row.get(s.task)), row.get(f"{s.task}_score")
        weight = float(score) if score not in (None, "") else 1.0
        return weight if label == s.up else -weight if label == s.down else 0.0

    def summarize_rows(self, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Group consecutive rows by doc_id (as ``stance label`` writes them) and summarise."""
        current: list[dict[str, Any]] = []
        current_id: Any = None
        for row in rows:
            if row.get(ARTICLE_ID) != current_id and current:
                yield self.summarize(str(current_id), current)
                current = []
            current_id = row.get(ARTICLE_ID)
            current.append(row)
        if current:
            yield self.summarize(str(current_id), current)


def read_label_rows(path: str | Path) -> Iterator[dict[str, Any]]:
    """Stream rows of a ``stance label`` output (JSONL, CSV, Parquet, or a folder of parts)."""
    for _, record in iter_records(path):
        yield record


def parse_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    for candidate in (text, text[:10]):
        try:
            return date.fromisoformat(candidate)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def bucket_start(d: date, freq: str) -> date:
    if freq == "D":
        return d
    if freq == "W":
        return d - timedelta(days=d.weekday())
    if freq == "M":
        return d.replace(day=1)
    if freq == "Q":
        return d.replace(month=3 * ((d.month - 1) // 3) + 1, day=1)
    if freq == "Y":
        return d.replace(month=1, day=1)
    raise UsageError(f"--freq {freq!r}: expected D, W, M, Q or Y")


def _next_bucket(d: date, freq: str) -> date:
    if freq == "D":
        return d + timedelta(days=1)
    if freq == "W":
        return d + timedelta(days=7)
    months = {"M": 1, "Q": 3, "Y": 12}[freq]
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


def bootstrap_mean_ci(values: Sequence[float], *, n_resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return (math.nan, math.nan)
    if arr.size == 1:
        return (float(arr[0]), float(arr[0]))
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, (n_resamples, arr.size))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


@dataclass
class IndexResult:
    buckets: list[dict[str, Any]]
    articles: list[dict[str, Any]]
    missing_dates: int
    bad_dates: list[str]
    reference: tuple[date | None, date | None]


def build_index(
    articles: Sequence[dict[str, Any]],
    *,
    by: Sequence[str] = (),
    freq: str = "M",
    date_field: str = "date",
    reference: tuple[date | None, date | None] = (None, None),
    seed: int = 0,
) -> IndexResult:
    """Aggregate per-article rows into time buckets per group; see the module docstring."""
    dated: list[tuple[date, tuple[str, ...], float]] = []
    missing, bad = 0, []
    for a in articles:
        raw = a.get(date_field)
        d = parse_date(raw)
        if d is None:
            if raw in (None, ""):
                missing += 1
            else:
                bad.append(str(raw))
            continue
        if a.get("net_score") is None:
            continue
        group = tuple("(missing)" if a.get(f) in (None, "") else str(a.get(f)) for f in by)
        dated.append((bucket_start(d, freq), group, float(a["net_score"])))
    buckets: list[dict[str, Any]] = []
    if dated:
        first, last = min(x[0] for x in dated), max(x[0] for x in dated)
        grouped: dict[tuple[str, ...], dict[date, list[float]]] = defaultdict(lambda: defaultdict(list))
        for b, g, score in dated:
            grouped[g][b].append(score)
        for g in sorted(grouped):
            series = []
            b = first
            while b <= last:  # every bucket, empty ones included
                scores = grouped[g].get(b, [])
                lo, hi = bootstrap_mean_ci(scores, seed=seed)
                row: dict[str, Any] = {"bucket": b.isoformat()}
                row.update(dict(zip(by, g)))
                row.update(
                    articles=len(scores),
                    net_score=float(np.mean(scores)) if scores else None,
                    net_score_low=lo if scores else None,
                    net_score_high=hi if scores else None,
                    intensity=float(np.mean([(1 + s) / 2 for s in scores])) if scores else None,
                )
                series.append(row)
                b = _next_bucket(b, freq)
            start, end = reference
            ref = [
                r["intensity"] for r in series
                if r["intensity"] is not None
                and (start is None or date.fromisoformat(r["bucket"]) >= start)
                and (end is None or date.fromisoformat(r["bucket"]) <= end)
            ]
            base = float(np.mean(ref)) if ref else None
            for r in series:
                r["index"] = 100 * r["intensity"] / base if base and r["intensity"] is not None else None
            buckets += series
    return IndexResult(buckets, list(articles), missing, bad, reference)


def plot_index(result: IndexResult, path: str | Path, *, by: Sequence[str] = (), title: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in result.buckets:
        groups[tuple(str(r.get(f)) for f in by)].append(r)
    for g, rows in sorted(groups.items()):
        if all(r["net_score"] is None for r in rows):
            continue
        pts = rows  # empty buckets become NaN: the line breaks instead of bridging the gap
        nan = float("nan")
        x = [date.fromisoformat(r["bucket"]) for r in pts]
        y = [nan if r["net_score"] is None else r["net_score"] for r in pts]
        label = ", ".join(g) if g else "all articles"
        line = ax.plot(x, y, marker="o", ms=3, lw=1.5, label=label)[0]
        ax.fill_between(x, [nan if r["net_score_low"] is None else r["net_score_low"] for r in pts],
                        [nan if r["net_score_high"] is None else r["net_score_high"] for r in pts],
                        color=line.get_color(), alpha=0.15, lw=0)
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("net escalation score\n(escalation − de-escalation, per article)")
    ax.set_xlabel("date")
    ax.set_title(title or "Escalation index: mean article net score with 95% bootstrap band")
    if groups:
        ax.legend(fontsize=8, loc="best", ncol=2 if len(groups) > 6 else 1)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_table(rows: Sequence[dict[str, Any]], path: str | Path) -> None:
    p = Path(path)
    suffix = p.suffix.lower()
    p.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".jsonl":
        with p.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    elif suffix == ".csv":
        columns: list[str] = []
        for r in rows:
            columns += [k for k in r if k not in columns]
        with p.open("w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist([{k: (str(v) if isinstance(v, date) else v) for k, v in r.items()} for r in rows]), p)
    else:
        raise UsageError(f"{p}: use a .csv, .jsonl or .parquet name")


def index_corpus(
    inputs: Sequence[str],
    output: str,
    *,
    by: Sequence[str] = (),
    freq: str = "M",
    date_field: str = "date",
    spec: IndexSpec = IndexSpec(),
    reference: tuple[date | None, date | None] = (None, None),
    articles_out: str | None = None,
    plot: str | None = None,
    seed: int = 0,
) -> IndexResult:
    """Read ``stance label`` outputs, summarise articles, aggregate, write the table (and plot)."""
    bucket_start(date(2000, 1, 1), freq)  # validates freq before reading anything
    summarizer = ArticleSummarizer(spec, keep=[date_field, *by])
    articles: list[dict[str, Any]] = []
    for path in inputs:
        rows = read_label_rows(path)
        first = next(rows, None)
        if first is None:
            continue
        for needed in (ARTICLE_ID, spec.task):
            if needed not in first:
                raise InputError(f"{path}: no column {needed!r}; is it `stance label` output?")

        def chain(first: dict[str, Any] = first, rest: Iterator[dict[str, Any]] = rows) -> Iterator[dict[str, Any]]:
            yield first
            yield from rest

        articles += summarizer.summarize_rows(chain())
    result = build_index(articles, by=by, freq=freq, date_field=date_field, reference=reference, seed=seed)
    write_table(result.buckets, output)
    if articles_out:
        write_table(articles, articles_out)
    if plot:
        plot_index(result, plot, by=by)
    return result
