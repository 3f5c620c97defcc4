"""Bad input: one clear line on stderr, a documented exit code, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stance.cli import app
from stance.errors import EXIT_INPUT_WARNINGS, EXIT_USAGE

runner = CliRunner()


def label(tmp_path: Path, model: Path, *inputs: str, extra: tuple[str, ...] = ()):
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["label", *inputs, "-o", str(out), "--model", str(model), "-q", *extra])
    return result, out


def one_error_line(result) -> str:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_malformed_jsonl_names_file_and_line_and_keeps_rows(tmp_path: Path, tiny_model_dir: Path) -> None:
    src = tmp_path / "c.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "Good one."}) + "\n{not json\n" + json.dumps({"id": "b", "text": "Later."}) + "\n")
    result, out = label(tmp_path, tiny_model_dir, str(src))
    assert result.exit_code == EXIT_USAGE
    assert f"{src}:2" in one_error_line(result)
    assert [json.loads(x)["doc_id"] for x in out.read_text().splitlines()] == ["a"]  # nothing lost
    # fixed by skipping: resume continues after the written article
    result = runner.invoke(app, ["label", str(src), "-o", str(out), "--model", str(tiny_model_dir), "-q", "--resume", "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["doc_id"] for x in out.read_text().splitlines()] == ["a", "b"]
    assert "skipped" in result.stderr


def test_leftover_journal_is_named_when_the_output_was_deleted(tmp_path: Path, tiny_model_dir: Path) -> None:
    src = tmp_path / "c.jsonl"
    src.write_text(json.dumps({"id": "a", "text": "Good one."}) + "\n{not json\n")
    result, out = label(tmp_path, tiny_model_dir, str(src))
    assert result.exit_code == EXIT_USAGE
    out.unlink()  # the user deletes the output but not the interrupted run's journal
    result, _ = label(tmp_path, tiny_model_dir, str(src))
    assert result.exit_code == EXIT_USAGE
    assert "an interrupted run's journal exists" in one_error_line(result)


def test_missing_text_field(tmp_path: Path, tiny_model_dir: Path) -> None:
    src = tmp_path / "c.jsonl"
    src.write_text(json.dumps({"id": "a", "body": "x"}) + "\n")
    result, _ = label(tmp_path, tiny_model_dir, str(src))
    assert result.exit_code == EXIT_USAGE
    assert "no field 'text'" in one_error_line(result)


def test_missing_csv_column(tmp_path: Path, tiny_model_dir: Path) -> None:
    src = tmp_path / "c.csv"
    src.write_text("id,body\n1,hello\n")
    result, _ = label(tmp_path, tiny_model_dir, str(src))
    assert result.exit_code == EXIT_USAGE
    assert "no column 'text'" in one_error_line(result)


def test_non_utf8_is_decoded_with_warning(tmp_path: Path, tiny_model_dir: Path) -> None:
    src = tmp_path / "latin1.txt"
    src.write_bytes("Tariffs on caf\xe9 imports rose. Talks resumed.".encode("latin-1"))
    result = runner.invoke(app, ["label", str(src), "-o", str(tmp_path / "o.jsonl"), "--model", str(tiny_model_dir)])
    assert result.exit_code == EXIT_INPUT_WARNINGS  # labelled and written, but flagged
    assert "Traceback" not in result.output
    assert "not valid UTF-8" in result.stderr and str(src) in result.stderr
    rows = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and "\ufffd" in rows[0]["text"]
    accepted = tmp_path / "accepted.jsonl"
    result = runner.invoke(app, ["label", str(src), "-o", str(accepted), "--model", str(tiny_model_dir), "--skip-bad"])
    assert result.exit_code == 0 and "not valid UTF-8" in result.stderr
    assert accepted.read_text() == (tmp_path / "o.jsonl").read_text()


def test_empty_file_warns_zero_rows(tmp_path: Path, tiny_model_dir: Path) -> None:
    src = tmp_path / "empty.txt"
    src.write_text("  \n")
    result = runner.invoke(app, ["label", str(src), "-o", str(tmp_path / "o.jsonl"), "--model", str(tiny_model_dir)])
    assert result.exit_code == EXIT_INPUT_WARNINGS
    assert "empty file" in result.stderr and str(src) in result.stderr
    assert (tmp_path / "o.jsonl").read_text() == ""


def test_binary_file(tmp_path: Path, tiny_model_dir: Path) -> None:
    src = tmp_path / "image.txt"
    src.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    result, _ = label(tmp_path, tiny_model_dir, str(src))
    assert result.exit_code == EXIT_USAGE
    assert "binary" in one_error_line(result)


@pytest.mark.parametrize("name", ["missing.txt", "missing_dir/"])
def test_missing_path(tmp_path: Path, tiny_model_dir: Path, name: str) -> None:
    result, out = label(tmp_path, tiny_model_dir, str(tmp_path / name))
    assert result.exit_code == EXIT_USAGE
    assert "no such file" in one_error_line(result)
    assert not out.exists()


def test_unreadable_path(tmp_path: Path, tiny_model_dir: Path) -> None:
    import os

    src = tmp_path / "locked.txt"
    src.write_text("Hello.")
    src.chmod(0)
    if os.access(src, os.R_OK):
        pytest.skip("running as a user who can read any file (root)")
    result, _ = label(tmp_path, tiny_model_dir, str(src))
    assert result.exit_code == EXIT_USAGE
    assert "cannot read" in one_error_line(result)


def test_unsupported_suffix(tmp_path: Path, tiny_model_dir: Path) -> None:
    src = tmp_path / "a.docx"
    src.write_bytes(b"PK")
    result, _ = label(tmp_path, tiny_model_dir, str(src))
    assert result.exit_code == EXIT_USAGE
    assert "unsupported file type" in one_error_line(result)


def test_missing_and_incomplete_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    import shutil

    src = tmp_path / "a.txt"
    src.write_text("Hello.")
    result, _ = label(tmp_path, tmp_path / "nope", str(src))
    assert result.exit_code == EXIT_USAGE
    assert "model directory not found" in one_error_line(result)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").unlink()
    result, _ = label(tmp_path, broken, str(src))
    assert result.exit_code == EXIT_USAGE
    assert "model.safetensors is missing" in one_error_line(result)
    (broken / "config.json").write_text("{not json")
    result, _ = label(tmp_path, broken, str(src))
    assert "unreadable model config" in one_error_line(result)


def test_bad_format_option(tmp_path: Path, tiny_model_dir: Path) -> None:
    src = tmp_path / "a.txt"
    src.write_text("Hello.")
    result = runner.invoke(app, ["label", str(src), "-o", str(tmp_path / "o.xlsx"), "--model", str(tiny_model_dir)])
    assert result.exit_code == EXIT_USAGE
    assert "output format" in one_error_line(result)
