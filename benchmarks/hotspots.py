"""Where one labelling worker spends its CPU time, by the instruction set of the code it runs.

    python benchmarks/hotspots.py [--model stance/models/default] [--sentences 4000]

Needs Linux ``perf``, ``objdump`` and ``readelf`` (binutils) on PATH. The script runs what one worker of
``stance label`` runs (the ONNX model in one single-threaded session, batches of 16
length-sorted corpus sentences) under ``perf record``, then reads every sampled instruction
address in its own library: the instructions from that address to the end of its loop (the
next backward jump, at most 24 instructions) decide its class:

* ``AMX tiles``: the loop uses AMX tile instructions (``tileloadd``, ``tdpbusd``, ...): ONNX
  Runtime's int8 matrix product on this CPU's AMX units;
* ``AVX-512``, ``AVX/AVX2``, ``SSE``: the widest vector registers the loop uses (zmm, ymm,
  xmm); ``SSE`` code handles 4 floats per instruction where AVX-512 handles 16;
* ``scalar``: no vector registers.

Samples outside the ONNX Runtime library are grouped by library (Python, numpy, libc, the
tokenizer). The table prints each class's share of all samples, and the hottest loops with
their first instructions, so that each figure can be checked by eye.
"""

from __future__ import annotations

import argparse
import collections
import functools
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WINDOW = 24  # instructions read from a sampled address to the end of its loop
AMX = re.compile(
    r"\b(tileloadd|tileloaddt1|tdpb[su][su]d|tdpbf16ps|tilestored|ldtilecfg|tilezero)\b"
)
JUMP = re.compile(r"\bj[a-z]+\s+([0-9a-f]+)\b")


def child(model: str, n: int) -> None:
    """The measured work: one single-threaded ONNX session, as one worker of ``stance label``."""
    import stance
    from benchmarks.throughput import corpus_sentences

    texts = corpus_sentences(n)
    labeller = stance.load(model, threads=1, workers=1)
    labeller.predictor.lexical = None  # the lexical component runs in the parent, not in workers
    for _ in range(2):
        labeller.predict(texts)


