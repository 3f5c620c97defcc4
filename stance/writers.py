"""Crash-safe, resumable row writers for JSONL, CSV and Parquet.

Rows are written in chunks that always hold whole articles. After each chunk the data is
flushed and fsynced, then a line is appended to a small journal beside the output,
``.<name>.stance-journal``, recording the byte size of the output (JSONL, CSV) or the part
files written (Parquet), and how many input documents are done. A run killed at any moment
leaves a journal whose last complete line describes a consistent prefix of the output;
``--resume`` truncates the output to that prefix and continues from the next document.
When the run completes the journal is removed.

Parquet cannot be appended to, so chunks go to ``<name>.parts/part-NNNNNN.parquet`` (each
written to a temporary name, then renamed) and are merged into the output at the end.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stance.errors import OutputError, UsageError

FORMATS = ("jsonl", "csv", "parquet")


def format_for(path: str, explicit: str | None) -> str:
    if explicit:
        if explicit not in FORMATS:
            raise UsageError(f"--format {explicit!r} is not one of {', '.join(FORMATS)}")
        return explicit
    if path == "-":
        return "jsonl"
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    raise UsageError(
        f"cannot tell the output format from {path!r}: use a .jsonl, .csv or .parquet name "
        "or --format"
    )


@dataclass
class Journal:
    """State of an interrupted run: how many documents are done and how much output is good."""

    fingerprint: str
    docs_done: int = 0
    rows_done: int = 0
    size: int = 0  # bytes of good output (JSONL, CSV)
    parts: int = 0  # part files written (Parquet)
    last_doc_id: str | None = None
    summary_size: int = 0  # bytes of good per-article summary (--summary)


def journal_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.stance-journal")


def read_journal(out: Path) -> Journal | None:
    path = journal_path(out)
    if not path.exists():
        return None
    header: dict[str, Any] | None = None
    last: dict[str, Any] = {}
    with path.open("r", encoding="utf-8") as fh:
        for line in fh:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                break  # a torn last line: the one before it is the last good state
            if header is None:
                header = entry
            else:
                last = entry
    if header is None:
        return None
    return Journal(
        fingerprint=header.get("fingerprint", ""),
        docs_done=last.get("docs", 0),
        rows_done=last.get("rows", 0),
        size=last.get("size", 0),
        parts=last.get("parts", 0),
        last_doc_id=last.get("last_doc_id"),
        summary_size=last.get("summary_size", 0),
    )


def _fsync(fh: Any) -> None:
    fh.flush()
    with contextlib.suppress(OSError):
        os.fsync(fh.fileno())


def _clean(value: Any) -> Any:
    """JSON-safe values: NaN -> None, dates -> ISO strings, bytes -> str."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


