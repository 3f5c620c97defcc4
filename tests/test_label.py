"""`stance label` end to end, in-process (typer's CliRunner), on tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO
from typer.testing import CliRunner

from stance.cli import app
from stance.errors import EXIT_USAGE

EXAMPLES = REPO / "examples"
runner = CliRunner()


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def check_rows(rows: list[dict], texts: dict[str, str], model) -> None:
    by_doc: dict[str, list[dict]] = {}
    for row in rows:
        by_doc.setdefault(row["doc_id"], []).append(row)
    assert set(by_doc) == set(texts)
    for doc_id, doc_rows in by_doc.items():
        text = texts[doc_id]
        assert [r["sentence"] for r in doc_rows] == list(range(len(doc_rows)))
        for r in doc_rows:
            assert text[r["start"] : r["end"]] == r["text"]
            for task in model.scheme:
                assert r[task.name] in task.labels
                assert 0.0 < r[f"{task.name}_score"] <= 1.0


def test_label_examples_folder(tmp_path: Path, tiny_model_dir: Path, tiny_model) -> None:
    out = tmp_path / "out.jsonl"
    result = run("label", str(EXAMPLES), "-o", str(out), "--model", str(tiny_model_dir))
    assert result.exit_code == 0, result.output
    rows = read_jsonl(out)
    texts = {p.name: p.read_text(encoding="utf-8") for p in EXAMPLES.iterdir()}
    check_rows(rows, texts, tiny_model)
    assert [r["doc_id"] for r in rows] == sorted(r["doc_id"] for r in rows)  # sorted walk
    assert "doc_id" in result.stdout and "text" in result.stdout  # preview table


def test_label_in_bf16(tmp_path: Path, tiny_model_dir: Path, tiny_model) -> None:
    outs = {}
    for precision in ("fp32", "bf16"):
        outs[precision] = tmp_path / f"{precision}.jsonl"
        result = run("label", str(EXAMPLES), "-o", str(outs[precision]), "-m", str(tiny_model_dir), "--precision", precision, "-q")
        assert result.exit_code == 0, result.output
    full, half = read_jsonl(outs["fp32"]), read_jsonl(outs["bf16"])
    assert [r["text"] for r in full] == [r["text"] for r in half]
    assert max(abs(a["stance_score"] - b["stance_score"]) for a, b in zip(full, half, strict=True)) < 0.03
    result = run("label", str(EXAMPLES), "-o", str(tmp_path / "x.jsonl"), "-m", str(tiny_model_dir), "--precision", "fp8")
    assert result.exit_code == 2 and "unknown precision 'fp8' (fp32, bf16, fp16)" in result.stderr


def test_label_london_page(tmp_path: Path, tiny_model_dir: Path, tiny_model, london_text: str) -> None:
    from conftest import LONDON

    out = tmp_path / "london.csv"
    result = run("label", str(LONDON), "-o", str(out), "--model", str(tiny_model_dir), "--quiet")
    assert result.exit_code == 0, result.output
    import csv

    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    for r in rows:
        r["start"], r["end"], r["sentence"] = int(r["start"]), int(r["end"]), int(r["sentence"])
        for t in tiny_model.tasks:
            r[f"{t}_score"] = float(r[f"{t}_score"])
    check_rows(rows, {str(LONDON): london_text}, tiny_model)
    assert rows[-1]["text"].startswith("Please support us")


def test_records_pass_fields_and_probs(tmp_path: Path, tiny_model_dir: Path) -> None:
    src = tmp_path / "corpus.jsonl"
    src.write_text(
        json.dumps({"id": "a1", "body": "Tariffs rose. Talks resumed.", "date": "2025-05-12", "outlet": "wire"})
        + "\n"
        + json.dumps({"id": "a2", "body": "Beijing vowed to retaliate.", "date": "2025-05-13", "outlet": "blog"})
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.parquet"
    result = run(
        "label", str(src), "-o", str(out), "--model", str(tiny_model_dir), "--text-field", "body", "--probs", "-q"
    )
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out).to_pylist()
    assert [(r["doc_id"], r["sentence"]) for r in rows] == [("a1", 0), ("a1", 1), ("a2", 0)]
    assert rows[0]["date"] == "2025-05-12" and rows[2]["outlet"] == "blog"
    total = sum(rows[0][f"stance_p_{label}"] for label in ("escalation", "de-escalation", "neutral"))
    assert total == pytest.approx(1.0, abs=1e-4)


def test_csv_and_parquet_inputs_and_no_split(tmp_path: Path, tiny_model_dir: Path) -> None:
    csv_in = tmp_path / "s.csv"
    csv_in.write_text('id,text,src\n1,"One. Two.",x\n2,Three,y\n', encoding="utf-8")
    pq_in = tmp_path / "s.parquet"
    pq.write_table(pa.table({"id": ["p1"], "text": ["Alpha beta. Gamma."]}), pq_in)
    out = tmp_path / "o.jsonl"
    result = run("label", str(csv_in), str(pq_in), "-o", str(out), "--model", str(tiny_model_dir), "--no-split", "-q")
    assert result.exit_code == 0, result.output
    rows = read_jsonl(out)
    assert [r["text"] for r in rows] == ["One. Two.", "Three", "Alpha beta. Gamma."]
    assert rows[0]["src"] == "x"


def test_stdin_and_stdout(tiny_model_dir: Path) -> None:
    result = run("label", "-", "-o", "-", "--model", str(tiny_model_dir), "-q", input="Tariffs rose. Talks resumed.")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["Tariffs rose.", "Talks resumed."]


def test_existing_output_refused_then_overwritten(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "o.jsonl"
    out.write_text("precious\n")
    result = run("label", str(EXAMPLES), "-o", str(out), "--model", str(tiny_model_dir), "-q")
    assert result.exit_code == EXIT_USAGE
    assert "output exists" in result.stderr
    assert out.read_text() == "precious\n"
    result = run("label", str(EXAMPLES), "-o", str(out), "--model", str(tiny_model_dir), "-q", "--overwrite")
    assert result.exit_code == 0
    assert out.read_text() != "precious\n"


def test_deterministic_output(tmp_path: Path, tiny_model_dir: Path) -> None:
    outs = []
    for name in ("a.jsonl", "b.jsonl"):
        out = tmp_path / name
        assert run("label", str(EXAMPLES), "-o", str(out), "--model", str(tiny_model_dir), "-q").exit_code == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_custom_scheme_model_labels_its_own_tasks(tmp_path: Path) -> None:
    from conftest import make_tiny_model

    model_dir = make_tiny_model(tmp_path / "m", {"topic": ["steel", "chips"], "urgency": ["low", "high"]})
    out = tmp_path / "o.jsonl"
    assert run("label", str(EXAMPLES), "-o", str(out), "--model", str(model_dir), "-q").exit_code == 0
    row = read_jsonl(out)[0]
    assert row["topic"] in ("steel", "chips") and row["urgency"] in ("low", "high")
    assert "stance" not in row


def test_python_api(tiny_model, london_text: str) -> None:
    preds = tiny_model.predict(["Beijing imposed duties.", "Talks resumed."])
    assert len(preds) == 2
    assert set(preds[0]) == {"stance", "claim_type"}
    assert abs(sum(preds[0]["stance"].probs.values()) - 1) < 1e-5
    rows = list(tiny_model.label_documents([{"id": "x", "text": london_text, "outlet": "blog"}]))
    assert rows[0]["doc_id"] == "x" and rows[0]["outlet"] == "blog"
    with pytest.raises(TypeError):
        tiny_model.predict("one string")



def test_help_shows_written_defaults() -> None:
    """Defaults written into help texts survive rendering: "[default: ...]" would be read as
    rich markup and vanish from the help."""

    def rendered(command: str) -> str:
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0
        return " ".join(result.output.replace("│", " ").split())  # undo the panel's wrapping

    text = rendered("label")
    for phrase in ("the shipped model", "from OUT's suffix", "all usable", "a local cluster", "cuda:N or mps (default: cpu)"):
        assert phrase in text, phrase
    assert "(default: claim_type=none)" in rendered("index")