class Disassembly:
    """Instructions of one library, read with objdump a page at a time."""

    def __init__(self, library: str) -> None:
        self.library = library
        self.at: dict[int, str] = {}  # address -> instruction text
        self.pages: set[int] = set()

    def read(self, start: int, stop: int) -> None:
        out = subprocess.run(
            [
                "objdump",
                "-d",
                "--no-show-raw-insn",
                f"--start-address={start:#x}",
                f"--stop-address={stop:#x}",
                self.library,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in out.splitlines():
            match = re.match(r"\s*([0-9a-f]+):\s+(.*)", line)
            if match:
                self.at.setdefault(int(match.group(1), 16), match.group(2).strip())

    def run_from(self, address: int, limit: int = WINDOW) -> list[tuple[int, str]]:
        """Instructions from ``address`` on, up to and including the first backward jump."""
        page = address >> 12
        if page not in self.pages:
            self.pages.add(page)
            self.read(page << 12, (page + 1 << 12) + 256)
        if address not in self.at:  # the page was decoded out of step here: decode from the address
            self.read(address, address + 16 * limit)
        lines, at = [], address
        while at in self.at and len(lines) < limit:
            text = self.at[at]
            lines.append((at, text))
            jump = JUMP.search(text)
            if jump and int(jump.group(1), 16) <= at:
                break
            following = [a for a in (at + n for n in range(1, 16)) if a in self.at]
            if not following:
                self.read(at + 1, at + 16 * limit)
                following = [a for a in (at + n for n in range(1, 16)) if a in self.at]
                if not following:
                    break
            at = following[0]
        return lines

    def loop(self, address: int) -> tuple[int, list[tuple[int, str]]]:
        """The loop around ``address`` (from the backward jump's target to the jump), or the
        instructions from ``address`` on when none closes within the window; with its key."""
        lines = self.run_from(address)
        jump = JUMP.search(lines[-1][1]) if lines else None
        if jump and int(jump.group(1), 16) <= lines[-1][0]:
            target = int(jump.group(1), 16)
            if lines[-1][0] - target <= 16 * 4 * WINDOW:
                body = self.run_from(target, limit=4 * WINDOW)
                if body and body[-1][0] == lines[-1][0]:
                    return target, body
        return address, lines


def classify(instructions: list[tuple[int, str]]) -> str:
    text = " ".join(t for _, t in instructions)
    if AMX.search(text):
        return "AMX tiles"
    if "%zmm" in text:
        return "AVX-512"
    if "%ymm" in text:
        return "AVX/AVX2"
    if "%xmm" in text and re.search(r"\b\w+p[sd]\b", text):  # packed single/double arithmetic
        return "SSE"
    return "scalar"


def record(model: str, n: int, data: Path) -> None:
    command = [
        "perf",
        "record",
        "-q",
        "-F",
        "999",
        "-o",
        str(data),
        "--",
        sys.executable,
        __file__,
        "--child",
        "--model",
        model,
        "--sentences",
        str(n),
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def samples(data: Path) -> collections.Counter[tuple[str, int]]:
    """Sample counts by (library, address in the library's file as objdump numbers it)."""
    out = subprocess.run(
        ["perf", "script", "-i", str(data), "-F", "ip,dso", "--show-mmap-events"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    maps: list[
        tuple[int, int, int, str]
    ] = []  # start, end, file offset, path of executable mappings
    counts: collections.Counter[tuple[str, int]] = collections.Counter()
    for line in out.splitlines():
        mapping = re.search(
            r"\[0x([0-9a-f]+)\((0x[0-9a-f]+)\) @ (0x[0-9a-f]+) .*\]: r-xp (\S+)", line
        )
        if mapping:
            start = int(mapping.group(1), 16)
            maps.append(
                (
                    start,
                    start + int(mapping.group(2), 16),
                    int(mapping.group(3), 16),
                    mapping.group(4),
                )
            )
            continue
        match = re.match(r"\s*([0-9a-f]+)\s+\((.*)\)\s*$", line)
        if not match:
            continue
        ip, dso = int(match.group(1), 16), match.group(2)
        for start, end, offset, path in maps:
            if start <= ip < end and path == dso:
                ip = ip - start + offset + load_bias(path)
                break
        counts[(dso, ip)] += 1
    return counts


@functools.cache
def load_bias(library: str) -> int:
    """Virtual address minus file offset of the library's executable segment (objdump's numbering)."""
    out = subprocess.run(["readelf", "-lW", library], capture_output=True, text=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if fields[:1] == ["LOAD"] and "E" in fields[6:-1]:
            return int(fields[2], 16) - int(fields[1], 16)
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "stance" / "models" / "default"))
    ap.add_argument("--sentences", type=int, default=4000)
    ap.add_argument("--top", type=int, default=12, help="hottest loops to print")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.model, args.sentences)
        return
    missing = [tool for tool in ("perf", "objdump", "readelf") if shutil.which(tool) is None]
    if missing:
        sys.exit(
            f"error: this benchmark needs {' and '.join(missing)} on PATH (Linux perf, binutils)"
        )

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "perf.data"
        record(args.model, args.sentences, data)
        counts = samples(data)
    total = sum(counts.values())
    ort = [(dso, ip) for dso, ip in counts if "onnxruntime" in Path(dso).name]
    shares: collections.Counter[str] = collections.Counter()
    loops: collections.Counter[tuple[str, int]] = collections.Counter()
    first: dict[int, tuple[str, str]] = {}
    code = {dso: Disassembly(dso) for dso, _ in ort}
    for dso, ip in counts:
        if (dso, ip) not in ort:
            shares[f"outside ONNX Runtime: {Path(dso).name}"] += counts[(dso, ip)]
            continue
        start, body = code[dso].loop(ip)
        kind = classify(body)
        shares[kind] += counts[(dso, ip)]
        loops[(kind, start)] += counts[(dso, ip)]
        first.setdefault(
            start, (kind, "; ".join(t for _, t in body if not t.startswith(("mov ", "lea "))))
        )

    print(
        f"{total} samples of one single-threaded worker labelling {args.sentences} sentences twice"
    )
    print()
    print("| code | share of samples |")
    print("| --- | --- |")
    for kind, count in shares.most_common():
        if count / total >= 0.005:
            print(f"| {kind} | {count / total:.1%} |")
    rest = sum(c for c in shares.values() if c / total < 0.005)
    print(f"| everything under 0.5% each | {rest / total:.1%} |")
    print()
    print(
        f"The {args.top} hottest loops in ONNX Runtime (start address, class, share, instructions):"
    )
    for (kind, start), count in loops.most_common(args.top):
        print(f"  {start:#9x}  {kind:<9} {count / total:6.1%}  {first[start][1][:120]}")


if __name__ == "__main__":
    main()