class RowWriter:
    """Writes chunks of rows to ``out`` and keeps the journal. Use as a context manager."""

    def __init__(
        self,
        out: str,
        *,
        fmt: str,
        fingerprint: str,
        resume: bool = False,
        overwrite: bool = False,
        summary: str | None = None,
    ) -> None:
        self.fmt = fmt
        self.summary_path = Path(summary) if summary else None
        self._summary: Any = None
        self.stdout = out == "-"
        self.path = Path(out)
        self.fingerprint = fingerprint
        self.columns: list[str] | None = None
        self.state = Journal(fingerprint)
        self._fh: Any = None
        self._journal: Any = None
        self.complete_already = False  # --resume of an output whose run had finished
        if self.stdout:
            if resume:
                raise UsageError("--resume needs an output file, not stdout")
            if fmt == "parquet":
                raise UsageError("Parquet output needs a file name, not stdout")
            return
        self._prepare(resume=resume, overwrite=overwrite)

    # -- set-up -------------------------------------------------------------------------
    @property
    def parts_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".parts")

    def _prepare(self, *, resume: bool, overwrite: bool) -> None:
        out, jpath = self.path, journal_path(self.path)
        if out.is_dir():
            raise UsageError(f"{out}: is a folder; give a file name for the output")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{out.parent}: cannot create folder ({exc.strerror})") from None
        previous = read_journal(out)
        if resume and previous is not None:
            if previous.fingerprint != self.fingerprint:
                raise UsageError(
                    f"{out}: --resume refused: the interrupted run used other inputs, model or "
                    "options (start again with --overwrite)"
                )
            self.state = previous
            self._open_for_resume()
            self._open_summary(resume=True)
            return
        if resume and out.exists():
            self.complete_already = True
            return
        exists = out.exists() or previous is not None or self.parts_dir.exists()
        if exists and not overwrite and not resume:
            what = "output exists" if out.exists() else f"an interrupted run's journal exists ({jpath.name})"
            raise UsageError(f"{out}: {what}; use --resume to continue it or --overwrite to replace it")
        for leftover in (out, jpath):
            if leftover.exists():
                leftover.unlink()
        if self.parts_dir.exists():
            shutil.rmtree(self.parts_dir)
        if self.summary_path is not None and self.summary_path.exists() and not overwrite:
            raise UsageError(f"{self.summary_path}: summary exists; use --overwrite to replace it")
        self._open_fresh()
        self._open_summary(resume=False)

    def _open_summary(self, *, resume: bool) -> None:
        if self.summary_path is None:
            return
        try:
            if resume and self.summary_path.exists():
                self._summary = self.summary_path.open("r+b")
                self._summary.truncate(self.state.summary_size)
                self._summary.seek(self.state.summary_size)
            else:
                self._summary = self.summary_path.open("wb")
        except OSError as exc:
            raise OutputError(f"{self.summary_path}: cannot write ({exc.strerror})") from None

    def _open_journal(self, fresh: bool) -> None:
        jpath = journal_path(self.path)
        self._journal = jpath.open("w" if fresh else "a", encoding="utf-8")
        if fresh:
            self._journal.write(json.dumps({"fingerprint": self.fingerprint}) + "\n")
            _fsync(self._journal)

    def _open_fresh(self) -> None:
        try:
            self._open_journal(fresh=True)
            if self.fmt == "parquet":
                self.parts_dir.mkdir()
            else:
                self._fh = self.path.open("wb")
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write ({exc.strerror})") from None

    def _open_for_resume(self) -> None:
        try:
            self._open_journal(fresh=False)
            if self.fmt == "parquet":
                self.parts_dir.mkdir(exist_ok=True)
                for part in self.parts_dir.glob("part-*.parquet"):
                    if int(part.stem.split("-")[1]) >= self.state.parts:
                        part.unlink()
                for tmp in self.parts_dir.glob("*.tmp"):
                    tmp.unlink()
            else:
                if not self.path.exists():
                    self.path.touch()
                self._fh = self.path.open("r+b")
                self._fh.truncate(self.state.size)
                self._fh.seek(self.state.size)
                if self.fmt == "csv" and self.state.size > 0:
                    self._fh.seek(0)
                    first = self._fh.readline().decode("utf-8").rstrip("\r\n")
                    self.columns = next(csv.reader([first]))
                    self._fh.seek(self.state.size)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write ({exc.strerror})") from None

    # -- writing -----------------------------------------------------------------------
    def write_chunk(
        self,
        rows: Sequence[dict[str, Any]],
        *,
        docs: int,
        last_doc_id: str | None,
        summary_rows: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Write rows of ``docs`` whole documents, make them durable, then journal them."""
        try:
            if self.fmt == "jsonl":
                self._write_jsonl(rows)
            elif self.fmt == "csv":
                self._write_csv(rows)
            else:
                self._write_parquet_part(rows)
            if self._summary is not None:
                data = "".join(
                    json.dumps({k: _clean(v) for k, v in r.items()}, ensure_ascii=False) + "\n"
                    for r in summary_rows
                ).encode("utf-8")
                self._summary.write(data)
                _fsync(self._summary)
                self.state.summary_size += len(data)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write ({exc.strerror})") from None
        self.state.docs_done += docs
        self.state.rows_done += len(rows)
        self.state.last_doc_id = last_doc_id
        if self._journal is not None:
            entry = {
                "docs": self.state.docs_done,
                "rows": self.state.rows_done,
                "size": self.state.size,
                "parts": self.state.parts,
                "last_doc_id": last_doc_id,
                "summary_size": self.state.summary_size,
            }
            self._journal.write(json.dumps(entry) + "\n")
            _fsync(self._journal)

    def _sink(self) -> Any:
        if self.stdout:
            import sys

            return sys.stdout.buffer
        return self._fh

    def _write_jsonl(self, rows: Sequence[dict[str, Any]]) -> None:
        buf = io.StringIO()
        for row in rows:
            buf.write(json.dumps({k: _clean(v) for k, v in row.items()}, ensure_ascii=False))
            buf.write("\n")
        self._emit(buf.getvalue().encode("utf-8"))

    def _write_csv(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        buf = io.StringIO()
        writer_header = self.columns is None
        if self.columns is None:
            self.columns = list(rows[0].keys())
        w = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n")
        if writer_header:
            w.writeheader()
        for row in rows:
            w.writerow({k: _clean(v) for k, v in row.items()})
        self._emit(buf.getvalue().encode("utf-8"))

    def _emit(self, data: bytes) -> None:
        sink = self._sink()
        sink.write(data)
        if self.stdout:
            sink.flush()
            return
        _fsync(sink)
        self.state.size += len(data)

    def _write_parquet_part(self, rows: Sequence[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not rows:
            return
        table = pa.Table.from_pylist([{k: _clean(v) for k, v in r.items()} for r in rows])
        final = self.parts_dir / f"part-{self.state.parts:06d}.parquet"
        tmp = final.with_suffix(".tmp")
        pq.write_table(table, tmp)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        tmp.rename(final)
        self.state.parts += 1

    # -- finishing ---------------------------------------------------------------------
    def finish(self) -> None:
        """Complete the output (merge Parquet parts) and remove the journal."""
        if self.stdout:
            return
        try:
            if self.fmt == "parquet":
                self._merge_parts()
            if self._fh is not None:
                _fsync(self._fh)
                self._fh.close()
                self._fh = None
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write ({exc.strerror})") from None
        if self._summary is not None:
            self._summary.close()
            self._summary = None
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        journal_path(self.path).unlink(missing_ok=True)

    def _merge_parts(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = sorted(self.parts_dir.glob("part-*.parquet"))
        tmp = self.path.with_name(self.path.name + ".tmp")
        if parts:
            schema = pa.unify_schemas([pq.read_schema(p) for p in parts], promote_options="permissive")
            with pq.ParquetWriter(tmp, schema) as writer:
                for part in parts:
                    table = pq.read_table(part)
                    writer.write_table(_conform(table, schema))
        else:
            pq.write_table(pa.table({}), tmp)
        tmp.replace(self.path)
        shutil.rmtree(self.parts_dir)

    def close(self) -> None:
        """Close files without completing: the journal stays, so the run can be resumed."""
        for fh in (self._fh, self._journal, self._summary):
            if fh is not None:
                try:
                    fh.flush()
                    fh.close()
                except OSError:
                    pass
        self._fh = self._journal = self._summary = None

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _conform(table: Any, schema: Any) -> Any:
    import pyarrow as pa

    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, type=field.type))
    return pa.Table.from_arrays(columns, schema=schema)
