"""Why ``stance`` turns off ONNX Runtime's SkipLayerNormalization fusion, measured.

    python benchmarks/onnx_fusions.py [--model stance/models/default] [--sentences 2000] [--rounds 5]

1. Kernels: one LayerNormalization node against one SkipLayerNormalization node (the fused
   residual Add + LayerNormalization) on a (16, 25, 384) tensor, a batch of corpus-sized
   sentences of MiniLM: milliseconds per call and nanoseconds per element, single-threaded.
2. The model: the same ONNX model in two single-threaded sessions, one with ONNX Runtime's
   default fusions and one with ``stance.predict.SLOW_FUSIONS`` disabled (what ``stance``
   runs), timed in interleaved rounds over the same corpus sentences (batches of 16, as
   ``stance``), with the share of equal labels.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HIDDEN = 384


def kernel_model(op: str) -> bytes:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", HIDDEN])
    skip = helper.make_tensor_value_info("skip", TensorProto.FLOAT, ["b", "s", HIDDEN])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "s", HIDDEN])
    gamma = helper.make_tensor("gamma", TensorProto.FLOAT, [HIDDEN], np.ones(HIDDEN, np.float32))
    beta = helper.make_tensor("beta", TensorProto.FLOAT, [HIDDEN], np.zeros(HIDDEN, np.float32))
    if op == "LayerNormalization":
        node = helper.make_node(op, ["x", "gamma", "beta"], ["y"], axis=-1, epsilon=1e-12)
        inputs = [x]
    else:
        node = helper.make_node(op, ["x", "skip", "gamma", "beta"], ["y"], domain="com.microsoft", epsilon=1e-12)
        inputs = [x, skip]
    graph = helper.make_graph([node], op, inputs, [y], [gamma, beta])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def session(model: bytes | str, disabled: list[str]):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"], disabled_optimizers=disabled)


def kernels(calls: int = 500) -> None:
    x = np.random.default_rng(0).standard_normal((16, 25, HIDDEN)).astype(np.float32)
    print(f"{'kernel, (16, 25, 384) fp32':<36} {'ms/call':>8} {'ns/element':>11}")
    for op in ("LayerNormalization", "SkipLayerNormalization"):
        sess = session(kernel_model(op), [])
        feed = {"x": x} if op == "LayerNormalization" else {"x": x, "skip": x.copy()}
        for _ in range(20):
            sess.run(None, feed)
        t0 = time.perf_counter()
        for _ in range(calls):
            sess.run(None, feed)
        per_call = (time.perf_counter() - t0) / calls
        print(f"{op:<36} {per_call * 1e3:>8.3f} {per_call * 1e9 / x.size:>11.2f}")


def model_rounds(model_dir: Path, n: int, rounds: int) -> None:
    from benchmarks.throughput import corpus_sentences
    from stance.modeldir import ONNX_WEIGHTS, read_config
    from stance.predict import SLOW_FUSIONS, load_tokenizer, pad_batch

    config = read_config(model_dir)
    tokenizer = load_tokenizer(model_dir, config.max_length)
    ids = sorted((e.ids for e in tokenizer.encode_batch(corpus_sentences(n))), key=len)
    batches = [pad_batch(ids[i : i + 16], config.pad_token_id) for i in range(0, len(ids), 16)]
    task = config.scheme.names[0]
    variants = {"ONNX Runtime defaults": [], f"without {', '.join(SLOW_FUSIONS)} (stance)": SLOW_FUSIONS}
    sessions = {name: session(str(model_dir / ONNX_WEIGHTS), disabled) for name, disabled in variants.items()}

    def run(sess) -> np.ndarray:
        return np.concatenate([sess.run([task], {"input_ids": a, "attention_mask": m})[0] for a, m in batches])

    labels = {name: run(sess).argmax(1) for name, sess in sessions.items()}
    rates: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, sess in sessions.items():
            t0 = time.perf_counter()
            run(sess)
            rates[name].append(len(ids) / (time.perf_counter() - t0))
    first = next(iter(sessions))
    print(f"\n{model_dir}, {len(ids)} sentences, 1 thread, medians of {rounds} interleaved rounds")
    print(f"{'session':<44} {'sentences/s':>12} {'x defaults':>11} {task + ' labels equal':>20}")
    for name in sessions:
        ratio = statistics.median(a / b for a, b in zip(rates[name], rates[first], strict=True))
        same = float((labels[name] == labels[first]).mean())
        print(f"{name:<44} {statistics.median(rates[name]):>12,.0f} {ratio:>10.2f}x {same:>20.2%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "stance" / "models" / "default", help="an ONNX model directory")
    ap.add_argument("--sentences", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    kernels()
    model_rounds(args.model, args.sentences, args.rounds)


if __name__ == "__main__":
    main()
