"""The multi-task network: one shared transformer encoder, one linear head per task.

Imported only by the torch backend, training and export; the ONNX path never imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from stance.errors import ModelError
from stance.modeldir import TORCH_WEIGHTS, ModelConfig


def build_encoder(encoder_config: dict[str, Any]) -> nn.Module:
    """Build a randomly initialised encoder from its transformers config (no remote code)."""
    from transformers import AutoConfig, AutoModel

    cfg = dict(encoder_config)
    model_type = cfg.pop("model_type", None)
    if not model_type:
        raise ModelError("model config lacks encoder.model_type")
    config = AutoConfig.for_model(model_type, **cfg)
    try:
        return AutoModel.from_config(config, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_config(config)


def load_pretrained_encoder(name_or_path: str, layers: int = 0) -> tuple[nn.Module, dict[str, Any]]:
    """Load a pretrained encoder (HF id or local path) and its config dict, without remote code.

    ``layers``: keep only the first N transformer layers (0: all of them).
    """
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(name_or_path, trust_remote_code=False)
        if layers:
            if not hasattr(config, "num_hidden_layers"):
                raise ModelError(f"{name_or_path}: its config has no num_hidden_layers; model.layers cannot apply")
            if layers > config.num_hidden_layers:
                raise ModelError(f"model.layers = {layers}: {name_or_path} has only {config.num_hidden_layers} layers")
            config.num_hidden_layers = layers
        try:
            model = AutoModel.from_pretrained(
                name_or_path, config=config, add_pooling_layer=False, trust_remote_code=False
            )
        except TypeError:
            model = AutoModel.from_pretrained(name_or_path, config=config, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load base model {name_or_path!r}: {exc}") from None
    return model, encoder_config_dict(config)


def encoder_config_dict(config: Any) -> dict[str, Any]:
    data = config.to_dict()
    for key in ("_name_or_path", "transformers_version", "architectures", "id2label", "label2id"):
        data.pop(key, None)
    data["model_type"] = config.model_type
    return data


class MultiTaskModel(nn.Module):
    """Shared encoder, mean (or CLS) pooling, dropout and one linear head per task."""

    def __init__(self, encoder: nn.Module, config: ModelConfig, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config
        hidden = int(config.encoder.get("hidden_size") or config.encoder.get("dim") or 0)
        if hidden <= 0:
            raise ModelError("encoder config lacks hidden_size")
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict(
            {task.name: nn.Linear(hidden, len(task.labels)) for task in config.scheme}
        )
        self.task_weights: dict[str, float] = {}
        self.class_weights: dict[str, torch.Tensor] = {}
        # knowledge distillation (training only): (weight of the teacher term, temperature)
        self.distillation: tuple[float, float] | None = None

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.config.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        teacher_logits: torch.Tensor | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        pooled = self.dropout(self.pool(out.last_hidden_state, attention_mask))
        logits = {name: head(pooled) for name, head in self.heads.items()}
        result: dict[str, Any] = {"logits": logits}
        if labels is not None:
            result["loss"] = self.loss(logits, labels, teacher_logits)
        return result

    def loss(
        self, logits: dict[str, torch.Tensor], labels: torch.Tensor, teacher_logits: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Weighted sum of per-task losses; ``labels[:, i]`` is task i, -100 = missing.

        A task's loss is its cross-entropy with the labels; with :attr:`distillation` set to
        ``(w, T)`` and ``teacher_logits`` given (the tasks' logits side by side, in task
        order), it is ``(1 - w) * cross-entropy + w * T^2 * KL(teacher || student)`` on the
        logits divided by ``T`` (Hinton et al. 2015).
        """
        total = logits[next(iter(logits))].new_zeros(())
        offset = 0
        for i, (name, task_logits) in enumerate(logits.items()):
            weight = self.class_weights.get(name)
            loss = nn.functional.cross_entropy(
                task_logits,
                labels[:, i],
                weight=weight.to(task_logits.device) if weight is not None else None,
                ignore_index=-100,
            )
            if torch.isnan(loss):  # every label of this task missing in the batch
                loss = task_logits.new_zeros(())
            width = task_logits.shape[-1]
            if self.distillation is not None and teacher_logits is not None:
                w, t = self.distillation
                teacher = teacher_logits[:, offset : offset + width].to(task_logits.dtype)
                kl = nn.functional.kl_div(
                    nn.functional.log_softmax(task_logits / t, dim=-1),
                    nn.functional.log_softmax(teacher / t, dim=-1),
                    reduction="batchmean",
                    log_target=True,
                )
                loss = (1 - w) * loss + w * t * t * kl
            offset += width
            total = total + self.task_weights.get(name, 1.0) * loss
        return total

    def save(self, directory: Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(directory / TORCH_WEIGHTS), metadata={"format": "pt"})

    @classmethod
    def load(cls, directory: Path, config: ModelConfig) -> MultiTaskModel:
        from safetensors.torch import load_file

        model = cls(build_encoder(config.encoder), config)
        try:
            state = load_file(str(directory / TORCH_WEIGHTS))
        except Exception as exc:
            raise ModelError(f"{directory / TORCH_WEIGHTS}: unreadable weights ({exc})") from None
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("position_ids")]
        if missing or unexpected:
            raise ModelError(
                f"{directory / TORCH_WEIGHTS}: weights do not match config.json "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
        model.eval()
        return model


TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "merges.txt",
    "vocab.json",
    "sentencepiece.bpe.model",
    "spiece.model",
)


def save_model(model: MultiTaskModel, directory: Path, tokenizer_dir: Path) -> None:
    """Write ``config.json``, ``model.safetensors`` and the tokenizer files into ``directory``."""
    import shutil

    directory.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        src = tokenizer_dir / name
        if src.exists() and src.resolve() != (directory / name).resolve():
            shutil.copyfile(src, directory / name)
    if not (directory / "tokenizer.json").exists():
        raise ModelError(f"{tokenizer_dir}: no tokenizer.json (a fast tokenizer is required)")
    model.config.save(directory)
    model.save(directory)
