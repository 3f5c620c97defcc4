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
    calibration = d / "calibration.txt"
    calibration.write_text("\n".join(TEXTS), encoding="utf-8")
    for name, extra in (("fp32", []), ("int8", ["--quantize", "int8", "--calibrate", str(calibration)])):
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
    assert config["extra"]["int8_smoothing"]["calibration_sentences"] == len(TEXTS)


def test_smoothing_leaves_the_fp32_function_unchanged(tiny_model_dir: Path) -> None:
    import torch

    from stance.export import smooth_linear_inputs
    from stance.modeldir import read_config
    from stance.network import MultiTaskModel
    from stance.predict import TorchBackend, load_tokenizer

    config = read_config(tiny_model_dir)
    model = MultiTaskModel.load(tiny_model_dir, config)
    tokenizer = load_tokenizer(tiny_model_dir, config.max_length)
    ids = [e.ids for e in tokenizer.encode_batch(TEXTS[:5])]
    width = max(map(len, ids))
    input_ids = np.array([x + [0] * (width - len(x)) for x in ids], dtype=np.int64)
    mask = np.array([[1] * len(x) + [0] * (width - len(x)) for x in ids], dtype=np.int64)
    before = TorchBackend.from_module(model).logits(input_ids, mask)
    smoothed = smooth_linear_inputs(model, tokenizer, TEXTS, alpha=0.9)
    after = TorchBackend.from_module(model).logits(input_ids, mask)
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in model.encoder.modules())
    assert smoothed == n_linear > 0  # every encoder linear layer now reads a rescaled input
    for task in before:
        np.testing.assert_allclose(before[task], after[task], atol=1e-4)


def test_int8_export_without_calibration_warns(tiny_model_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", "--model", str(tiny_model_dir), "-o", str(tmp_path / "q"), "--quantize", "int8"])
    assert result.exit_code == 0, result.output
    assert "not smoothed" in result.output
    assert "int8_smoothing" not in json.loads((tmp_path / "q" / "config.json").read_text())["extra"]


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


def test_workers_give_the_same_labels_as_one_process(exports, tmp_path: Path) -> None:
    """Batches are formed before they are farmed out, so int8 outputs are identical."""
    single = stance.load(exports["int8"])
    with stance.load(exports["int8"], workers=2) as pooled:
        assert pooled.workers == 2
        a, b = single.predict_proba(TEXTS), pooled.predict_proba(TEXTS)
        for task in single.tasks:
            np.testing.assert_array_equal(a[task], b[task])
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(" ".join(TEXTS[:5]), encoding="utf-8")
    (folder / "b.txt").write_text(" ".join(TEXTS[5:9]), encoding="utf-8")
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.jsonl"
        result = runner.invoke(app, ["label", str(folder), "-o", str(out), "-m", str(exports["int8"]), "--workers", workers, "-q"])
        assert result.exit_code == 0, result.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and outs[0].count(b"\n") == 9


def test_worker_that_cannot_load_reports_a_model_error(exports, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(exports["int8"], broken)
    (broken / "model.onnx").write_bytes(b"not a model")  # the parent reads only config.json
    with pytest.raises(stance.errors.ModelError, match="could not load the model"):
        stance.load(broken, workers=2)


def test_onnx_model_refuses_device_and_precision(exports, tmp_path: Path) -> None:
    with pytest.raises(stance.errors.ModelError, match="runs on the CPU in the precision it was exported in"):
        stance.load(exports["int8"], precision="bf16")
    text = tmp_path / "a.txt"
    text.write_text(TEXTS[0], encoding="utf-8")
    result = runner.invoke(app, ["label", str(text), "-o", str(tmp_path / "o.jsonl"), "-m", str(exports["int8"]), "--device", "cuda"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "ONNX model runs on the CPU" in result.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_torch_workers_run_in_the_requested_precision(tiny_model_dir: Path) -> None:
    single = stance.load(tiny_model_dir, precision="bf16")
    with stance.load(tiny_model_dir, precision="bf16", workers=2) as pooled:
        a, b = single.predict_proba(TEXTS), pooled.predict_proba(TEXTS)
    for task in single.tasks:
        np.testing.assert_array_equal(a[task], b[task])


def test_default_workers_one_per_cpu_for_onnx_only(exports, tiny_model_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("STANCE_THREADS", "3")
    assert stance.default_workers(exports["int8"]) == 3
    assert stance.default_workers(tiny_model_dir) == 1  # torch uses every core from one process
