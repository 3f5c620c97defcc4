"""ONNX export: parity with torch, int8 close to fp32, and the ONNX path never imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import stance
from stance.cli import app
from training.ship import export_report

runner = CliRunner()
TEXTS = [
    "Beijing announced duties of 15 percent on American farm goods on Tuesday.",
    "Both delegations agreed to suspend the new levies for 90 days.",
    "What concessions will each side accept?",
    "Analysts expect the truce to collapse before the deadline, citing deep mistrust.",
    "This site uses cookies.",
] * 4


@pytest.fixture(scope="module")
def exports(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("exports")
    for name, extra in (("fp32", []), ("int8", ["--quantize", "int8"])):
        result = runner.invoke(app, ["export", "--model", str(tiny_model_dir), "-o", str(d / name), *extra])
        assert result.exit_code == 0, result.output
    return {"fp32": d / "fp32", "int8": d / "int8"}


def test_fp32_export_matches_torch(tiny_model, exports) -> None:
    onnx_model = stance.load(exports["fp32"])
    assert onnx_model.backend == "onnx"
    a, b = tiny_model.predict_proba(TEXTS), onnx_model.predict_proba(TEXTS)
    for task in tiny_model.tasks:
        assert (a[task].argmax(1) == b[task].argmax(1)).all()
        np.testing.assert_allclose(a[task], b[task], atol=1e-4)


def test_int8_export_agrees_with_fp32(exports, tmp_path: Path) -> None:
    data = tmp_path / "gold.jsonl"
    data.write_text("".join(json.dumps({"text": t, "stance": "neutral", "claim_type": "fact"}) + "\n" for t in TEXTS))
    report = export_report(exports["fp32"], exports["int8"], data)
    for entry in report["tasks"].values():
        assert entry["agreement"] >= 0.9
    config = json.loads((exports["int8"] / "config.json").read_text())
    assert config["quantization"] == "int8" and config["weights"] == "model.onnx"


def test_onnx_path_does_not_import_torch(exports, tmp_path: Path) -> None:
    code = (
        "import sys, stance; m = stance.load(sys.argv[1]); m.predict(['Tariffs rose.']);"
        "from stance.label import label_corpus; label_corpus([sys.argv[2]], sys.argv[3], model=m, progress=False);"
        "print('torch' in sys.modules)"
    )
    src = tmp_path / "a.txt"
    src.write_text("Tariffs rose. Talks resumed.")
    out = subprocess.run([sys.executable, "-c", code, str(exports["int8"]), str(src), str(tmp_path / "o.jsonl")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_export_refuses_non_empty_output_and_onnx_source(exports, tiny_model_dir: Path) -> None:
    result = runner.invoke(app, ["export", "--model", str(tiny_model_dir), "-o", str(exports["fp32"])])
    assert result.exit_code == 2 and "not empty" in result.stderr
    result = runner.invoke(app, ["export", "--model", str(exports["fp32"]), "-o", str(exports["fp32"].parent / "x")])
    assert result.exit_code == 2 and "already an ONNX model" in result.stderr
