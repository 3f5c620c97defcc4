"""A run killed with SIGKILL at any moment, then resumed, gives exactly the clean run's bytes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ARTICLE = (
    "Tariffs rise again\n\nWASHINGTON - The U.S. raised duties on $200 billion of goods on Friday. "
    "Beijing vowed to retaliate. Talks may resume next month, officials said.\n\nRead more\n"
)


def make_corpus(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            text = ARTICLE + f"Paragraph {i}: exports fell {i % 17}.{i % 10}% in the quarter. " * (1 + i % 4)
            fh.write(json.dumps({"id": f"doc-{i:04d}", "text": text, "n": i}) + "\n")


def label_cmd(src: Path, out: Path, model: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "stance.cli", "label", str(src), "-o", str(out), "--model", str(model),
        "--quiet", "--chunk-sentences", "40", "--batch-size", "16", *extra,
    ]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_sigkill_then_resume_equals_clean_run(tmp_path: Path, tiny_model_dir: Path, fmt: str) -> None:
    src = tmp_path / "corpus.jsonl"
    make_corpus(src, 240)
    env = {**os.environ, "STANCE_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    clean = tmp_path / f"clean.{fmt}"
    clean_summary, summary = tmp_path / "clean-articles.jsonl", tmp_path / "articles.jsonl"
    subprocess.run(label_cmd(src, clean, tiny_model_dir, "--summary", str(clean_summary)), check=True, env=env, timeout=300)

    out = tmp_path / f"killed.{fmt}"
    rng = random.Random(7)
    kills = 0
    proc = subprocess.Popen(label_cmd(src, out, tiny_model_dir, "--summary", str(summary)), env=env)
    for _attempt in range(20):
        # Let the run get going (interpreter and model start take most of a second), then kill.
        time.sleep(rng.uniform(1.0, 3.0))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        proc = subprocess.Popen(label_cmd(src, out, tiny_model_dir, "--resume", "--summary", str(summary)), env=env)
    assert proc.wait(timeout=300) == 0
    assert kills >= 1, "the run finished before it could be killed; make the corpus larger"
    if fmt == "parquet":
        import pyarrow.parquet as pq

        assert pq.read_table(out).to_pylist() == pq.read_table(clean).to_pylist()
    else:
        assert out.read_bytes() == clean.read_bytes()
    assert summary.read_bytes() == clean_summary.read_bytes()
    assert not any(p.name.endswith("stance-journal") for p in tmp_path.iterdir())


def test_resume_of_complete_output_is_a_no_op(tmp_path: Path, tiny_model_dir: Path) -> None:
    from typer.testing import CliRunner

    from stance.cli import app

    src = tmp_path / "corpus.jsonl"
    make_corpus(src, 5)
    out = tmp_path / "o.jsonl"
    runner = CliRunner()
    args = ["label", str(src), "-o", str(out), "--model", str(tiny_model_dir)]
    assert runner.invoke(app, args).exit_code == 0
    before = out.read_bytes()
    result = runner.invoke(app, [*args, "--resume"])
    assert result.exit_code == 0 and "already complete" in result.stderr
    assert out.read_bytes() == before
