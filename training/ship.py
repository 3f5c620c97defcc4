"""Package a trained model as the shipped default: int8 ONNX, with its card completed.

    python -m training.ship runs/default [--output stance/models/default] [--data data/test.jsonl]

Steps: export the torch model to ONNX fp32 and int8, score fp32 and int8 against the torch
model on the test split (label agreement, macro-F1), train and score the TF-IDF baseline with
the same scoring code, time the three formats on the test sentences, then write the int8
directory to ``--output`` and append a "Shipped format" section to its model card and an
``export`` block to its ``metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any


def export_report(source: str | Path, export: str | Path, data: str | Path, *, text_field: str = "text") -> dict[str, Any]:
    """Compare an exported model with its source on labelled data: label agreement, macro-F1."""
    import stance
    from eval.metrics import macro_f1
    from stance.predict import softmax

    rows = [json.loads(x) for x in Path(data).read_text(encoding="utf-8").splitlines() if x.strip()]
    texts = [r[text_field] for r in rows]
    a, b = stance.load(source), stance.load(export)
    la, lb = a.predictor.logits(texts), b.predictor.logits(texts)
    report: dict[str, Any] = {"data": str(data), "n": len(texts), "tasks": {}}
    for task in a.scheme:
        pa = [task.labels[k] for k in la[task.name].argmax(1)]
        pb = [task.labels[k] for k in lb[task.name].argmax(1)]
        entry = {
            "agreement": sum(x == y for x, y in zip(pa, pb)) / len(texts),
            "max_abs_prob_diff": float(abs(softmax(la[task.name]) - softmax(lb[task.name])).max()),
        }
        gold = [str(r.get(task.name)) for r in rows]
        if all(g in task.labels for g in gold):
            entry["macro_f1_source"] = macro_f1(gold, pa, task.labels)
            entry["macro_f1_export"] = macro_f1(gold, pb, task.labels)
        report["tasks"][task.name] = entry
    return report


def _speed(model_dir: Path, texts: list[str]) -> float:
    import stance

    model = stance.load(model_dir)  # one process, all threads: the formats compared like for like
    model.predict_proba(texts[:64])
    t0 = time.perf_counter()
    model.predict_proba(texts)
    return len(texts) / (time.perf_counter() - t0)


def ship(run_dir: Path, output: Path, data: Path, config: str) -> dict[str, Any]:
    from stance.export import calibration_texts, export_onnx
    from training.baseline import train_baseline

    texts = [json.loads(x)["text"] for x in data.read_text(encoding="utf-8").splitlines() if x.strip()]
    calibration = calibration_texts(run_dir, None)  # the training split, as recorded in the run
    if not calibration:
        raise SystemExit(f"{run_dir}: its training file is not readable here; int8 smoothing needs it")
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(run_dir, Path(tmp) / "fp32")
        int8 = export_onnx(run_dir, Path(tmp) / "int8", quantize="int8", calibration=calibration)
        report = {
            "fp32": export_report(run_dir, fp32, data),
            "int8": export_report(run_dir, int8, data),
            "int8_vs_fp32": export_report(fp32, int8, data),
            "sizes_mb": {
                "torch": round((run_dir / "model.safetensors").stat().st_size / 1e6, 1),
                "onnx_fp32": round((fp32 / "model.onnx").stat().st_size / 1e6, 1),
                "onnx_int8": round((int8 / "model.onnx").stat().st_size / 1e6, 1),
            },
            "sentences_per_s": {
                "torch": round(_speed(run_dir, texts)),
                "onnx_fp32": round(_speed(fp32, texts)),
                "onnx_int8": round(_speed(int8, texts)),
            },
        }
        baseline = train_baseline(config)
        report["baseline_test"] = {t: m["macro_f1"] for t, m in baseline["test"]["tasks"].items()}
        if output.exists():
            shutil.rmtree(output)
        shutil.copytree(int8, output)
    metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    metrics["export"] = report
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    _append_card(output, metrics, report)
    return report


def _append_card(output: Path, metrics: dict[str, Any], r: dict[str, Any]) -> None:
    test = metrics.get("test", {}).get("tasks", {})
    lines = [
        "",
        "## Shipped format: int8 ONNX",
        "",
        "The shipped directory holds `model.onnx`, the torch model exported with all task heads in one graph "
        "and quantized with ONNX Runtime dynamic int8 quantization (`stance export --quantize int8`), "
        "its linear layers smoothed first on 2,000 training sentences (SmoothQuant, alpha 0.9; see `stance/export.py`). "
        f"Measured on `{r['int8']['data']}` ({r['int8']['n']} sentences) by `python -m training.ship`:",
        "",
        "| format | size MB | sentences/s | " + " | ".join(f"{t} macro-F1" for t in test) + " | label agreement with torch |",
        "| --- | --- | --- | " + " --- |" * len(test) + " --- |",
    ]
    def row(name: str, key: str, f1s: list[float], agree: str) -> str:
        return f"| {name} | {r['sizes_mb'][key]} | {r['sentences_per_s'][key]} | " + " | ".join(f"{x:.3f}" for x in f1s) + f" | {agree} |"
    src = [r["int8"]["tasks"][t]["macro_f1_source"] for t in test]
    lines.append(row("torch fp32 (safetensors)", "torch", src, "-"))
    for name, key in (("ONNX fp32", "fp32"), ("ONNX int8 (shipped)", "int8")):
        rep = r[key]["tasks"]
        lines.append(row(name, f"onnx_{key}", [rep[t]["macro_f1_export"] for t in test],
                         ", ".join(f"{t} {rep[t]['agreement']:.1%}" for t in test)))
    lines += [
        "",
        "int8 against ONNX fp32: " + ", ".join(
            f"{t} {v['agreement']:.1%} of labels equal, macro-F1 {v['macro_f1_export'] - v['macro_f1_source']:+.3f}"
            for t, v in r["int8_vs_fp32"]["tasks"].items()
        ) + ".",
        "",
        "TF-IDF + logistic regression baseline on the same split, scored by the same code (`python -m training.baseline`): "
        + ", ".join(f"{t} macro-F1 {v:.3f}" for t, v in r["baseline_test"].items()) + ".",
        "",
    ]
    card = output / "README.md"
    card.write_text(card.read_text(encoding="utf-8") + "\n".join(lines), encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--output", type=Path, default=Path("stance/models/default"))
    ap.add_argument("--data", type=Path, default=Path("data/test.jsonl"))
    ap.add_argument("--config", default="configs/default.toml")
    args = ap.parse_args()
    report = ship(args.run_dir, args.output, args.data, args.config)
    print(json.dumps({k: v for k, v in report.items() if k in ("sizes_mb", "sentences_per_s", "baseline_test")}, indent=1))
    for key in ("fp32", "int8", "int8_vs_fp32"):
        print(key, {t: (round(v["agreement"], 4), round(v.get("macro_f1_export", 0), 4)) for t, v in report[key]["tasks"].items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
