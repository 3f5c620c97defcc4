"""ONNX Runtime's int8 products on AMX tiles against AVX-512 VNNI, on this CPU, measured.

    python benchmarks/int8_kernels.py [--model stance/models/default] [--sentences 4000] [--rounds 5]

ONNX Runtime (MLAS) runs its u8 x s8 matrix products on AMX tile units where the CPU has them
and Linux grants the process their use (``arch_prctl(ARCH_REQ_XCOMP_PERM)``); otherwise on
AVX-512 VNNI. This script times both on the same model: each round starts two fresh
processes, in rotated order, each one as one worker of ``stance label`` (the ONNX model in one
single-threaded session, batches of 16 length-sorted corpus sentences, the lexical component
off). In the ``VNNI`` process a seccomp filter makes that one ``arch_prctl`` request fail before
ONNX Runtime loads, so MLAS falls back to its VNNI kernels; nothing else changes. Integer
products are exact on both, so the labels should be the same; the script checks that too.
Linux x86-64 only.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARCH_PRCTL = 158  # x86-64 syscall number
ARCH_REQ_XCOMP_PERM = 0x1023
XFEATURE_XTILEDATA = 18


def deny_amx() -> None:
    """Install a seccomp filter under which ``arch_prctl(ARCH_REQ_XCOMP_PERM, ...)`` fails with EPERM."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    ld_w_abs, jeq_k, ret_k = 0x20, 0x15, 0x06
    audit_arch_x86_64 = 0xC000003E
    allow, errno_eperm = 0x7FFF0000, 0x00050000 | 1

    def op(code: int, jt: int, jf: int, k: int) -> bytes:
        return struct.pack("HBBI", code, jt, jf, k)

    program = b"".join([
        op(ld_w_abs, 0, 0, 4),  # seccomp_data.arch
        op(jeq_k, 0, 5, audit_arch_x86_64),
        op(ld_w_abs, 0, 0, 0),  # seccomp_data.nr
        op(jeq_k, 0, 3, ARCH_PRCTL),
        op(ld_w_abs, 0, 0, 16),  # low word of args[0]
        op(jeq_k, 0, 1, ARCH_REQ_XCOMP_PERM),
        op(ret_k, 0, 0, errno_eperm),
        op(ret_k, 0, 0, allow),
    ])

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buffer = ctypes.create_string_buffer(program)
    fprog = SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0 or libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) != 0:
        raise SystemExit(f"cannot install the seccomp filter (errno {ctypes.get_errno()})")
    if libc.syscall(ARCH_PRCTL, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != -1:
        raise SystemExit("the seccomp filter did not deny AMX")


def child(kernel: str, model: str, n: int) -> None:
    """One timed pass, printed as one JSON line."""
    if kernel == "VNNI":
        deny_amx()
    import stance
    from benchmarks.throughput import corpus_sentences

    texts = corpus_sentences(n)
    labeller = stance.load(model, threads=1, workers=1)
    labeller.predictor.lexical = None  # as in a worker: the lexical part runs in the parent
    labeller.predict(texts[:400])  # warm-up
    start = time.perf_counter()
    rows = labeller.predict(texts)
    seconds = time.perf_counter() - start
    labels = json.dumps([[row[task].label for task in sorted(row)] for row in rows])
    print(json.dumps({"rate": n / seconds, "labels": hashlib.sha256(labels.encode()).hexdigest()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "stance" / "models" / "default"))
    parser.add_argument("--sentences", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", choices=["AMX", "VNNI"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.model, args.sentences)
        return
    if not sys.platform.startswith("linux") or struct.calcsize("P") != 8:
        raise SystemExit("Linux x86-64 only")
    rates: dict[str, list[float]] = {"AMX": [], "VNNI": []}
    hashes: dict[str, set[str]] = {"AMX": set(), "VNNI": set()}
    for r in range(args.rounds):
        order = ["AMX", "VNNI"] if r % 2 == 0 else ["VNNI", "AMX"]
        for kernel in order:
            command = [sys.executable, __file__, "--child", kernel, "--model", args.model, "--sentences", str(args.sentences)]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            result = json.loads(out)
            rates[kernel].append(result["rate"])
            hashes[kernel].add(result["labels"])
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rates.items()), file=sys.stderr)
    print(f"\n{args.sentences} corpus sentences, one single-threaded worker, {args.rounds} rounds\n")
    print("| int8 kernels | sentences/s (median) | range | vs AMX |")
    print("| --- | --- | --- | --- |")
    amx = statistics.median(rates["AMX"])
    for kernel, values in rates.items():
        median = statistics.median(values)
        print(f"| {kernel} | {median:,.0f} | {min(values):,.0f}-{max(values):,.0f} | {median / amx:.2f}× |")
    same = hashes["AMX"] == hashes["VNNI"] and len(hashes["AMX"]) == 1
    print(f"\nlabels identical across kernels and rounds: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
