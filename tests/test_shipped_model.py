"""The shipped default model: loads offline, labels the examples, passes the project's gates."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import REPO
from typer.testing import CliRunner

import stance
from stance.cli import app

runner = CliRunner()


def test_shipped_model_loads_offline_and_is_small() -> None:
    model = stance.load()
    assert model.backend == "onnx"
    assert model.tasks == ["stance", "claim_type"]
    total = sum(f.stat().st_size for f in stance.default_model_path().iterdir())
    assert total <= 25 * 1024 * 1024
    pred = model.predict(["Beijing announced duties of 15 percent on American farm goods on Tuesday."])[0]
    assert pred["stance"].label == "escalation" and pred["claim_type"].label == "fact"


def test_quick_start_labels_the_examples(tmp_path: Path, london_text: str) -> None:
    out = tmp_path / "examples.jsonl"
    result = runner.invoke(app, ["label", str(REPO / "examples"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    texts = {p.name: p.read_text(encoding="utf-8") for p in (REPO / "examples").iterdir()}
    for r in rows:
        assert texts[r["doc_id"]][r["start"] : r["end"]] == r["text"]
    cookie = next(r for r in rows if r["text"].startswith("We use cookies"))
    assert cookie["claim_type"] == "none"


def test_shipped_model_passes_the_project_gates(tmp_path: Path) -> None:
    result = runner.invoke(app, [
        "eval", str(REPO / "data" / "test.jsonl"), "--gates", str(REPO / "configs" / "gates.toml"),
        "--report-dir", str(tmp_path / "report"),
    ])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert all(g["passed"] for g in metrics["gates"]) and len(metrics["gates"]) >= 3
