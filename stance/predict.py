"""Batched sentence prediction shared by every backend.

Texts are tokenized in one call with the fast tokenizer, sorted by token length, cut into
batches padded only to the longest sentence of each batch, run through the backend, and put
back in input order. Backends only map padded id arrays to logits per task:

* ``torch``: :class:`~stance.network.MultiTaskModel` under ``torch.inference_mode``;
* ``onnx``: one ONNX Runtime session (fp32 or int8), without importing torch;
* a pool of worker processes, each with its own backend (:mod:`stance.workers`).

A model with a lexical component (:mod:`stance.lexical`) has its TF-IDF classifier run here,
in this process, while the backend runs the batches; the two are mixed into the returned
scores.

Batches are formed the same way whatever runs them, so the labels do not depend on the
number of workers (int8 activations are quantized per batch: batch composition matters).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from stance.errors import ModelError
from stance.lexical import LexicalModel, mix
from stance.modeldir import ONNX_WEIGHTS, TOKENIZER_NAME, ModelConfig

log = logging.getLogger("stance")


@dataclass(frozen=True)
class TaskPrediction:
    """The label of one task for one text, its probability, and the full distribution."""

    label: str
    score: float
    probs: dict[str, float]


Batch = tuple[np.ndarray, np.ndarray]  # input ids, attention mask: (n, width) int64 each


class Backend(Protocol):
    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]: ...

    def map(self, batches: Sequence[Batch]) -> list[dict[str, np.ndarray]]: ...

    def submit(self, batches: Sequence[Batch]) -> Callable[[], list[dict[str, np.ndarray]]]: ...


class InProcess:
    """Runs batches one after another in this process."""

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def map(self, batches: Sequence[Batch]) -> list[dict[str, np.ndarray]]:
        return [self.logits(ids, mask) for ids, mask in batches]

    def submit(self, batches: Sequence[Batch]) -> Callable[[], list[dict[str, np.ndarray]]]:
        """Compute now (there is no one else to do it); the result is handed back on call."""
        done = self.map(batches)
        return lambda: done

    def close(self) -> None:
        """Nothing to release: the backend lives in this process."""


def default_threads() -> int:
    """Intra-op threads: STANCE_THREADS, else the CPUs this process may use."""
    env = os.environ.get("STANCE_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# What ``precision`` may name, and the torch dtype each casts the model to. bf16 halves the
# work on CPUs with native bfloat16 products (AMX, AVX512-BF16) and on recent GPUs; elsewhere
# torch emulates it, slowly. fp16 is for GPUs.
PRECISIONS = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


class TorchBackend(InProcess):
    def __init__(
        self,
        directory: Path,
        config: ModelConfig,
        threads: int | None = None,
        *,
        device: str | None = None,
        precision: str | None = None,
    ) -> None:
        import torch

        from stance.network import MultiTaskModel

        target = torch_device(device or "cpu")
        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        self.model = MultiTaskModel.load(directory, config)
        self.model.to(device=target, dtype=getattr(torch, PRECISIONS[precision or "fp32"]))

    @classmethod
    def from_module(cls, model: Any) -> TorchBackend:
        import torch

        self = cls.__new__(cls)
        self._torch = torch
        self.model = model
        return self

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        torch = self._torch
        was_training = self.model.training
        self.model.eval()
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            out = self.model(
                input_ids=torch.from_numpy(input_ids).to(device),
                attention_mask=torch.from_numpy(attention_mask).to(device),
            )
        if was_training:
            self.model.train()
        return {k: v.float().cpu().numpy() for k, v in out["logits"].items()}


# ONNX Runtime fuses Add + LayerNormalization into SkipLayerNormalization, whose CPU kernel
# took 8.7 ns per element against 1.0 for LayerNormalization here (onnxruntime 1.32, Xeon
# with AVX-512): without the fusion the shipped int8 model ran 1.15x faster, 99.95% of its
# labels unchanged (float rounding). Measured by benchmarks/onnx_fusions.py.
SLOW_FUSIONS = ["SkipLayerNormFusion"]


class OnnxBackend(InProcess):
    def __init__(self, directory: Path, config: ModelConfig, threads: int | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelError("the ONNX model needs onnxruntime: pip install onnxruntime") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or default_threads()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(
                str(directory / ONNX_WEIGHTS),
                sess_options=opts,
                providers=["CPUExecutionProvider"],
                disabled_optimizers=SLOW_FUSIONS,
            )
        except Exception as exc:
            raise ModelError(f"{directory / ONNX_WEIGHTS}: cannot load ONNX model ({exc})") from None
        self.tasks = config.scheme.names
        names = {o.name for o in self.session.get_outputs()}
        missing = [t for t in self.tasks if t not in names]
        if missing:
            raise ModelError(f"{directory / ONNX_WEIGHTS}: graph lacks outputs for tasks {missing}")

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        outs = self.session.run(self.tasks, {"input_ids": input_ids, "attention_mask": attention_mask})
        return dict(zip(self.tasks, outs, strict=False))


def torch_device(name: str) -> Any:
    """``torch.device(name)``, checked: a ModelError names a device this machine lacks."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ModelError(f"unknown device {name!r} (cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelError(f"device {name!r}: no CUDA device is usable by this torch build ({torch.__version__})")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ModelError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ModelError(f"device {name!r}: MPS is not available on this machine")
    return device


def cpu_has_native_bf16() -> bool | None:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); None where unknown.

    Read from ``/proc/cpuinfo``, so that the check needs no torch import (Linux only).
    """
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), None)
    if flags is None:
        return None
    return "avx512_bf16" in flags or "amx_bf16" in flags


def warn_if_slow(config: ModelConfig, *, device: str | None, precision: str | None) -> None:
    """Warn (once, from the loading process) when bf16 is asked of a CPU that emulates it."""
    on_cpu = (device or "cpu") == "cpu"
    if config.backend == "torch" and on_cpu and precision == "bf16" and cpu_has_native_bf16() is False:
        log.warning("this CPU has no native bfloat16 products (no AVX512-BF16 or AMX): bf16 will run slower than fp32")


def check_options(directory: Path, config: ModelConfig, *, device: str | None, precision: str | None) -> None:
    """Refuse a device or precision that the model's backend cannot honour."""
    if precision is not None and precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r} ({', '.join(PRECISIONS)})")
    on_cpu = (device or "cpu") == "cpu"
    if config.backend == "onnx" and (not on_cpu or precision is not None):
        raise ModelError(
            f"{directory}: an ONNX model runs on the CPU in the precision it was exported in; "
            "device and precision apply to torch model directories"
        )


