"""Reports of an evaluation: metrics.json, report.md, junit.xml, predictions.jsonl, PNG plots.

Only :func:`write_reports` and :func:`write_errors` touch the file system.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from eval.gates import GateResult
from eval.harness import EvalResult


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def most_confident_errors(result: EvalResult, k: int = 20) -> list[dict[str, Any]]:
    out = []
    for task, probs in result.probs.items():
        labels = result.metrics["tasks"][task]["confusion"]["labels"]
        for i, (g, p) in enumerate(zip(result.gold[task], result.predictions[task])):
            if g is not None and g != p:
                out.append({"task": task, "row": i, "gold": g, "pred": p,
                            "confidence": float(probs[i][labels.index(p)]), "text": result.rows[i]["text"]})
    out.sort(key=lambda e: -e["confidence"])
    return out[:k]


def worst_confusions(result: EvalResult, k: int = 8) -> list[tuple[str, str, str, int]]:
    pairs = []
    for task, m in result.metrics["tasks"].items():
        labels, matrix = m["confusion"]["labels"], m["confusion"]["matrix"]
        for i, g in enumerate(labels):
            for j, p in enumerate(labels):
                if i != j and matrix[i][j]:
                    pairs.append((task, g, p, matrix[i][j]))
    pairs.sort(key=lambda x: -x[3])
    return pairs[:k]


def markdown(result: EvalResult, gates: list[GateResult]) -> str:
    m = result.metrics
    lines = [
        "# stance eval report",
        "",
        f"Model `{m['model']}` ({m['backend']}) on {', '.join(f'`{d}`' for d in m['data'])}: "
        f"{m['n']} sentences. Primary metric **{m['primary_metric']} = {m[m['primary_metric']]:.3f}**.",
        "",
    ]
    if gates:
        failed = [g for g in gates if not g.passed]
        lines += [f"## Gates: {'FAILED' if failed else 'passed'} ({len(gates) - len(failed)}/{len(gates)})", ""]
        lines += [f"- {'✅' if g.passed else '❌'} {g.message}" for g in gates]
        lines.append("")
    lines += ["## Tasks", "", "| task | macro-F1 (95% CI) | accuracy | weighted F1 | ECE (uncalibrated → calibrated) | T |",
              "| --- | --- | --- | --- | --- | --- |"]
    for task, t in m["tasks"].items():
        ci = t.get("macro_f1_ci") or [None, None]
        lines.append(
            f"| {task} | {t['macro_f1']:.3f} ({_fmt(ci[0])}-{_fmt(ci[1])}) | {t['accuracy']:.3f} | "
            f"{t['weighted_f1']:.3f} | {_fmt(t.get('ece_uncalibrated'))} → {_fmt(t.get('ece'))} | {t.get('temperature', 1.0):.2f} |"
        )
    lines.append("")
    if result.baseline:
        lines += [f"## Against the baseline ({result.baseline['source']})", "",
                  "| metric | this | baseline | delta | p (paired bootstrap) |", "| --- | --- | --- | --- | --- |"]
        for name, d in result.baseline["deltas"].items():
            p = d.get("p_value")
            lines.append(f"| {name} | {d['value']:.3f} | {d['baseline']:.3f} | {d['delta']:+.3f} | {_fmt(p) if p is not None else ''} |")
        lines.append("")
        for task, share in result.baseline.get("agreement", {}).items():
            lines.append(f"- {task}: {share:.2%} of the labels equal the baseline's")
        if result.baseline.get("agreement"):
            lines.append("")
    for task, t in m["tasks"].items():
        lines += [f"## {task}", "", "| label | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
        for label, s in t["per_label"].items():
            lines.append(f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |")
        labels, matrix = t["confusion"]["labels"], t["confusion"]["matrix"]
        lines += ["", "Confusion (rows gold, columns predicted):", "",
                  "| gold \\ pred | " + " | ".join(labels) + " |", "| --- |" + " --- |" * len(labels)]
        for lab, row in zip(labels, matrix):
            lines.append(f"| {lab} | " + " | ".join(map(str, row)) + " |")
        lines.append("")
        for field, groups in t.get("slices", {}).items():
            lines += [f"By `{field}`:", "", "| value | n | accuracy | macro-F1 |", "| --- | --- | --- | --- |"]
            for value, s in groups.items():
                lines.append(f"| {value} | {s['n']} | {s['accuracy']:.3f} | {s['macro_f1']:.3f} |")
            lines.append("")
    lines += ["## Worst confusions", "", "| task | gold | predicted | count |", "| --- | --- | --- | --- |"]
    lines += [f"| {t} | {g} | {p} | {n} |" for t, g, p, n in worst_confusions(result)]
    lines += ["", "## The 20 most confident errors", "", "| task | gold | predicted | p | text |", "| --- | --- | --- | --- | --- |"]
    for e in most_confident_errors(result):
        text = e["text"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {e['task']} | {e['gold']} | {e['pred']} | {e['confidence']:.2f} | {text} |")
    lines.append("")
    return "\n".join(lines)


def junit(result: EvalResult, gates: list[GateResult]) -> str:
    failures = sum(not g.passed for g in gates)
    suite = ET.Element("testsuite", name="stance-eval", tests=str(len(gates)), failures=str(failures), errors="0")
    for g in gates:
        case = ET.SubElement(suite, "testcase", classname="stance.gates", name=f"{g.gate.kind}:{g.gate.name}")
        if not g.passed:
            ET.SubElement(case, "failure", message=g.message, type="GateFailed").text = g.message
    root = ET.Element("testsuites", tests=str(len(gates)), failures=str(failures))
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _plots(result: EvalResult, directory: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for task, t in result.metrics["tasks"].items():
        labels, matrix = t["confusion"]["labels"], np.array(t["confusion"]["matrix"])
        fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2.5, 1.0 * len(labels) + 2))
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                        color="white" if matrix[i, j] > matrix.max() / 2 else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        ax.set_title(f"{task}: confusion (macro-F1 {t['macro_f1']:.3f})")
        fig.tight_layout()
        name = f"confusion_{task}.png"
        fig.savefig(directory / name, dpi=110)
        plt.close(fig)
        written.append(name)

        fig, ax = plt.subplots(figsize=(4.8, 4.4))
        ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="perfect")
        for key, style, label in (("reliability_uncalibrated", "o-", "uncalibrated"), ("reliability", "s-", "calibrated")):
            bins = [b for b in t.get(key, []) if b["count"]]
            if bins:
                ece = t.get("ece_uncalibrated" if key.endswith("uncalibrated") else "ece")
                ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], style, ms=4,
                        label=f"{label} (ECE {_fmt(ece)})")
        ax.set_xlabel("confidence of the predicted label")
        ax.set_ylabel("accuracy")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{task}: reliability")
        ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        name = f"reliability_{task}.png"
        fig.savefig(directory / name, dpi=110)
        plt.close(fig)
        written.append(name)
    return written


def write_reports(result: EvalResult, gates: list[GateResult], directory: str | Path, *, plots: bool = True) -> list[str]:
    """Write every report into ``directory``; return the file names written."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    metrics = dict(result.metrics)
    if result.baseline:
        metrics["baseline"] = result.baseline
    metrics["gates"] = [
        {"name": g.gate.name, "kind": g.gate.kind, "threshold": g.gate.threshold, "value": g.value, "passed": g.passed}
        for g in gates
    ]
    (d / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    report = markdown(result, gates)
    (d / "report.md").write_text(report, encoding="utf-8")
    (d / "junit.xml").write_text(junit(result, gates), encoding="utf-8")
    with (d / "predictions.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(len(result.rows)):
            fh.write(json.dumps({t: result.predictions[t][i] for t in result.predictions}) + "\n")
    written = ["metrics.json", "report.md", "junit.xml", "predictions.jsonl"]
    if plots:
        written += _plots(result, d)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(report + "\n")
    return written


def write_errors(result: EvalResult, path: str | Path) -> int:
    """Every misclassified row (any task) with gold, predicted and probabilities, as JSONL."""
    n = 0
    with Path(path).open("w", encoding="utf-8") as fh:
        for i, row in enumerate(result.rows):
            wrong = [t for t in result.predictions if result.gold[t][i] is not None and result.gold[t][i] != result.predictions[t][i]]
            if not wrong:
                continue
            record = {k: v for k, v in row.items() if k != "_where"}
            record["where"] = row.get("_where")
            record["wrong"] = wrong
            for t in result.predictions:
                labels = result.metrics["tasks"][t]["confusion"]["labels"]
                record[f"{t}_pred"] = result.predictions[t][i]
                record[f"{t}_probs"] = {lab: round(float(p), 4) for lab, p in zip(labels, result.probs[t][i])}
            fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            n += 1
    return n
