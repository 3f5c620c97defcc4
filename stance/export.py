"""Export a torch model directory to ONNX (fp32, or int8 with dynamic quantization).

The exported directory is a complete model directory (config, tokenizer, card, metrics)
whose ``config.json`` points at ``model.onnx``: ``stance.load`` and ``stance label --model``
use it directly, through ONNX Runtime, without importing torch. All task heads sit in one
graph with one output per task, named after the task.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from stance.errors import ModelError, UsageError
from stance.modeldir import ONNX_WEIGHTS, TORCH_WEIGHTS, read_config

COPIED = ("README.md", "metrics.json", "training_config.json")


def export_onnx(model_dir: str | Path, output: str | Path, *, quantize: str | None = None, opset: int = 17) -> Path:
    """Write an ONNX model directory at ``output`` from the torch model at ``model_dir``."""
    import torch

    from stance.network import TOKENIZER_FILES, MultiTaskModel

    src, out = Path(model_dir), Path(output)
    config = read_config(src)
    if config.backend != "torch":
        raise UsageError(f"{src}: already an ONNX model; export from the torch model directory")
    if quantize not in (None, "int8"):
        raise UsageError(f"--quantize {quantize!r}: only int8 is supported")
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"{out}: exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    model = MultiTaskModel.load(src, config)
    tasks = config.scheme.names

    class Graph(torch.nn.Module):
        def __init__(self, inner: MultiTaskModel) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):  # type: ignore[override]
            logits = self.inner(input_ids=input_ids, attention_mask=attention_mask)["logits"]
            return tuple(logits[t] for t in tasks)

    dummy_ids = torch.ones((2, 8), dtype=torch.long)
    dummy_mask = torch.ones((2, 8), dtype=torch.long)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / ONNX_WEIGHTS
        try:
            torch.onnx.export(
                Graph(model).eval(),
                (dummy_ids, dummy_mask),
                str(fp32),
                input_names=["input_ids", "attention_mask"],
                output_names=tasks,
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    **{t: {0: "batch"} for t in tasks},
                },
                opset_version=opset,
                dynamo=False,
            )
        except Exception as exc:  # exporter failures are model problems, reported in one line
            raise ModelError(f"ONNX export failed: {exc}") from None
        if quantize == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # per-channel weight scales: measured 96.6% (stance) and 98.6% (claim type) label agreement
            # with fp32 on data/test.jsonl, against 90.9% and 96.6% with per-tensor scales, same size
            quantize_dynamic(str(fp32), str(out / ONNX_WEIGHTS), weight_type=QuantType.QInt8, per_channel=True)
        else:
            shutil.copyfile(fp32, out / ONNX_WEIGHTS)
    for name in (*TOKENIZER_FILES, *COPIED):
        if (src / name).exists():
            shutil.copyfile(src / name, out / name)
    new = replace(config, weights=ONNX_WEIGHTS, quantization=quantize)
    new.extra = {**config.extra, "exported_from": str(src), "source_weights": TORCH_WEIGHTS}
    new.save(out)
    return out


def parity(torch_dir: str | Path, onnx_dir: str | Path, texts: list[str]) -> dict[str, float]:
    """Share of texts whose labels agree between two model directories, per task."""
    import stance

    a, b = stance.load(torch_dir), stance.load(onnx_dir)
    pa, pb = a.predict_proba(texts), b.predict_proba(texts)
    return {t: float((pa[t].argmax(1) == pb[t].argmax(1)).mean()) for t in a.tasks}
