"""Multi-process training on CPU (DDP over gloo) under torchrun and accelerate launch."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_tiny_base

pytestmark = pytest.mark.timeout(600)

ROWS = [
    ("Steel tariffs rose sharply today.", "steel", "high"),
    ("Chip export controls were tightened.", "chips", "high"),
    ("A quiet week for steel mills.", "steel", "low"),
    ("Chip makers reported steady sales.", "chips", "low"),
] * 6


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("ddp")
    make_tiny_base(d / "base")
    with (d / "toy.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "topic", "urgency"])
        w.writerows(ROWS)
    return d


def train_args(d: Path, out: str) -> list[str]:
    return ["-m", "stance.cli", "train", "--train", str(d / "toy.csv"), "--dev", str(d / "toy.csv"),
            "--task", "topic", "--task", "urgency", "--base", str(d / "base"), "--epochs", "2", "-o", str(d / out), "-q"]


@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_two_process_training_saves_a_model_that_labels(workdir: Path, launcher: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if launcher == "torchrun":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531", *train_args(workdir, "m-torchrun")]
    else:
        if importlib.util.find_spec("accelerate") is None:
            pytest.skip("accelerate is not installed")
        # `--multi_gpu` selects accelerate's torch.distributed launcher; on a CPU-only machine the
        # processes train on the CPU over gloo (`--cpu` would launch a single process).
        # run as a module of this interpreter: the `accelerate` script is on PATH only in an activated venv
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--main_process_port", "29532", *train_args(workdir, "m-accelerate")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = workdir / f"m-{launcher}"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert proc.stderr.count("saved ") == 1  # only rank 0 reports and writes
    labelled = workdir / f"{launcher}.jsonl"
    subprocess.run([sys.executable, "-m", "stance.cli", "label", str(workdir / "toy.csv"), "-o", str(labelled),
                    "--model", str(out), "-q"], check=True, timeout=120)
    row = json.loads(labelled.read_text().splitlines()[0])
    assert row["topic"] in ("chips", "steel") and row["urgency"] in ("high", "low")
