"""The Python API: ``stance.load()`` and the :class:`StanceModel` it returns."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from stance.errors import ModelError
from stance.lexical import LexicalModel
from stance.modeldir import ModelConfig, read_config
from stance.predict import (
    Predictor,
    TaskPrediction,
    check_options,
    default_threads,
    load_tokenizer,
    make_backend,
    warn_if_slow,
)
from stance.scheme import Scheme

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "default"
# Sentences per forward pass. ONNX Runtime on a CPU is fastest with small batches
# (benchmarks/throughput.py: 16 beats 64 by ~10%); torch prefers larger ones.
DEFAULT_BATCH_SIZE = {"onnx": 16, "torch": 64}


def default_model_path() -> Path:
    """Where the shipped default model lives inside the installed package."""
    return DEFAULT_MODEL_DIR


class StanceModel:
    """A loaded model: ``predict`` labels sentences, ``label_documents`` labels whole articles."""

    def __init__(self, path: Path, config: ModelConfig, predictor: Predictor) -> None:
        self.path = path
        self.config = config
        self.predictor = predictor

    @property
    def scheme(self) -> Scheme:
        return self.config.scheme

    @property
    def tasks(self) -> list[str]:
        return self.config.scheme.names

    @property
    def backend(self) -> str:
        return self.config.backend

    @property
    def batch_size(self) -> int:
        return self.predictor.batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        if value < 1:
            raise ValueError(f"batch size must be at least 1, got {value}")
        self.predictor.batch_size = value

    def predict(self, texts: Sequence[str]) -> list[dict[str, TaskPrediction]]:
        """Label each text (one sentence each): ``[{task: TaskPrediction(label, score, probs)}]``.

        >>> model = stance.load()                                   # doctest: +SKIP
        >>> model.predict(["Beijing imposed duties on US pork."])[0]["stance"].label  # doctest: +SKIP
        'escalation'
        """
        if isinstance(texts, str):
            raise TypeError("predict() takes a list of texts; wrap a single text in a list")
        return self.predictor.predict(list(texts))

    def predict_proba(self, texts: Sequence[str], *, calibrated: bool = True) -> dict[str, Any]:
        """``{task: numpy array (n_texts, n_labels)}``, label order as in ``scheme[task].labels``."""
        return self.predictor.probabilities(list(texts), calibrated=calibrated)

    def label_documents(
        self, documents: Iterable[Any], *, split: bool = True, probs: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Label whole articles into sentence rows; see :func:`stance.label.label_documents`."""
        from stance.label import label_documents

        return label_documents(self, documents, split=split, probs=probs)

    @property
    def workers(self) -> int:
        return int(getattr(self.predictor.backend, "workers", 1))

    def close(self) -> None:
        """Stop worker processes, if any (the model is unusable afterwards)."""
        self.predictor.backend.close()

    def __enter__(self) -> StanceModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        tasks = ", ".join(f"{t.name}[{len(t.labels)}]" for t in self.scheme)
        return f"StanceModel({str(self.path)!r}, backend={self.backend!r}, tasks={tasks})"


def load(
    path: str | Path | None = None,
    *,
    backend: str = "auto",
    batch_size: int | None = None,
    threads: int | None = None,
    workers: int = 1,
    device: str | None = None,
    precision: str | None = None,
) -> StanceModel:
    """Load a model directory, or the shipped default model when ``path`` is None.

    ``backend``: ``"auto"`` (what the directory holds: ONNX if ``model.onnx``, else torch),
    ``"torch"`` or ``"onnx"``. ``batch_size``: sentences per forward pass (default 16 for
    ONNX, 64 for torch). ``threads``: intra-op threads in all (default: all usable CPUs,
    or the ``STANCE_THREADS`` environment variable). ``workers``: processes that run the
    batches (default 1, this process); with more, each gets ``threads // workers``
    threads, and the model must be closed (``with stance.load(...) as model:``).
    ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) and ``precision``
    (``"fp32"``, ``"bf16"``, ``"fp16"``) apply to torch models [default: the CPU in fp32];
    an ONNX model runs on the CPU as exported.
    """
    if path is None:
        directory = DEFAULT_MODEL_DIR
        if not (directory / "config.json").exists():
            raise ModelError(
                f"the shipped default model is missing from this install ({directory}); "
                "reinstall stance or pass --model DIR"
            )
    else:
        directory = Path(path)
    config = read_config(directory)
    wanted = config.backend if backend == "auto" else backend
    if wanted not in ("torch", "onnx"):
        raise ModelError(f"unknown backend {backend!r} (auto, torch or onnx)")
    if wanted != config.backend:
        raise ModelError(
            f"{directory}: holds a {config.backend} model, not {wanted} "
            f"(use `stance export` to make an ONNX model)"
        )
    if workers < 1:
        raise ModelError(f"workers must be at least 1, got {workers}")
    warn_if_slow(config, device=device, precision=precision)
    tokenizer = load_tokenizer(directory, config.max_length)
    lexical = LexicalModel.load(directory, config.lexical) if config.lexical else None
    if workers > 1:
        from stance.workers import WorkerPool

        check_options(directory, config, device=device, precision=precision)  # before any worker starts
        per_worker = max(1, (threads or default_threads()) // workers)
        options = {"device": device, "precision": precision}
        engine: Any = WorkerPool(directory, workers=workers, threads=per_worker, **options)
    else:
        engine = make_backend(directory, config, threads, device=device, precision=precision)
    size = batch_size or DEFAULT_BATCH_SIZE[wanted]
    return StanceModel(directory, config, Predictor(config, tokenizer, engine, size, lexical))


def default_workers(path: str | Path | None = None) -> int:
    """Worker processes for ``stance label``: one per usable CPU for an ONNX model, else 1.

    The torch backend already uses every core well from one process.
    """
    directory = DEFAULT_MODEL_DIR if path is None else Path(path)
    try:
        onnx = read_config(directory).backend == "onnx"
    except ModelError:
        return 1  # load() reports the problem
    return default_threads() if onnx else 1
