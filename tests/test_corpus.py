"""The shipped corpus passes its validator and the size and mix the project promises."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest

from training.corpus import DATA, SPLITS, assign_splits, build, load_articles, validate


def rows(split: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_validator_passes_and_prints_distributions() -> None:
    out = io.StringIO()
    failures = validate(out=out)
    assert failures == []
    assert "train" in out.getvalue() and "escalation" in out.getvalue()


def test_size_and_label_mix() -> None:
    all_rows = [r for s in SPLITS for r in rows(s)]
    n = len(all_rows)
    assert n >= 5000 and len({r["doc_id"] for r in all_rows}) >= 250
    stance = Counter(r["stance"] for r in all_rows)
    claim = Counter(r["claim_type"] for r in all_rows)
    assert all(stance[k] / n >= 0.20 for k in ("escalation", "de-escalation", "neutral"))
    minimum = {"fact": 0.25, "opinion": 0.12, "forecast": 0.10, "prescription": 0.04, "none": 0.05}
    assert all(claim[k] / n >= v for k, v in minimum.items())
    assert len({r["dispute"] for r in all_rows}) >= 15


def test_splits_are_the_build_of_the_sources(tmp_path) -> None:
    sizes = build(tmp_path)
    for split in SPLITS:
        assert (tmp_path / f"{split}.jsonl").read_bytes() == (DATA / f"{split}.jsonl").read_bytes(), (
            f"data/{split}.jsonl is stale: run python -m training.corpus build"
        )
    assert (tmp_path / "splits.tsv").read_bytes() == (DATA / "splits.tsv").read_bytes()
    assert sum(sizes.values()) == sum(len(rows(s)) for s in SPLITS)


def test_validator_catches_problems(tmp_path) -> None:
    for split in SPLITS:
        (tmp_path / f"{split}.jsonl").write_text((DATA / f"{split}.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    bad = rows("dev")
    bad[0]["stance"] = "war"
    bad[1]["doc_id"] = rows("train")[0]["doc_id"]
    (tmp_path / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in bad), encoding="utf-8")
    failures = validate(tmp_path, out=io.StringIO())
    assert any("stance label 'war'" in f for f in failures)
    assert any("articles in both train and dev" in f for f in failures)


@pytest.mark.slow
def test_page_text_round_trip_through_the_splitter() -> None:
    from stance.segment import split_sentences

    agree = total = 0
    for a in load_articles():
        units = [u.text for u in split_sentences(a.page_text())]
        gold = [u.text for u in a.units]
        agree += units == gold
        total += 1
    assert agree / total > 0.5


def test_frozen_splits_survive_new_articles() -> None:
    articles = load_articles()
    old, new = articles[: len(articles) // 2], articles[len(articles) // 2 :]
    before = assign_splits(old)
    after = assign_splits(articles, frozen=before)
    assert {d: after[d] for d in before} == before
    added = Counter(after[a.doc_id] for a in new)
    assert added["train"] > added["test"] > 0 and added["dev"] > 0  # new articles follow the 70/12/18 rule
