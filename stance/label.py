"""The main job: label every sentence of an article corpus, streaming and resumable.

:func:`label_documents` turns documents into sentence rows in memory (the Python API);
:func:`label_corpus` reads inputs, labels them chunk by chunk (each chunk whole articles),
writes each chunk durably and journals it, so that a killed run can be resumed exactly.

Output row: ``doc_id``, ``sentence`` (0-based index in its article), ``start``, ``end``
(character offsets into the article text), ``text``, then for each task ``<task>`` and
``<task>_score``; with ``probs``, ``<task>_p_<label>`` for every label; then the input
record's other fields, passed through (renamed ``<field>_input`` if they clash).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stance.api import StanceModel
from stance.errors import InputError, UsageError
from stance.readers import (
    Document,
    ReadOptions,
    ReadStats,
    count_documents,
    expand_inputs,
    iter_sources,
)
from stance.segment import Unit, split_sentences
from stance.writers import RowWriter, format_for

log = logging.getLogger("stance")

SCORE_DECIMALS = 6  # probabilities are rounded so that output is stable and compact


@dataclass
class LabelSummary:
    documents: int = 0
    sentences: int = 0
    skipped: int = 0
    warnings: int = 0
    resumed_documents: int = 0
    seconds: float = 0.0
    output: str = ""
    already_complete: bool = False
    preview: list[dict[str, Any]] = field(default_factory=list)  # first rows written

    @property
    def sentences_per_second(self) -> float:
        return self.sentences / self.seconds if self.seconds > 0 else 0.0


def units_for(text: str, *, split: bool) -> list[Unit]:
    """Sentence units of a document, or the whole (stripped) text as one unit."""
    if split:
        return split_sentences(text)
    start, end = 0, len(text)
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return [Unit(start, end, text[start:end])] if start < end else []


def _as_document(item: Any, index: int) -> Document:
    if isinstance(item, Document):
        return item
    if isinstance(item, str):
        return Document(str(index), item)
    if isinstance(item, dict):
        if "text" not in item:
            raise InputError(f"document {index}: no 'text' key")
        meta = {k: v for k, v in item.items() if k not in ("text", "id", "doc_id")}
        doc_id = item.get("doc_id", item.get("id", index))
        return Document(str(doc_id), item["text"], meta)
    raise TypeError(f"document {index}: expected str, dict or Document, got {type(item).__name__}")


def _rows_for(
    model: StanceModel,
    docs: Sequence[tuple[Document, list[Unit]]],
    *,
    probs: bool,
) -> list[dict[str, Any]]:
    return _build_rows(model, docs, _start(model, docs)(), probs=probs)


def _start(model: StanceModel, docs: Sequence[tuple[Document, list[Unit]]]) -> Any:
    """Start labelling the sentences of ``docs``; the returned function waits for the probabilities."""
    return model.predictor.start([u.text for _, units in docs for u in units])


def _build_rows(
    model: StanceModel,
    docs: Sequence[tuple[Document, list[Unit]]],
    distributions: dict[str, Any],
    *,
    probs: bool,
) -> list[dict[str, Any]]:
    tasks = model.scheme.tasks
    reserved = {"doc_id", "sentence", "start", "end", "text"}
    for task in tasks:
        reserved |= {task.name, f"{task.name}_score"}
        reserved |= {f"{task.name}_p_{label}" for label in task.labels}
    rows: list[dict[str, Any]] = []
    k = 0
    for doc, units in docs:
        meta = {(f"{key}_input" if key in reserved else key): v for key, v in doc.meta.items()}
        for i, unit in enumerate(units):
            row: dict[str, Any] = {
                "doc_id": doc.doc_id,
                "sentence": i,
                "start": unit.start,
                "end": unit.end,
                "text": unit.text,
            }
            for task in tasks:
                p = distributions[task.name][k]
                best = int(p.argmax())
                row[task.name] = task.labels[best]
                row[f"{task.name}_score"] = round(float(p[best]), SCORE_DECIMALS)
                if probs:
                    for label, value in zip(task.labels, p, strict=False):
                        row[f"{task.name}_p_{label}"] = round(float(value), SCORE_DECIMALS)
            row.update(meta)
            rows.append(row)
            k += 1
    return rows


def label_documents(
    model: StanceModel,
    documents: Iterable[Any],
    *,
    split: bool = True,
    probs: bool = False,
    chunk_sentences: int = 2048,
) -> Iterator[dict[str, Any]]:
    """Label documents (str, ``{"id", "text", ...}`` dicts or :class:`Document`) into rows.

    Streams: rows come out chunk by chunk, so any number of documents can be passed.
    """
    pending: list[tuple[Document, list[Unit]]] = []
    n_sent = 0
    for index, item in enumerate(documents):
        doc = _as_document(item, index)
        units = units_for(doc.text, split=split)
        pending.append((doc, units))
        n_sent += len(units)
        if n_sent >= chunk_sentences:
            yield from _rows_for(model, pending, probs=probs)
            pending, n_sent = [], 0
    if pending:
        yield from _rows_for(model, pending, probs=probs)


def fingerprint(
    model: StanceModel, inputs: Sequence[str], options: dict[str, Any]
) -> str:
    """Identify a run: inputs, model files and options. A resume must match it."""
    h = hashlib.sha256()
    resolved = [i if i == "-" else str(Path(i).resolve()) for i in inputs]
    h.update(json.dumps({"inputs": resolved, **options}, sort_keys=True).encode())
    h.update((model.path / "config.json").read_bytes())
    weights = model.path / model.config.weights
    h.update(str(weights.stat().st_size).encode())
    return h.hexdigest()[:32]


def label_corpus(
    inputs: Sequence[str],
    output: str,
    *,
    model: StanceModel,
    fmt: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    split: bool = True,
    text_field: str = "text",
    id_field: str = "id",
    probs: bool = False,
    skip_bad: bool = False,
    progress: bool = True,
    chunk_sentences: int = 2048,  # sentences per written chunk: the unit of durability
    max_chunk_docs: int = 1000,  # ...or at most this many documents per chunk
    preview_rows: int = 10,  # rows kept in the summary for a quick look
    summary_path: str | None = None,  # also write per-article index rows (JSONL) here
) -> LabelSummary:
    """Label every sentence of ``inputs`` into ``output``; see the module docstring."""
    if not inputs:
        raise UsageError("no input given")
    if resume and overwrite:
        raise UsageError("--resume and --overwrite exclude each other")
    fmt = format_for(output, fmt)
    options = ReadOptions(
        text_field=text_field, id_field=id_field, skip_bad=skip_bad, lines_as_documents=not split
    )
    fp = fingerprint(
        model,
        inputs,
        {
            "split": split,
            "text_field": text_field,
            "id_field": id_field,
            "probs": probs,
            "format": fmt,
            "batch_size": model.batch_size,
            "chunk_sentences": chunk_sentences,
            "max_chunk_docs": max_chunk_docs,
        },
    )
    sources = expand_inputs(inputs)  # fails on a missing or unsupported input before any output
    summary = LabelSummary(output=output)
    stats = ReadStats()
    started = time.perf_counter()
    writer = RowWriter(output, fmt=fmt, fingerprint=fp, resume=resume, overwrite=overwrite, summary=summary_path)
    summarizer = None
    if summary_path:
        from stance.index import ArticleSummarizer

        summarizer = ArticleSummarizer()
    if writer.complete_already:
        summary.already_complete = True
        return summary
    skip = writer.state.docs_done
    summary.resumed_documents = skip
    total = count_documents(sources, options=options) if progress else None
    bar = _progress_bar(progress, total, initial=skip)
    pending: list[tuple[Document, list[Unit]]] = []
    n_sent = 0
    # One chunk is labelled by the workers while the previous one is written and the next one
    # read and split here; chunks are still written whole and in order.
    in_flight: tuple[list[tuple[Document, list[Unit]]], Any] | None = None

    def write_in_flight() -> None:
        nonlocal in_flight
        if in_flight is None:
            return
        docs, wait = in_flight
        in_flight = None
        rows = _build_rows(model, docs, wait(), probs=probs)
        articles = []
        if summarizer is not None:
            offset = 0
            for doc, units in docs:
                summarizer.keep = list(doc.meta)
                articles.append(summarizer.summarize(doc.doc_id, rows[offset : offset + len(units)]))
                offset += len(units)
        writer.write_chunk(rows, docs=len(docs), last_doc_id=docs[-1][0].doc_id, summary_rows=articles)
        if len(summary.preview) < preview_rows:
            summary.preview.extend(rows[: preview_rows - len(summary.preview)])
        summary.documents += len(docs)
        summary.sentences += len(rows)
        if bar is not None:
            bar.update(len(docs))
            elapsed = time.perf_counter() - started
            bar.set_postfix_str(f"{summary.sentences:,} sentences, {summary.sentences / max(elapsed, 1e-9):,.0f}/s")

    def flush() -> None:
        nonlocal pending, n_sent, in_flight
        if not pending:
            return
        wait = _start(model, pending)
        write_in_flight()
        in_flight = (pending, wait)
        pending, n_sent = [], 0

    try:
        with writer:
            position = 0
            try:
                for doc in iter_sources(sources, options=options, stats=stats):
                    position += 1
                    if position <= skip:
                        if position == skip and writer.state.last_doc_id not in (None, doc.doc_id):
                            raise UsageError(
                                f"{output}: --resume refused: document {skip} is now "
                                f"{doc.doc_id!r}, was {writer.state.last_doc_id!r}; the input changed"
                            )
                        continue
                    units = units_for(doc.text, split=split)
                    pending.append((doc, units))
                    n_sent += len(units)
                    if n_sent >= chunk_sentences or len(pending) >= max_chunk_docs:
                        flush()
            except InputError:
                flush()  # keep what was read before the bad record, then report it
                write_in_flight()
                raise
            flush()
            write_in_flight()
            writer.finish()
    finally:
        if bar is not None:
            bar.close()
        summary.skipped = stats.skipped
        summary.warnings = stats.warnings
        summary.seconds = time.perf_counter() - started
    return summary


def _progress_bar(enabled: bool, total: int | None, initial: int) -> Any:
    from stance.readers import is_tty

    if not enabled or not is_tty():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="doc", dynamic_ncols=True, desc="labelling")
