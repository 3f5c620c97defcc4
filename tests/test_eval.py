"""Metrics on hand-computed examples; gates that must fail do; reports are written and parse."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from eval.calibration import fit_temperature
from eval.gates import Gate, check_gates, load_gates
from eval.metrics import expected_calibration_error, task_metrics
from stance.cli import app
from stance.errors import EXIT_GATE_FAILED, EXIT_USAGE, ConfigError

runner = CliRunner()


def test_task_metrics_by_hand() -> None:
    labels = ["a", "b", "c"]
    gold = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "a", "b", "b", "c", "c"]
    m = task_metrics(gold, pred, labels, bootstrap=0)
    # a: P 2/2, R 2/3, F1 0.8 ; b: P 1/2, R 1/2, F1 0.5 ; c: P 1/2, R 1, F1 2/3
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_label"]["a"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8), "support": 3}
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["weighted_f1"] == pytest.approx((0.8 * 3 + 0.5 * 2 + 2 / 3 * 1) / 6)
    assert m["confusion"]["matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_bootstrap_interval_is_seeded_and_brackets_the_value() -> None:
    rng = np.random.default_rng(1)
    gold = list(rng.choice(["x", "y"], 200))
    pred = [g if rng.random() < 0.8 else ("y" if g == "x" else "x") for g in gold]
    a = task_metrics(gold, pred, ["x", "y"], bootstrap=300, seed=5)
    b = task_metrics(gold, pred, ["x", "y"], bootstrap=300, seed=5)
    assert a["macro_f1_ci"] == b["macro_f1_ci"]
    assert a["macro_f1_ci"][0] <= a["macro_f1"] <= a["macro_f1_ci"][1]


def test_ece_by_hand() -> None:
    conf = np.array([0.9, 0.9, 0.6, 0.6])
    correct = np.array([1, 0, 1, 1])
    # bin 0.9: acc 0.5 vs conf 0.9 -> 0.4 x 1/2 ; bin 0.6: acc 1.0 vs conf 0.6 -> 0.4 x 1/2
    assert expected_calibration_error(conf, correct) == pytest.approx(0.4)


def test_temperature_recovers_overconfidence() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(2000, 3)) * 1.5
    p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    gold = np.array([rng.choice(3, p=row) for row in p])
    assert fit_temperature(true_logits * 3.0, gold) == pytest.approx(3.0, rel=0.15)


def test_gates_file_and_overrides(tmp_path: Path) -> None:
    f = tmp_path / "gates.toml"
    f.write_text('[min]\n"stance.macro_f1" = 0.5\n[max_drop]\n"stance.macro_f1" = 0.01\n')
    gates = load_gates(f, ["stance.macro_f1=0.9", "claim_type.accuracy=0.2"])
    assert Gate("stance.macro_f1", "min", 0.9) in gates and Gate("stance.macro_f1", "max_drop", 0.01) in gates
    metrics = {"tasks": {"stance": {"macro_f1": 0.8}, "claim_type": {"accuracy": 0.3}}}
    baseline = {"deltas": {"stance.macro_f1": {"delta": -0.05}}}
    results = {(r.gate.name, r.gate.kind): r for r in check_gates(gates, metrics, baseline)}
    assert not results[("stance.macro_f1", "min")].passed and "fails by 0.1000" in results[("stance.macro_f1", "min")].message
    assert results[("claim_type.accuracy", "min")].passed
    assert not results[("stance.macro_f1", "max_drop")].passed
    with pytest.raises(ConfigError, match="is not a number"):
        load_gates(None, ["stance.macro_f1=high"])
    unknown = check_gates([Gate("stance.f2", "min", 0.1)], metrics)
    assert not unknown[0].passed and "no such metric" in unknown[0].message


@pytest.fixture()
def labelled(tmp_path: Path, tiny_model) -> Path:
    # Gold = the tiny model's own predictions, except two flipped rows: a known score.
    texts = [f"Sentence number {i} about tariffs and talks." for i in range(12)]
    preds = tiny_model.predict(texts)
    rows = []
    for i, (t, p) in enumerate(zip(texts, preds)):
        row = {"text": t, "outlet_type": "wire" if i % 2 else "blog"}
        for task in tiny_model.scheme:
            label = p[task.name].label
            if i < 2:
                label = next(x for x in task.labels if x != label)
            row[task.name] = label
        rows.append(row)
    path = tmp_path / "gold.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_eval_cli_reports_and_failing_gate(tmp_path: Path, tiny_model_dir: Path, labelled: Path) -> None:
    report = tmp_path / "report"
    errors = tmp_path / "errors.jsonl"
    result = runner.invoke(app, [
        "eval", str(labelled), "--model", str(tiny_model_dir), "--gate", "stance.accuracy=0.99",
        "--gate", "claim_type.accuracy=0.5", "--report-dir", str(report), "--slice-by", "outlet_type",
        "--errors", str(errors),
    ])
    assert result.exit_code == EXIT_GATE_FAILED, result.output
    assert "FAIL stance.accuracy" in result.stderr
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["tasks"]["stance"]["accuracy"] == pytest.approx(10 / 12)
    assert set(metrics["tasks"]["stance"]["slices"]["outlet_type"]) == {"wire", "blog"}
    suite = ET.parse(report / "junit.xml").getroot().find("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["min:stance.accuracy"].find("failure") is not None
    assert cases["min:claim_type.accuracy"].find("failure") is None
    assert "# stance eval report" in (report / "report.md").read_text()
    for png in ("confusion_stance.png", "reliability_claim_type.png"):
        assert (report / png).read_bytes()[:4] == b"\x89PNG"
    assert len(errors.read_text().splitlines()) == 2


def test_eval_passes_and_compares_with_baseline(tmp_path: Path, tiny_model_dir: Path, labelled: Path, monkeypatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    first = tmp_path / "first"
    assert runner.invoke(app, ["eval", str(labelled), "--model", str(tiny_model_dir), "--report-dir", str(first), "-q"]).exit_code == 0
    result = runner.invoke(app, [
        "eval", str(labelled), "--model", str(tiny_model_dir), "--baseline", str(first),
        "--report-dir", str(tmp_path / "second"), "--gate", "stance.accuracy=0.5",
    ])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "second" / "metrics.json").read_text())
    delta = metrics["baseline"]["deltas"]["stance.macro_f1"]
    assert delta["delta"] == 0 and delta["p_value"] == 1.0
    assert metrics["baseline"]["agreement"] == {"stance": 1.0, "claim_type": 1.0}
    assert "stance labels equal: 100.00%" in result.output
    assert summary.read_text().count("# stance eval report") == 2


def test_eval_bad_input(tmp_path: Path, tiny_model_dir: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "x", "stance": "war", "claim_type": "fact"}) + "\n")
    result = runner.invoke(app, ["eval", str(bad), "--model", str(tiny_model_dir)])
    assert result.exit_code == EXIT_USAGE and f"{bad}:1: unknown stance label 'war'" in result.stderr
    missing = tmp_path / "missing.csv"
    missing.write_text("text,stance\nhello,neutral\n")
    result = runner.invoke(app, ["eval", str(missing), "--model", str(tiny_model_dir)])
    assert result.exit_code == EXIT_USAGE and "missing column 'claim_type'" in result.stderr
