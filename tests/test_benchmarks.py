"""Pure parts of the benchmark scripts (the scripts themselves are run by hand, not in CI)."""

from __future__ import annotations

from benchmarks.hotspots import Disassembly, classify


def test_classify_by_the_widest_instructions_of_a_loop() -> None:
    def loop(*texts: str) -> list[tuple[int, str]]:
        return list(enumerate(texts))

    assert (
        classify(loop("tileloadd (%rax,%rbx,1),%tmm0", "tdpbusd %tmm0,%tmm2,%tmm4")) == "AMX tiles"
    )
    assert classify(loop("vmovups (%rdi),%zmm3", "vaddps %ymm1,%ymm0,%ymm0")) == "AVX-512"
    assert classify(loop("vaddpd %ymm1,%ymm0,%ymm0")) == "AVX/AVX2"
    assert classify(loop("movups (%r8,%rax,4),%xmm0", "mulps %xmm2,%xmm0")) == "SSE"
    assert classify(loop("movq %xmm7,%rax", "add $0x4,%rax")) == "scalar"  # xmm as a spare register
    assert classify(loop("imul %r8,%r15", "add $0x1,%rsi")) == "scalar"


def test_a_sample_is_classed_by_its_whole_loop() -> None:
    code = Disassembly("lib.so")
    code.pages.add(0)  # the page is "read": no objdump
    code.at.update(
        {
            0x100: "tileloadd (%rax,%rbx,1),%tmm0",
            0x106: "tdpbusd %tmm0,%tmm2,%tmm4",
            0x10B: "add $0x400,%rcx",
            0x112: "sub $0x40,%rdx",
            0x116: "jne 100 <f+0x10>",
            0x118: "ret",
        }
    )
    start, body = code.loop(0x10B)  # sampled after the tile instructions
    assert start == 0x100
    assert [at for at, _ in body] == [0x100, 0x106, 0x10B, 0x112, 0x116]
    assert classify(body) == "AMX tiles"


def test_deny_amx_blocks_only_the_amx_request() -> None:
    """The seccomp filter of benchmarks/int8_kernels.py fails ARCH_REQ_XCOMP_PERM and nothing else."""
    import platform
    import subprocess
    import sys

    import pytest
    from conftest import REPO

    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip("Linux x86-64 only")
    script = (
        "import ctypes, os\n"
        "from benchmarks.int8_kernels import deny_amx, ARCH_PRCTL, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA\n"
        "deny_amx()\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "assert libc.syscall(ARCH_PRCTL, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == -1\n"
        "assert ctypes.get_errno() == 1\n"
        "print(len(os.listdir('.')) > 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