def make_backend(
    directory: Path,
    config: ModelConfig,
    threads: int | None = None,
    *,
    device: str | None = None,
    precision: str | None = None,
) -> InProcess:
    """The in-process backend for what the model directory holds.

    ``device`` and ``precision`` (torch models only) move and cast the model: ``"cuda"``,
    ``"bf16"`` and so on; None keeps the CPU and float32.
    """
    check_options(directory, config, device=device, precision=precision)
    if config.backend == "onnx":
        return OnnxBackend(directory, config, threads)
    if config.backend == "torch":
        return TorchBackend(directory, config, threads, device=device, precision=precision)
    raise ModelError(f"{directory}: unknown backend {config.backend!r}")


def pad_batch(sequences: Sequence[list[int]], pad_id: int = 0) -> Batch:
    """Token id lists -> (ids, attention mask), padded to the longest sequence."""
    width = max(len(seq) for seq in sequences)
    input_ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(sequences), width), dtype=np.int64)
    for row, seq in enumerate(sequences):
        input_ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return input_ids, mask


def load_tokenizer(directory: Path, max_length: int) -> Any:
    from tokenizers import Tokenizer

    path = directory / TOKENIZER_NAME
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:
        raise ModelError(f"{path}: unreadable tokenizer ({exc})") from None
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    return tok


def softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


class Predictor:
    """Turns texts into per-task probabilities with length-sorted, dynamically padded batches."""

    def __init__(
        self,
        config: ModelConfig,
        tokenizer: Any,
        backend: Backend,
        batch_size: int = 64,
        lexical: LexicalModel | None = None,
    ):
        if batch_size < 1:
            raise ModelError(f"batch size must be at least 1, got {batch_size}")
        self.config = config
        self.tokenizer = tokenizer
        self.backend = backend
        self.batch_size = batch_size
        self.lexical = lexical  # mixed in for the tasks that config.lexical weights

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        # encode_batch_fast (tokenizers >= 0.20) skips the character offsets, which labelling
        # does not use: the same ids, 11% less tokenizer time here
        encode = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)
        return [e.ids for e in encode(list(texts))]

    def probabilities(self, texts: Sequence[str], *, calibrated: bool = True) -> dict[str, np.ndarray]:
        """``{task: array (len(texts), n_labels)}`` of probabilities, in input order."""
        return self.start(texts, calibrated=calibrated)()

    def start(self, texts: Sequence[str], *, calibrated: bool = True) -> Callable[[], dict[str, np.ndarray]]:
        """Start computing :meth:`probabilities`; the returned function waits for them.

        With worker processes the caller can prepare the next texts meanwhile; in-process
        backends compute before returning.
        """
        pending = self._start_logits(texts)

        def finish() -> dict[str, np.ndarray]:
            out = {}
            for task, values in pending().items():
                t = self.config.temperature(task) if calibrated else 1.0
                out[task] = softmax(values / t)
            return out

        return finish

    def logits(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self._start_logits(texts)()

    def _start_logits(self, texts: Sequence[str]) -> Callable[[], dict[str, np.ndarray]]:
        n = len(texts)
        tasks = self.config.scheme.tasks
        result = {t.name: np.zeros((n, len(t.labels)), dtype=np.float32) for t in tasks}
        if n == 0:
            return lambda: result
        ids = self.encode(texts)
        order = sorted(range(n), key=lambda i: (-len(ids[i]), i))
        pad = self.config.pad_token_id
        groups, batches = [], []
        for b in range(0, n, self.batch_size):
            idx = order[b : b + self.batch_size]
            groups.append(idx)
            batches.append(pad_batch([ids[i] for i in idx], pad))
        running = self.backend.submit(batches)
        lexical = self._lexical_logits(texts)  # meanwhile, if workers run the batches

        def finish() -> dict[str, np.ndarray]:
            for idx, batch_logits in zip(groups, running(), strict=True):
                for task, values in batch_logits.items():
                    result[task][idx] = values
            return self._mix(result, lexical)

        return finish

    def mix_lexical(self, texts: Sequence[str], encoder_logits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The logits :meth:`logits` gives, from the encoder's alone for the same texts."""
        return self._mix(dict(encoder_logits), self._lexical_logits(texts))

    def _lexical_logits(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        if self.lexical is None or not self.config.lexical:
            return {}
        return self.lexical.logits(texts)

    def _mix(self, logits: dict[str, np.ndarray], lexical: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if lexical:
            for task, weight in self.config.lexical.items():
                logits[task] = mix(logits[task], lexical[task], weight)
        return logits

    def predict(self, texts: Sequence[str]) -> list[dict[str, TaskPrediction]]:
        probs = self.probabilities(texts)
        out: list[dict[str, TaskPrediction]] = []
        for i in range(len(texts)):
            item = {}
            for task in self.config.scheme.tasks:
                p = probs[task.name][i]
                k = int(p.argmax())
                item[task.name] = TaskPrediction(
                    task.labels[k], float(p[k]), {lab: float(v) for lab, v in zip(task.labels, p, strict=False)}
                )
            out.append(item)
        return out
