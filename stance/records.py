"""Streaming reader of labelled or labelled-by-stance record files: JSONL, CSV, Parquet.

Used by training (labelled data), evaluation (labelled data) and the index (``stance label``
output). Every record comes with its place, ``file:line`` (``file:row N`` for Parquet), for
error messages. A folder is read file by file in name order (the part files of a Ray run).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stance.errors import InputError

SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


def iter_records(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(where, record)`` pairs; raise InputError on anything unreadable or malformed."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        for part in sorted(f for f in p.iterdir() if f.suffix.lower() in SUFFIXES):
            yield from iter_records(part)
        return
    suffix = p.suffix.lower()
    try:
        if suffix in (".jsonl", ".json"):
            with p.open(encoding="utf-8") as fh:
                for i, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputError(f"{p}:{i}: malformed JSON at column {exc.colno}: {exc.msg}") from None
                    if not isinstance(record, dict):
                        raise InputError(f"{p}:{i}: expected a JSON object")
                    yield f"{p}:{i}", record
        elif suffix == ".csv":
            with p.open(encoding="utf-8", newline="") as fh:
                reader = csv.DictReader(fh)
                for row in reader:
                    yield f"{p}:{reader.line_num}", dict(row)
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            row = 0
            for batch in pq.ParquetFile(p).iter_batches(batch_size=4096):
                for record in batch.to_pylist():
                    row += 1
                    yield f"{p}:row {row}", record
        else:
            raise InputError(f"{p}: unsupported file type {suffix!r} (expected .jsonl, .csv or .parquet)")
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror or exc})") from None


def read_labelled(
    path: str | Path, text_field: str, label_columns: list[str] | tuple[str, ...], *, about: str = ""
) -> list[tuple[str, dict[str, Any]]]:
    """The records of a labelled file, checked for what training and evaluation both need.

    Raises InputError, naming the place, for a file without records, a text or label column
    missing from the first record (``about`` is added to that message, e.g. the model's
    tasks) and an empty or missing text. Label values are the caller's to check.
    """
    records = list(iter_records(path))
    if not records:
        raise InputError(f"{path}: no records")
    first_where, first = records[0]
    columns = "columns: " + ", ".join(first)
    if text_field not in first:
        raise InputError(f"{first_where}: missing text column {text_field!r} ({columns})")
    for column in label_columns:
        if column not in first:
            raise InputError(f"{first_where}: missing column {column!r} ({about or columns})")
    for where, record in records:
        text = record.get(text_field)
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{where}: empty or missing text in {text_field!r}")
    return records
