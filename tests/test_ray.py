"""Ray Data engine on a local cluster: rows equal the local engine's; a killed worker is retried."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from stance.ray_engine import LabelActor, iter_output_rows, label_with_ray  # noqa: E402

pytestmark = pytest.mark.timeout(900)

TEXT = "Tariffs rose again on Friday. Beijing vowed to retaliate. Talks may resume in Geneva, officials said.\n\nRead more"


def corpus(path: Path, n: int = 40) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"d{i:03d}", "text": TEXT + f" Exports fell {i}%.", "date": f"2025-03-{1 + i % 28:02d}"}) + "\n")
    return path


def key(row: dict) -> tuple:
    return (row["doc_id"], row["sentence"])


def local_rows(src: Path, model_dir: Path, tmp: Path) -> list[dict]:
    import stance
    from stance.label import label_corpus

    out = tmp / "local.jsonl"
    label_corpus([str(src)], str(out), model=stance.load(model_dir), progress=False)
    return [json.loads(x) for x in out.read_text().splitlines()]


class FaultyActor(LabelActor):
    """Dies (the whole worker process) on its first batch while the marker file exists."""

    def __call__(self, batch):
        marker = Path(os.environ["STANCE_TEST_MARKER"])
        if marker.exists():
            marker.unlink()
            os._exit(1)
        return super().__call__(batch)


def compare(ray_rows: list[dict], local: list[dict]) -> None:
    assert len(ray_rows) == len(local)
    assert len({key(r) for r in ray_rows}) == len(ray_rows)  # no duplicates
    by_key = {key(r): r for r in ray_rows}
    for row in local:
        other = by_key[key(row)]
        for field in ("start", "end", "text", "stance", "claim_type", "date"):
            assert other[field] == row[field], (field, row, other)
        assert other["stance_score"] == pytest.approx(row["stance_score"], abs=1e-4)


def test_ray_equals_local_and_survives_a_killed_worker(tmp_path: Path, tiny_model_dir: Path, monkeypatch) -> None:
    src = corpus(tmp_path / "corpus.jsonl")
    local = local_rows(src, tiny_model_dir, tmp_path)

    summary = label_with_ray([str(src)], str(tmp_path / "ray-out"), model_path=str(tiny_model_dir), workers=2, batch_docs=4)
    assert summary.documents == 40
    compare(list(iter_output_rows(tmp_path / "ray-out")), local)

    import sys

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    marker = tmp_path / "kill-once"
    marker.write_text("x")
    monkeypatch.setenv("STANCE_TEST_MARKER", str(marker))
    label_with_ray([str(src)], str(tmp_path / "ray-killed"), model_path=str(tiny_model_dir), workers=2, batch_docs=4,
                   fmt="parquet", actor_cls=FaultyActor)
    assert not marker.exists(), "the fault was never injected"
    compare(list(iter_output_rows(tmp_path / "ray-killed")), local)
