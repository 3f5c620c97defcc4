"""The model directory and the predictor: round trip, batch parity, version stamps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

import stance

SENTENCES = [
    "Beijing announced duties of 15 percent on American farm goods on Tuesday.",
    "Both delegations agreed to suspend the new levies for 90 days.",
    "What concessions will each side accept?",
    "This site uses cookies.",
    "Analysts expect the truce to collapse before the deadline, citing deep mistrust on both sides of the Pacific.",
]


def test_batch_equals_single_item(tiny_model) -> None:
    batch = tiny_model.predict_proba(SENTENCES)
    for i, s in enumerate(SENTENCES):
        single = tiny_model.predict_proba([s])
        for task in tiny_model.tasks:
            np.testing.assert_allclose(single[task][0], batch[task][i], atol=1e-5)
    tiny_model.batch_size = 2
    small = tiny_model.predict_proba(SENTENCES)
    tiny_model.batch_size = 8
    for task in tiny_model.tasks:
        np.testing.assert_allclose(small[task], batch[task], atol=1e-5)


def test_save_load_round_trip(tmp_path: Path, tiny_model_dir: Path, tiny_model) -> None:
    from stance.network import save_model

    torch_model = tiny_model.predictor.backend.model
    save_model(torch_model, tmp_path / "copy", tiny_model_dir)
    again = stance.load(tmp_path / "copy")
    a, b = tiny_model.predict_proba(SENTENCES), again.predict_proba(SENTENCES)
    for task in tiny_model.tasks:
        np.testing.assert_array_equal(a[task], b[task])
    assert again.scheme == tiny_model.scheme


def test_config_holds_tasks_and_versions(tiny_model_dir: Path) -> None:
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["tasks"]["stance"] == ["escalation", "de-escalation", "neutral"]
    assert config["id2label"]["claim_type"]["4"] == "none"
    assert {"stance", "torch", "transformers"} <= set(config["versions"])


def test_version_mismatch_warns(tmp_path: Path, tiny_model_dir: Path, caplog) -> None:
    d = tmp_path / "old"
    shutil.copytree(tiny_model_dir, d)
    config = json.loads((d / "config.json").read_text())
    config["versions"]["transformers"] = "1.0.0"
    (d / "config.json").write_text(json.dumps(config))
    with caplog.at_level("WARNING", logger="stance"):
        stance.load(d)
    assert "saved with transformers 1.0.0" in caplog.text


def test_temperature_changes_scores_not_labels(tmp_path: Path, tiny_model_dir: Path, tiny_model) -> None:
    d = tmp_path / "hot"
    shutil.copytree(tiny_model_dir, d)
    config = json.loads((d / "config.json").read_text())
    config["temperatures"] = {"stance": 3.0, "claim_type": 3.0}
    (d / "config.json").write_text(json.dumps(config))
    hot = stance.load(d)
    a, b = tiny_model.predict(SENTENCES), hot.predict(SENTENCES)
    for x, y in zip(a, b):
        assert x["stance"].label == y["stance"].label
        assert y["stance"].score <= x["stance"].score + 1e-6


def test_bf16_precision_stays_close_to_fp32(tiny_model_dir: Path, tiny_model) -> None:
    half = stance.load(tiny_model_dir, precision="bf16")
    assert next(half.predictor.backend.model.parameters()).dtype.is_floating_point
    assert str(next(half.predictor.backend.model.parameters()).dtype) == "torch.bfloat16"
    a, b = tiny_model.predict_proba(SENTENCES), half.predict_proba(SENTENCES)
    for task in tiny_model.tasks:
        assert b[task].dtype == np.float32  # scores come back as float32 whatever the model computes in
        np.testing.assert_allclose(a[task], b[task], atol=0.03)
        assert not np.array_equal(a[task], b[task])  # bf16 did run: its rounding shows


def test_bf16_on_a_cpu_without_native_bf16_warns(tiny_model_dir: Path, monkeypatch, caplog) -> None:
    import stance.predict

    monkeypatch.setattr(stance.predict, "cpu_has_native_bf16", lambda: False)
    with caplog.at_level("WARNING", logger="stance"):
        stance.load(tiny_model_dir, precision="bf16")
    assert "no native bfloat16" in caplog.text
    caplog.clear()
    monkeypatch.setattr(stance.predict, "cpu_has_native_bf16", lambda: True)
    with caplog.at_level("WARNING", logger="stance"):
        stance.load(tiny_model_dir, precision="bf16")
    assert "bfloat16" not in caplog.text


def test_unusable_device_or_precision_is_a_model_error(tiny_model_dir: Path) -> None:
    import pytest
    import torch

    with pytest.raises(stance.errors.ModelError, match="unknown device 'gpu0'"):
        stance.load(tiny_model_dir, device="gpu0")
    with pytest.raises(stance.errors.ModelError, match="unknown precision 'int4'"):
        stance.load(tiny_model_dir, precision="int4")
    if not torch.cuda.is_available():
        with pytest.raises(stance.errors.ModelError, match="no CUDA device"):
            stance.load(tiny_model_dir, device="cuda")
    assert stance.load(tiny_model_dir, device="cpu", precision="fp32").predict(SENTENCES[:1])
