"""The model card (README.md of a model directory), written from the run's own figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stance.modeldir import ModelConfig
from training.config import TrainConfig


def _task_table(split_metrics: dict[str, Any]) -> list[str]:
    lines = []
    for task, m in split_metrics["tasks"].items():
        ci = m.get("macro_f1_ci")
        ci_txt = f" (95% CI {ci[0]:.3f}-{ci[1]:.3f})" if ci else ""
        lines += [
            f"**{task}**: macro-F1 {m['macro_f1']:.3f}{ci_txt}, accuracy {m['accuracy']:.3f}, "
            f"ECE {m.get('ece', float('nan')):.3f}, n = {m['n']}",
            "",
            "| label | precision | recall | F1 | support |",
            "| --- | --- | --- | --- | --- |",
        ]
        for label, s in m["per_label"].items():
            lines.append(f"| {label} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |")
        lines.append("")
    return lines


def _distillation_lines(config: TrainConfig, metrics: dict[str, Any]) -> list[str]:
    """What the card says of the encoder's depth and of the teacher, if any."""
    lines = [f"- encoder layers: the first {config.model.layers} of the base"] if config.model.layers else []
    d = config.distill
    if not d.teacher:
        return lines
    lines.append(f"- distilled from `{d.teacher}` (weight {d.weight}, temperature {d.temperature})")
    try:
        teacher = json.loads((Path(d.teacher) / "metrics.json").read_text(encoding="utf-8"))
        total = (teacher["train_seconds"] + metrics.get("train_seconds", 0)) / 60
        lines.append(f"- the teacher trained in {teacher['train_seconds'] / 60:.1f} min: {total:.1f} min with this run")
    except (OSError, ValueError, KeyError):
        pass  # a teacher without its training record: nothing to add
    return lines


def _lexical_lines(metrics: dict[str, Any]) -> list[str]:
    """What the card says of the lexical component (TF-IDF + logistic regression), if fitted."""
    lexical = metrics.get("lexical")
    if not lexical or "tasks" not in lexical:
        return []
    parts = [
        f"{task} weight {c['weight']:.1f} (dev macro-F1 {c['dev_macro_f1_without']:.3f} -> {c['dev_macro_f1']:.3f})"
        for task, c in lexical["tasks"].items()
    ]
    return [
        f"- lexical component: a word 1-2-gram TF-IDF ({lexical['features']} n-grams) and a logistic "
        "regression per task, fitted on train; its log-probabilities are mixed with the encoder's "
        "at the weight chosen on dev: " + "; ".join(parts)
    ]


def write_card(directory: Path, model_config: ModelConfig, config: TrainConfig, metrics: dict[str, Any]) -> None:
    scheme = model_config.scheme
    t = config.training
    lines = [
        f"# stance model: {', '.join(scheme.names)}",
        "",
        "A sentence classifier for trade coverage: one shared transformer encoder "
        f"(`{model_config.base_model}`, {model_config.pooling} pooling, max {model_config.max_length} tokens) "
        "with one linear head per task, trained with `stance train`"
        + (", and a TF-IDF + logistic regression per task mixed into its scores (see Training)." if model_config.lexical else "."),
        "",
        "## Intended use",
        "",
        "Label sentences of news and commentary about trade between countries (tariffs, export "
        "controls, sanctions, negotiations) with `stance label` or `stance.load(DIR).predict(...)`. "
        "Not for other domains, for judging truth, or for decisions about people.",
        "",
        "## Label scheme",
        "",
    ]
    for task in scheme:
        lines.append(f"- `{task.name}`: " + ", ".join(f"`{lab}`" for lab in task.labels))
    lines += [
        "",
        "## Training",
        "",
        f"- data: `{config.data.train}` (train), `{config.data.dev}` (dev), `{config.data.test}` (test)",
        f"- recipe: {t.epochs} epochs max, lr {t.lr}, batch {t.batch_size}, warm-up {t.warmup_ratio}, "
        f"weight decay {t.weight_decay}, class weighting `{t.class_weighting}`, patience {t.patience}, seed {t.seed}"
        + (", bf16 autocast" if t.bf16 else "") + (", token embeddings frozen" if t.freeze_embeddings else ""),
        f"- best epoch (dev {metrics.get('primary_metric', 'mean_macro_f1')}): {metrics.get('best_epoch')}",
        f"- training time: {metrics.get('train_seconds', 0) / 60:.1f} min on {metrics.get('world_size', 1)} process(es)"
        f" ({model_config.versions.get('torch', '?')} torch, python {model_config.versions.get('python', '?')})",
        *_distillation_lines(config, metrics),
        *_lexical_lines(metrics),
        "- temperatures (fitted on dev): "
        + (", ".join(f"{k} {v}" for k, v in model_config.temperatures.items()) or "none"),
        "",
    ]
    for split in ("dev", "test"):
        if split in metrics:
            lines += [f"## Metrics: {split}", "", f"Mean macro-F1 {metrics[split]['mean_macro_f1']:.3f}.", ""]
            lines += _task_table(metrics[split])
    if "ece_before_calibration" in metrics:
        lines += [
            "ECE on dev before temperature scaling: "
            + ", ".join(f"{k} {v:.3f}" for k, v in metrics["ece_before_calibration"].items() if v is not None),
            "",
        ]
    lines += [
        "## Limitations",
        "",
        "- Trained on sentences written for the project in the voices of real outlets, not on real "
        "published articles; real coverage is messier, and scores on it are expected to be lower.",
        "- English only; sentences are judged one at a time, without the article's context.",
        "- Stance is the direction of the trade conflict a sentence reports, not the author's approval.",
        "",
    ]
    (directory / "README.md").write_text("\n".join(lines), encoding="utf-8")
