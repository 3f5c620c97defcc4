"""The escalation index: per-article scores by hand, buckets, robustness, CLI and --summary."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stance.cli import app
from stance.index import ArticleSummarizer, build_index

runner = CliRunner()


def row(doc, i, stance, claim="fact", score=1.0, **meta):
    return {"doc_id": doc, "sentence": i, "stance": stance, "stance_score": score, "claim_type": claim, **meta}


def test_article_scores_by_hand() -> None:
    rows = [
        row("a", 0, "escalation", "none", 0.9),  # headline: cruft, not scored
        row("a", 1, "escalation", score=0.8),
        row("a", 2, "de-escalation", score=0.6),
        row("a", 3, "neutral", score=0.7),
        row("a", 4, "escalation", "opinion", 1.0),
    ]
    out = next(ArticleSummarizer().summarize_rows(rows))
    assert out["sentences"] == 5 and out["scored"] == 4
    assert out["n_escalation"] == 2 and out["share_de-escalation"] == pytest.approx(0.25)
    assert out["net_score"] == pytest.approx((0.8 - 0.6 + 0 + 1.0) / 4)
    assert out["share_claim_type_none"] == pytest.approx(0.2)


def test_probabilities_are_used_when_present() -> None:
    r = row("a", 0, "neutral", score=0.5)
    r.update({"stance_p_escalation": 0.3, "stance_p_de-escalation": 0.2, "stance_p_neutral": 0.5})
    assert next(ArticleSummarizer().summarize_rows([r]))["net_score"] == pytest.approx(0.1)


def test_buckets_empty_months_missing_dates_and_reference() -> None:
    arts = [
        {"doc_id": "1", "date": "2025-01-03", "net_score": 0.5},
        {"doc_id": "2", "date": "2025-01-20", "net_score": -0.5},
        {"doc_id": "3", "date": "2025-03-02", "net_score": 1.0},
        {"doc_id": "4", "date": None, "net_score": 0.2},
        {"doc_id": "5", "date": "someday", "net_score": 0.2},
    ]
    res = build_index(arts, freq="M")
    assert res.missing_dates == 1 and res.bad_dates == ["someday"]
    months = {b["bucket"]: b for b in res.buckets}
    assert list(months) == ["2025-01-01", "2025-02-01", "2025-03-01"]
    assert months["2025-02-01"]["articles"] == 0 and months["2025-02-01"]["net_score"] is None
    jan, mar = months["2025-01-01"], months["2025-03-01"]
    assert jan["net_score"] == 0 and jan["intensity"] == 0.5 and mar["intensity"] == 1.0
    assert jan["index"] == pytest.approx(100 * 0.5 / 0.75) and mar["index"] == pytest.approx(100 * 1.0 / 0.75)
    assert jan["net_score_low"] <= 0 <= jan["net_score_high"]


def test_single_article_and_groups() -> None:
    res = build_index([{"doc_id": "1", "date": "2024-06-01", "net_score": 0.4, "outlet": "wire"}], by=["outlet"], freq="W")
    (b,) = res.buckets
    assert b["outlet"] == "wire" and b["net_score_low"] == b["net_score_high"] == 0.4 and b["index"] == 100


def test_label_summary_then_index_cli(tmp_path: Path, tiny_model_dir: Path) -> None:
    src = tmp_path / "corpus.jsonl"
    docs = [
        {"id": f"d{i}", "text": "Tariffs rose sharply. Talks resumed in Geneva. Read more", "date": f"2025-0{1 + i % 3}-1{i}", "outlet": ["wire", "blog"][i % 2]}
        for i in range(6)
    ] + [{"id": "nodate", "text": "Duties were cut.", "date": "", "outlet": "wire"}]
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    labels, summary = tmp_path / "labels.jsonl", tmp_path / "articles.jsonl"
    result = runner.invoke(app, ["label", str(src), "-o", str(labels), "--model", str(tiny_model_dir), "--summary", str(summary), "-q"])
    assert result.exit_code == 0, result.output
    arts = [json.loads(x) for x in summary.read_text().splitlines()]
    assert [a["doc_id"] for a in arts] == [d["id"] for d in docs]
    assert arts[0]["outlet"] == "wire" and arts[0]["sentences"] == 3
    out, plot = tmp_path / "index.csv", tmp_path / "index.png"
    result = runner.invoke(app, ["index", str(labels), "-o", str(out), "--by", "outlet", "--freq", "M", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "1 articles without a date" in result.stderr
    rows = list(csv.DictReader(out.open()))
    assert {r["outlet"] for r in rows} == {"wire", "blog"} and len(rows) == 6
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_index_bad_input(tmp_path: Path) -> None:
    f = tmp_path / "x.jsonl"
    f.write_text(json.dumps({"text": "no labels here"}) + "\n")
    result = runner.invoke(app, ["index", str(f), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 2 and "no column 'doc_id'" in result.stderr
    result = runner.invoke(app, ["index", str(f), "-o", str(tmp_path / "o.csv"), "--freq", "X"])
    assert result.exit_code == 2 and "--freq 'X'" in result.stderr
