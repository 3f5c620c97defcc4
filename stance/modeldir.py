"""The model directory: a few named files, no pickles, no code.

::

    config.json          tasks and labels (id2label derived), base model, max_length, pooling,
                         encoder architecture, temperatures, weights file, library versions
    model.safetensors    encoder and task-head weights (torch backend), or
    model.onnx           one ONNX graph with every task head (onnx backend, see ``stance export``)
    tokenizer.json       fast tokenizer (plus tokenizer_config.json and friends)
    lexical.json, lexical.safetensors
                         optional TF-IDF + logistic regression mixed into the scores
                         (``stance.lexical``; its weights per task are in config.json)
    metrics.json         dev and test metrics written by ``stance train``
    training_config.json the resolved training configuration
    README.md            the model card

Loading never runs code from the directory: the encoder is rebuilt from its architecture
name and hyper-parameters with ``transformers`` classes, then the tensors are read with
``safetensors``. Library versions are stamped at save and compared at load (a warning on a
major or minor mismatch).
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from stance.errors import ModelError
from stance.lexical import LEXICAL_JSON, LEXICAL_WEIGHTS
from stance.scheme import Scheme

log = logging.getLogger("stance")

CONFIG_NAME = "config.json"
TORCH_WEIGHTS = "model.safetensors"
ONNX_WEIGHTS = "model.onnx"
TOKENIZER_NAME = "tokenizer.json"
FORMAT_VERSION = 1
_STAMPED = ("stance", "torch", "transformers", "tokenizers", "onnxruntime")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _STAMPED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


@dataclass
class ModelConfig:
    """Everything needed to rebuild and run a model, stored as ``config.json``."""

    scheme: Scheme
    base_model: str
    max_length: int = 128  # tokens per sentence; longer sentences are truncated
    pooling: str = "mean"  # "mean" over tokens, or "cls"
    encoder: dict[str, Any] = field(default_factory=dict)  # transformers config of the encoder
    weights: str = TORCH_WEIGHTS  # model.safetensors or model.onnx
    quantization: str | None = None  # None, or "int8" for dynamically quantized ONNX
    pad_token_id: int = 0
    temperatures: dict[str, float] = field(default_factory=dict)  # per task, 1.0 if absent
    lexical: dict[str, float] = field(default_factory=dict)  # mixing weight per task; {}: no lexical part
    versions: dict[str, str] = field(default_factory=library_versions)
    extra: dict[str, Any] = field(default_factory=dict)  # free-form provenance

    @property
    def backend(self) -> str:
        return "onnx" if self.weights.endswith(".onnx") else "torch"

    def temperature(self, task: str) -> float:
        return float(self.temperatures.get(task, 1.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "tasks": self.scheme.to_mapping(),
            "id2label": self.scheme.id2label(),
            "base_model": self.base_model,
            "max_length": self.max_length,
            "pooling": self.pooling,
            "weights": self.weights,
            "quantization": self.quantization,
            "pad_token_id": self.pad_token_id,
            "temperatures": self.temperatures,
            "lexical": self.lexical,
            "encoder": self.encoder,
            "versions": self.versions,
            "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config.json") -> ModelConfig:
        try:
            scheme = Scheme.from_mapping(data["tasks"])
            return cls(
                scheme=scheme,
                base_model=data["base_model"],
                max_length=int(data.get("max_length", 128)),
                pooling=data.get("pooling", "mean"),
                encoder=data.get("encoder", {}),
                weights=data.get("weights", TORCH_WEIGHTS),
                quantization=data.get("quantization"),
                pad_token_id=int(data.get("pad_token_id", 0)),
                temperatures={k: float(v) for k, v in data.get("temperatures", {}).items()},
                lexical={k: float(v) for k, v in data.get("lexical", {}).items()},
                versions=data.get("versions", {}),
                extra=data.get("extra", {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{where}: not a stance model config ({exc!r})") from None

    def save(self, directory: Path) -> None:
        (directory / CONFIG_NAME).write_text(
            json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )


def read_config(directory: str | Path) -> ModelConfig:
    """Read and check a model directory's config; raise ModelError naming what is wrong."""
    directory = Path(directory)
    if not directory.exists():
        raise ModelError(f"{directory}: model directory not found")
    if not directory.is_dir():
        raise ModelError(f"{directory}: is a file; --model expects a model directory")
    path = directory / CONFIG_NAME
    if not path.exists():
        raise ModelError(f"{directory}: not a stance model directory (no {CONFIG_NAME})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable model config ({exc})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: unreadable model config (not a JSON object)")
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(
            f"{path}: model format {data['format_version']} is newer than this stance "
            f"(reads {FORMAT_VERSION}); upgrade stance"
        )
    config = ModelConfig.from_dict(data, str(path))
    lexical_files = (LEXICAL_JSON, LEXICAL_WEIGHTS) if config.lexical else ()
    for needed in (config.weights, TOKENIZER_NAME, *lexical_files):
        if not (directory / needed).exists():
            raise ModelError(f"{directory}: incomplete model directory, {needed} is missing")
    _check_versions(config.versions, path)
    return config


def _check_versions(saved: dict[str, str], where: Path) -> None:
    now = library_versions()
    for name in ("torch", "transformers", "tokenizers", "onnxruntime", "stance"):
        a, b = saved.get(name), now.get(name)
        if a and b and a.split(".")[:2] != b.split(".")[:2]:
            log.warning(
                "%s: saved with %s %s, running %s %s; predictions may differ slightly",
                where,
                name,
                a,
                name,
                b,
            )
