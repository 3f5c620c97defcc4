"""Label schemes: a list of tasks, each a name and an ordered list of labels.

The project's default scheme is not written here: it is declared once, in
``configs/default.toml`` (from ``LABELS.md``), and every model carries its own scheme in its
``config.json``. Code reads label names from a scheme, never from literals.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from stance.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


@dataclass(frozen=True)
class Task:
    """One classification task: a name (also the output column) and its labels, in id order."""

    name: str
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(
                f"task name {self.name!r} is not a valid column name (letters, digits, _ and -)"
            )
        if len(self.labels) < 2:
            raise ConfigError(f"task {self.name!r} needs at least 2 labels, got {list(self.labels)!r}")
        if len(set(self.labels)) != len(self.labels):
            raise ConfigError(f"task {self.name!r} has duplicate labels: {list(self.labels)!r}")
        for label in self.labels:
            if not isinstance(label, str) or not label.strip():
                raise ConfigError(f"task {self.name!r} has an empty or non-text label: {label!r}")

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}


@dataclass(frozen=True)
class Scheme:
    """An ordered set of tasks sharing one encoder."""

    tasks: tuple[Task, ...]

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ConfigError("a label scheme needs at least one task")
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate task names: {names!r}")

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def __getitem__(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)

    def __iter__(self):
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Sequence[str]]) -> Scheme:
        """Build from ``{"stance": ["escalation", ...], ...}`` (insertion order kept)."""
        return cls(tuple(Task(str(name), tuple(map(str, labels))) for name, labels in mapping.items()))

    def to_mapping(self) -> dict[str, list[str]]:
        return {t.name: list(t.labels) for t in self.tasks}

    def id2label(self) -> dict[str, dict[str, str]]:
        """The JSON form stored in model configs: ``{task: {"0": label, ...}}``."""
        return {t.name: {str(i): label for i, label in t.id2label.items()} for t in self.tasks}


def infer_scheme(task_names: Iterable[str], rows: Iterable[Mapping[str, object]]) -> Scheme:
    """Infer a scheme from labelled rows: labels sorted alphabetically for a stable id order."""
    names = list(task_names)
    seen: dict[str, set[str]] = {n: set() for n in names}
    for row in rows:
        for n in names:
            value = row.get(n)
            if value is not None and str(value).strip():
                seen[n].add(str(value))
    return Scheme(tuple(Task(n, tuple(sorted(seen[n]))) for n in names))
