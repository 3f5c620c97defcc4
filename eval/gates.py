"""Quality gates: minimums per metric and the largest allowed drop against a baseline.

A gate is named by the key path in ``metrics.json``: ``<task>.<metric>`` (``stance.macro_f1``,
``claim_type.accuracy``) or a top-level key (``mean_macro_f1``). ``configs/gates.toml``::

    [min]
    "stance.macro_f1" = 0.80
    [max_drop]                 # only checked when a baseline is given
    "mean_macro_f1" = 0.02
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stance.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Gate:
    name: str  # metric key path, e.g. "stance.macro_f1"
    kind: str  # "min" or "max_drop"
    threshold: float


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    value: float | None
    passed: bool
    message: str


def parse_gate(spec: str) -> Gate:
    """``stance.macro_f1=0.85`` -> a minimum gate."""
    if "=" not in spec:
        raise ConfigError(f"--gate {spec!r}: expected TASK.METRIC=MIN, e.g. stance.macro_f1=0.85")
    name, raw = spec.split("=", 1)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"--gate {spec!r}: {raw!r} is not a number") from None
    return Gate(name.strip(), "min", value)


def load_gates(path: str | Path | None, extra: list[str] | None = None) -> list[Gate]:
    gates: dict[tuple[str, str], Gate] = {}
    if path:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: gates file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: invalid TOML ({exc})") from None
        unknown = set(data) - {"min", "max_drop"}
        if unknown:
            raise ConfigError(f"{p}: unknown sections {sorted(unknown)!r} (expected [min] and [max_drop])")
        for kind in ("min", "max_drop"):
            for name, value in data.get(kind, {}).items():
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    raise ConfigError(f"{p}: {kind}.{name} = {value!r} is not a number")
                gates[(name, kind)] = Gate(name, kind, float(value))
    for spec in extra or []:
        g = parse_gate(spec)
        gates[(g.name, g.kind)] = g
    return list(gates.values())


def lookup(metrics: dict[str, Any], name: str) -> float | None:
    if name in metrics and isinstance(metrics[name], (int, float)):
        return float(metrics[name])
    task, _, key = name.partition(".")
    value = metrics.get("tasks", {}).get(task, {}).get(key)
    return float(value) if isinstance(value, (int, float)) else None


def check_gates(gates: list[Gate], metrics: dict[str, Any], baseline: dict[str, Any] | None = None) -> list[GateResult]:
    results = []
    for g in gates:
        value = lookup(metrics, g.name)
        if value is None:
            results.append(GateResult(g, None, False, f"{g.name}: no such metric (use <task>.<metric> as in metrics.json)"))
            continue
        if g.kind == "min":
            ok = value >= g.threshold
            verdict = "passes" if ok else f"fails by {g.threshold - value:.4f}"
            results.append(GateResult(g, value, ok, f"{g.name} = {value:.4f}, minimum {g.threshold:.4f}: {verdict}"))
        else:
            delta = (baseline or {}).get("deltas", {}).get(g.name)
            if delta is None:
                results.append(GateResult(g, value, True, f"{g.name}: no baseline value, drop gate skipped"))
                continue
            drop = -float(delta["delta"])
            ok = drop <= g.threshold
            verdict = "passes" if ok else f"fails by {drop - g.threshold:.4f}"
            results.append(GateResult(g, value, ok, f"{g.name} dropped {drop:+.4f} vs baseline, max {g.threshold:.4f}: {verdict}"))
    return results
