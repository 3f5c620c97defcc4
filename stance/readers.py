"""Streaming readers for article corpora: text files, folders, JSONL, CSV, Parquet and stdin.

Every reader yields :class:`Document` objects one at a time, so memory does not grow with
the corpus. Problems are reported with the file and line (or column) they come from:

* non-UTF-8 bytes in a text file: decoded with U+FFFD replacement, and a warning names the file;
* an empty file: a warning, and no document;
* a binary file (NUL bytes): an :class:`~stance.errors.InputError`;
* a malformed JSONL line, a CSV row with a missing text, a record whose text is not a string:
  an :class:`~stance.errors.InputError` naming ``file:line``, unless ``skip_bad`` is set, in
  which case the record is skipped, a warning is logged and :attr:`ReadStats.skipped` counts it;
* a missing text column (CSV, Parquet) or an unreadable path: an :class:`InputError`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stance.errors import InputError

log = logging.getLogger("stance")

TEXT_SUFFIXES = {".txt", ".md"}
RECORD_SUFFIXES = {".jsonl", ".csv", ".parquet"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | RECORD_SUFFIXES
_BINARY_SNIFF = 8192


@dataclass
class Document:
    """One article (or, with ``split=False``, one sentence) and the metadata that travels with it."""

    doc_id: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)
    origin: str = ""  # "file:line" for messages


@dataclass
class ReadStats:
    documents: int = 0
    skipped: int = 0
    warnings: int = 0


@dataclass(frozen=True)
class ReadOptions:
    text_field: str = "text"  # field holding the article text in JSONL/CSV/Parquet records
    id_field: str = "id"  # field holding the document id; "<file>:<line>" when absent
    skip_bad: bool = False  # skip malformed records (counted and warned) instead of failing
    lines_as_documents: bool = False  # --no-split: each line of a text file is one sentence


def expand_inputs(inputs: Sequence[str]) -> list[tuple[str, Path | None, str]]:
    """Resolve CLI inputs into ``(kind, path, display_root)`` triples in a deterministic order.

    Folders are walked recursively in sorted order; hidden files and unsupported suffixes
    inside folders are ignored. ``-`` stands for stdin.
    """
    out: list[tuple[str, Path | None, str]] = []
    for raw in inputs:
        if raw == "-":
            out.append(("stdin", None, "-"))
            continue
        path = Path(raw)
        if not path.exists():
            raise InputError(f"{raw}: no such file or directory")
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SUPPORTED_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                log.warning("%s: folder holds no .txt, .md, .jsonl, .csv or .parquet files", raw)
            for f in files:
                out.append((_kind(f), f, str(path)))
        else:
            kind = _kind(path)
            if kind == "unknown":
                raise InputError(
                    f"{raw}: unsupported file type {path.suffix!r} "
                    "(expected .txt, .md, .jsonl, .csv, .parquet, a folder or -)"
                )
            out.append((kind, path, ""))
    return out


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return "text"
    if suffix in RECORD_SUFFIXES:
        return suffix[1:]
    return "unknown"


Source = tuple[str, Path | None, str]  # (kind, path, display root), from expand_inputs


def iter_documents(
    inputs: Sequence[str], *, options: ReadOptions = ReadOptions(), stats: ReadStats | None = None
) -> Iterator[Document]:
    """Yield every document of ``inputs`` in a deterministic order."""
    return iter_sources(expand_inputs(inputs), options=options, stats=stats)


def iter_sources(
    sources: Sequence[Source], *, options: ReadOptions = ReadOptions(), stats: ReadStats | None = None
) -> Iterator[Document]:
    """Yield every document of already expanded inputs (see :func:`expand_inputs`)."""
    stats = stats if stats is not None else ReadStats()
    for kind, path, root in sources:
        if kind == "stdin":
            gen = _read_text_stream(sys.stdin.buffer.read(), "-", "-", options, stats)
        elif kind == "text":
            assert path is not None
            doc_id = str(path.relative_to(root)) if root else str(path)
            gen = _read_text_file(path, doc_id, options, stats)
        elif kind == "jsonl":
            gen = _read_jsonl(path, options, stats)  # type: ignore[arg-type]
        elif kind == "csv":
            gen = _read_csv(path, options, stats)  # type: ignore[arg-type]
        else:
            gen = _read_parquet(path, options, stats)  # type: ignore[arg-type]
        for doc in gen:
            stats.documents += 1
            yield doc


def count_documents(sources: Sequence[Source], *, options: ReadOptions = ReadOptions()) -> int | None:
    """A cheap upper-bound count of documents of expanded inputs, for progress bars (None if unknown)."""
    total = 0
    for kind, path, _ in sources:
        if kind == "stdin":
            return None
        assert path is not None
        try:
            if kind == "text":
                total += _count_lines(path) if options.lines_as_documents else 1
            elif kind == "jsonl":
                total += _count_lines(path)
            elif kind == "csv":
                total += max(_count_lines(path) - 1, 0)
            else:
                import pyarrow.parquet as pq

                total += pq.ParquetFile(path).metadata.num_rows
        except Exception:
            return None
    return total


def _count_lines(path: Path) -> int:
    n = 0
    last = b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


def _open_error(path: Path, exc: OSError) -> InputError:
    reason = exc.strerror or exc.__class__.__name__
    return InputError(f"{path}: cannot read ({reason})")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _open_error(path, exc) from None


def _decode(data: bytes, where: str, stats: ReadStats) -> str:
    if b"\x00" in data[:_BINARY_SNIFF]:
        raise InputError(f"{where}: looks like a binary file (NUL bytes), not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8", errors="replace")
        stats.warnings += 1
        log.warning(
            "%s: not valid UTF-8 (first bad byte at offset %d); decoded with replacement characters",
            where,
            exc.start,
        )
    return text.removeprefix("\ufeff")


def _read_text_file(
    path: Path, doc_id: str, options: ReadOptions, stats: ReadStats
) -> Iterator[Document]:
    yield from _read_text_stream(_read_bytes(path), doc_id, str(path), options, stats)


def _read_text_stream(
    data: bytes, doc_id: str, where: str, options: ReadOptions, stats: ReadStats
) -> Iterator[Document]:
    try:
        text = _decode(data, where, stats)
    except InputError as exc:
        if not options.skip_bad:
            raise
        _skip(stats, str(exc))
        return
    if not text.strip():
        stats.warnings += 1
        log.warning("%s: empty file, no sentences", where)
        return
    if options.lines_as_documents:
        for i, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield Document(f"{doc_id}:{i}", line, {}, f"{where}:{i}")
        return
    yield Document(doc_id, text, {}, where)


def _skip(stats: ReadStats, message: str) -> None:
    stats.skipped += 1
    log.warning("skipped: %s", message)


def _make_document(
    record: dict[str, Any], where: str, default_id: str, options: ReadOptions, stats: ReadStats
) -> Document | None:
    """Turn one record into a Document, or report it (error, or skip with ``skip_bad``)."""
    problem = None
    if options.text_field not in record:
        problem = f"{where}: no field {options.text_field!r} (fields: {', '.join(map(str, record))})"
    else:
        text = record[options.text_field]
        if text is None:
            problem = f"{where}: field {options.text_field!r} is null"
        elif not isinstance(text, str):
            problem = f"{where}: field {options.text_field!r} is {type(text).__name__}, not text"
    if problem:
        if options.skip_bad:
            _skip(stats, problem)
            return None
        raise InputError(problem + " (use --text-field to choose the field, --skip-bad to skip)")
    raw_id = record.get(options.id_field)
    doc_id = default_id if raw_id is None or raw_id == "" else str(raw_id)
    meta = {k: v for k, v in record.items() if k not in (options.text_field, options.id_field)}
    return Document(doc_id, record[options.text_field], meta, where)


def _read_jsonl(path: Path, options: ReadOptions, stats: ReadStats) -> Iterator[Document]:
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise _open_error(path, exc) from None
    with fh:
        head = fh.read(_BINARY_SNIFF)
        if b"\x00" in head:
            raise InputError(f"{path}: looks like a binary file (NUL bytes), not JSONL")
        fh.seek(0)
        empty = True
        for lineno, raw in enumerate(fh, start=1):
            where = f"{path}:{lineno}"
            if not raw.strip():
                continue
            empty = False
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = raw.decode("utf-8", errors="replace")
                stats.warnings += 1
                log.warning("%s: not valid UTF-8; decoded with replacement characters", where)
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                msg = f"{where}: malformed JSON at column {exc.colno}: {exc.msg}"
                if options.skip_bad:
                    _skip(stats, msg)
                    continue
                raise InputError(msg + " (use --skip-bad to skip such lines)") from None
            if not isinstance(record, dict):
                msg = f"{where}: expected a JSON object, got {type(record).__name__}"
                if options.skip_bad:
                    _skip(stats, msg)
                    continue
                raise InputError(msg)
            doc = _make_document(record, where, f"{path.name}:{lineno}", options, stats)
            if doc is not None:
                yield doc
        if empty:
            stats.warnings += 1
            log.warning("%s: empty file, no records", path)


def _read_csv(path: Path, options: ReadOptions, stats: ReadStats) -> Iterator[Document]:
    data = _read_bytes(path) if path.stat().st_size < _BINARY_SNIFF else None
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise _open_error(path, exc) from None
    with raw:
        head = data if data is not None else raw.read(_BINARY_SNIFF)
        if b"\x00" in head:
            raise InputError(f"{path}: looks like a binary file (NUL bytes), not CSV")
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
        reader = csv.DictReader(text)
        try:
            header = reader.fieldnames
        except csv.Error as exc:
            raise InputError(f"{path}:1: malformed CSV header: {exc}") from None
        if not header:
            stats.warnings += 1
            log.warning("%s: empty file, no records", path)
            return
        if options.text_field not in header:
            raise InputError(
                f"{path}: no column {options.text_field!r} (columns: {', '.join(header)}); "
                "use --text-field to choose one"
            )
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                msg = f"{path}:{reader.line_num}: malformed CSV: {exc}"
                if options.skip_bad:
                    _skip(stats, msg)
                    continue
                raise InputError(msg) from None
            where = f"{path}:{reader.line_num}"
            if "\ufffd" in (row.get(options.text_field) or ""):
                stats.warnings += 1
                log.warning("%s: not valid UTF-8; decoded with replacement characters", where)
            if None in row:  # more cells than header columns
                row.pop(None)
            doc = _make_document(dict(row), where, f"{path.name}:{reader.line_num}", options, stats)
            if doc is not None:
                yield doc


def _read_parquet(path: Path, options: ReadOptions, stats: ReadStats) -> Iterator[Document]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except OSError as exc:
        raise _open_error(path, exc) from None
    except Exception as exc:  # pyarrow raises ArrowInvalid for non-Parquet bytes
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    names = pf.schema_arrow.names
    if options.text_field not in names:
        raise InputError(
            f"{path}: no column {options.text_field!r} (columns: {', '.join(names)}); "
            "use --text-field to choose one"
        )
    row = 0
    for batch in pf.iter_batches(batch_size=1024):
        for record in batch.to_pylist():
            row += 1
            where = f"{path}:row {row}"
            doc = _make_document(record, where, f"{path.name}:{row}", options, stats)
            if doc is not None:
                yield doc
    if row == 0:
        stats.warnings += 1
        log.warning("%s: empty file, no records", path)


def is_tty(stream: Any = None) -> bool:
    stream = stream or sys.stderr
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False
