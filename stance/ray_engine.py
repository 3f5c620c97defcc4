"""``stance label --engine ray``: batch labelling on Ray Data (``pip install 'stance[ray]'``).

Ray Data reads the input (JSONL or Parquet, split into many blocks), an actor pool labels
each batch of articles with the local engine's code (:func:`stance.label.units_for` and
the same length-sorted :class:`~stance.predict.Predictor`), and Ray writes JSONL or Parquet
part files into the output folder. Rows equal the local engine's (labels, offsets; scores
agree to float precision, as batches differ).

Measured pitfalls, handled here: on a small machine, actors at ``num_cpus=1`` starve the read
tasks and the job hangs, so actors take 0.5 CPU and read/write tasks 0.25; one input file
is one block unless ``override_num_blocks`` is set, so it is set from the worker count; each
actor pins its inference threads; ``ray.shutdown()`` runs in ``finally``. Failed actors are
restarted and their batches retried by Ray, so a killed worker loses no rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stance.errors import InputError, UsageError

ACTOR_CPUS = 0.5  # each labelling actor's CPU reservation
IO_CPUS = 0.25  # each read or write task's CPU reservation


class LabelActor:
    """Loads the model once per actor; labels a batch of article records into sentence rows."""

    def __init__(self, model_path: str | None, text_field: str, id_field: str, split: bool, probs: bool,
                 threads: int, batch_size: int | None, jsonl: bool) -> None:
        import stance

        self.model = stance.load(model_path, threads=threads, batch_size=batch_size)
        self.text_field, self.id_field, self.split, self.probs = text_field, id_field, split, probs
        self.jsonl = jsonl

    def __call__(self, batch: Any) -> Any:
        import json

        import pyarrow as pa

        from stance.label import _rows_for, units_for
        from stance.readers import Document

        if self.jsonl:  # raw lines, parsed exactly as the local engine parses them
            records = [json.loads(line) for line in batch.column("text").to_pylist() if line.strip()]
        else:
            records = batch.to_pylist()
        docs = []
        for rec in records:
            text = rec.get(self.text_field)
            if not isinstance(text, str):
                raise ValueError(f"record {rec.get(self.id_field)!r}: field {self.text_field!r} is not text")
            meta = {k: v for k, v in rec.items() if k not in (self.text_field, self.id_field)}
            doc = Document(str(rec[self.id_field]), text, meta)
            docs.append((doc, units_for(text, split=self.split)))
        rows = _rows_for(self.model, docs, probs=self.probs)
        return pa.Table.from_pylist(rows) if rows else pa.table({})


@dataclass
class RaySummary:
    documents: int
    sentences: int
    seconds: float
    output: str
    workers: int


def label_with_ray(
    inputs: Sequence[str],
    output: str,
    *,
    model_path: str | None = None,
    fmt: str = "jsonl",
    address: str | None = None,
    workers: int | None = None,
    batch_docs: int = 16,
    batch_size: int | None = None,  # sentences per forward pass [default: the backend's]
    text_field: str = "text",
    id_field: str = "id",
    split: bool = True,
    probs: bool = False,
    overwrite: bool = False,
    actor_cls: type = LabelActor,
) -> RaySummary:
    """Label JSONL or Parquet corpora on a Ray cluster into the folder ``output``."""
    import time

    try:
        import ray
    except ImportError:
        raise UsageError("--engine ray needs Ray Data: pip install 'stance[ray]'") from None
    files = _check_inputs(inputs)
    kinds = {Path(f).suffix.lower() for f in files}
    if len(kinds) != 1:
        raise UsageError("--engine ray reads one kind of input at a time (all .jsonl or all .parquet)")
    if fmt not in ("jsonl", "parquet"):
        raise UsageError(f"--engine ray writes jsonl or parquet, not {fmt!r}")
    out = Path(output)
    occupied = any(out.iterdir()) if out.is_dir() else out.exists()
    if occupied:
        if not overwrite:
            raise UsageError(f"{out}: output exists; use --overwrite to replace it")
        import shutil

        shutil.rmtree(out) if out.is_dir() else out.unlink()
    started = time.perf_counter()
    ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
             configure_logging=False)
    try:
        cluster_cpus = int(ray.cluster_resources().get("CPU", 1))
        n_workers = workers or max(1, cluster_cpus)
        threads = max(1, cluster_cpus // n_workers) if address in (None, "local") else 1
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        blocks = max(4 * n_workers, len(files))
        if ".jsonl" in kinds:
            # lines as text; the actors parse them with json.loads, like the local engine
            ds = ray.data.read_text(list(files), override_num_blocks=blocks, num_cpus=IO_CPUS)
            from stance.records import iter_records

            first = next(iter_records(files[0]), None)
            if first is None:
                raise InputError(f"{files[0]}: empty file")
            columns = list(first[1])
        else:
            ds = ray.data.read_parquet(list(files), override_num_blocks=blocks, num_cpus=IO_CPUS)
            columns = ds.columns()
        for needed in (text_field, id_field):
            if needed not in columns:
                raise InputError(f"{files[0]}: no field {needed!r} (fields: {', '.join(columns)}); the Ray engine needs both")
        labelled = ds.map_batches(
            actor_cls,
            fn_constructor_kwargs={
                "model_path": str(model_path) if model_path else None, "text_field": text_field, "id_field": id_field,
                "split": split, "probs": probs, "threads": threads, "batch_size": batch_size,
                "jsonl": ".jsonl" in kinds,
            },
            batch_size=batch_docs,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=n_workers),
            num_cpus=ACTOR_CPUS,
            max_restarts=-1,
            max_task_retries=-1,
        )
        if fmt == "jsonl":
            labelled.write_json(str(out), ray_remote_args={"num_cpus": IO_CPUS}, force_ascii=False)
        else:
            labelled.write_parquet(str(out), ray_remote_args={"num_cpus": IO_CPUS})
        n_rows, seen = 0, set()
        for row in iter_output_rows(out):
            n_rows += 1
            seen.add(row["doc_id"])
        n_docs = len(seen)
    finally:
        ray.shutdown()
    return RaySummary(n_docs, n_rows, time.perf_counter() - started, str(out), n_workers)


def _check_inputs(inputs: Sequence[str]) -> list[str]:
    files: list[str] = []
    for raw in inputs:
        p = Path(raw)
        if raw == "-":
            raise UsageError("--engine ray cannot read stdin")
        if not p.exists():
            raise InputError(f"{raw}: no such file or directory")
        if p.is_dir():
            files += sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in (".jsonl", ".parquet"))
        elif p.suffix.lower() in (".jsonl", ".parquet"):
            files.append(str(p))
        else:
            raise UsageError(f"{raw}: --engine ray reads .jsonl or .parquet files")
    if not files:
        raise InputError("no .jsonl or .parquet input found")
    return files


def iter_output_rows(folder: str | Path) -> Any:
    """Rows of a Ray output folder, part files in name order."""
    import json

    for f in sorted(Path(folder).iterdir()):
        if f.suffix == ".json" or f.suffix == ".jsonl":
            with f.open(encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        yield json.loads(line)
        elif f.suffix == ".parquet":
            import pyarrow.parquet as pq

            yield from pq.read_table(f).to_pylist()

