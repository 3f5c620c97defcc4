"""Training on tiny models built in the tests: overfit, new label schemes, bad data, config."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import make_tiny_base
from typer.testing import CliRunner

from stance.cli import app
from stance.errors import EXIT_USAGE, ConfigError, ModelError

runner = CliRunner()

TOY = [
    ("Steel tariffs rose sharply today.", "steel", "high"),
    ("Chip export controls were tightened.", "chips", "high"),
    ("A quiet week for steel mills.", "steel", "low"),
    ("Chip makers reported steady sales.", "chips", "low"),
    ("Washington slapped new duties on steel.", "steel", "high"),
    ("New curbs hit semiconductor tools.", "chips", "high"),
    ("Steel output was flat in May.", "steel", "low"),
    ("Wafer shipments were unchanged.", "chips", "low"),
]


# training settings that let a tiny model memorise TOY
OVERFIT = {"epochs": 60, "lr": 3e-3, "batch_size": 8, "warmup_ratio": 0.0, "weight_decay": 0.0,
           "class_weighting": "none", "patience": 0, "calibrate": False}


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_base(tmp_path_factory.mktemp("tiny-base"))


def write_csv(path: Path, rows, header=("text", "topic", "urgency")) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16-autocast"])
def test_overfits_a_tiny_set(tmp_path: Path, tiny_base: Path, bf16: bool) -> None:
    import stance
    from training.config import build_config
    from training.trainer import train

    data = write_csv(tmp_path / "toy.csv", TOY)
    cfg = build_config({
        "model": {"base": str(tiny_base), "max_length": 32, "dropout": 0.0},
        "data": {"train": str(data)},
        "task_columns": ["topic", "urgency"],
        "training": {**OVERFIT, "bf16": bf16},
        "output": str(tmp_path / "m"),
    })
    result = train(cfg, progress=False)
    model = stance.load(result.output)
    preds = model.predict([t for t, _, _ in TOY])
    assert [(p["topic"].label, p["urgency"].label) for p in preds] == [(a, b) for _, a, b in TOY]


def test_new_label_scheme_end_to_end_from_the_cli(tmp_path: Path, tiny_base: Path) -> None:
    data = write_csv(tmp_path / "toy.csv", TOY)
    out = tmp_path / "toy-model"
    result = runner.invoke(app, [
        "train", "--train", str(data), "--dev", str(data), "--task", "topic", "--task", "urgency",
        "--base", str(tiny_base), "--epochs", "2", "--output", str(out), "-q",
    ])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["tasks"] == {"topic": ["chips", "steel"], "urgency": ["high", "low"]}
    assert config["id2label"]["urgency"] == {"0": "high", "1": "low"}
    for name in ("model.safetensors", "tokenizer.json", "metrics.json", "training_config.json", "README.md"):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["dev"]["tasks"]) == {"topic", "urgency"}
    labelled = tmp_path / "labelled.jsonl"
    result = runner.invoke(app, ["label", str(data), "-o", str(labelled), "--model", str(out), "-q"])
    assert result.exit_code == 0, result.output
    row = json.loads(labelled.read_text().splitlines()[0])
    assert row["topic"] in ("chips", "steel") and "urgency_score" in row
    assert row["topic_input"] == "steel"  # the input's own column, renamed, passes through


def test_same_seed_same_metrics(tmp_path: Path, tiny_base: Path) -> None:
    from training.config import build_config
    from training.trainer import train

    data = write_csv(tmp_path / "toy.csv", TOY)
    scores = []
    for run in ("a", "b"):
        cfg = build_config({
            "model": {"base": str(tiny_base), "max_length": 32},
            "data": {"train": str(data), "dev": str(data)},
            "task_columns": ["topic", "urgency"],
            "training": {"epochs": 3, "batch_size": 4, "seed": 7},
            "output": str(tmp_path / run),
        })
        scores.append(train(cfg, progress=False).metrics["dev"]["mean_macro_f1"])
    assert scores[0] == pytest.approx(scores[1], abs=0.005)


def test_fewer_layers_of_the_base(tmp_path: Path, tiny_base: Path) -> None:
    """model.layers keeps the base's first layers: the saved model has them only, and loads."""
    import stance
    from training.config import build_config
    from training.trainer import train

    data = write_csv(tmp_path / "toy.csv", TOY)
    base = {"model": {"base": str(tiny_base), "max_length": 32, "layers": 1},
            "data": {"train": str(data), "dev": str(data)}, "task_columns": ["topic", "urgency"],
            "training": {"epochs": 1, "batch_size": 4}, "output": str(tmp_path / "one")}
    train(build_config(base), progress=False)
    config = json.loads((tmp_path / "one" / "config.json").read_text())
    assert config["encoder"]["num_hidden_layers"] == 1
    assert stance.load(tmp_path / "one").predict(["Steel tariffs rose."])[0]["topic"].label
    with pytest.raises(ModelError, match="has only 2 layers"):
        train(build_config({**base, "model": {**base["model"], "layers": 5}, "output": str(tmp_path / "five")}), progress=False)


def test_frozen_embeddings_stay_as_pretrained(tmp_path: Path, tiny_base: Path) -> None:
    """training.freeze_embeddings keeps the token embeddings of the base; the layers still learn."""
    from safetensors.numpy import load_file

    from training.config import build_config
    from training.trainer import train

    def weights(path: Path, suffix: str):
        tensors = load_file(path)
        return next(v for k, v in tensors.items() if k.endswith(suffix))

    data = write_csv(tmp_path / "toy.csv", TOY)
    for freeze in (True, False):
        out = tmp_path / f"freeze-{freeze}"
        train(build_config({
            "model": {"base": str(tiny_base), "max_length": 32},
            "data": {"train": str(data)}, "task_columns": ["topic", "urgency"],
            "training": {**OVERFIT, "epochs": 2, "freeze_embeddings": freeze}, "output": str(out),
        }), progress=False)
        embeddings = "word_embeddings.weight"
        same = (weights(out / "model.safetensors", embeddings) == weights(tiny_base / "model.safetensors", embeddings)).all()
        assert same == freeze
        layer = "layer.0.output.dense.weight"
        assert not (weights(out / "model.safetensors", layer) == weights(tiny_base / "model.safetensors", layer)).all()


def test_distillation_loss_is_zero_when_the_student_matches_the_teacher(tiny_base: Path) -> None:
    import torch

    from stance.modeldir import ModelConfig
    from stance.network import MultiTaskModel, load_pretrained_encoder
    from stance.scheme import Scheme

    encoder, enc_cfg = load_pretrained_encoder(str(tiny_base))
    model = MultiTaskModel(encoder, ModelConfig(scheme=Scheme.from_mapping({"a": ["x", "y"], "b": ["p", "q", "r"]}),
                                                base_model="tiny", encoder=enc_cfg))
    torch.manual_seed(0)
    logits = {"a": torch.randn(4, 2), "b": torch.randn(4, 3)}
    labels = torch.tensor([[0, 2], [1, 0], [1, 1], [0, -100]])
    same = torch.cat([logits["a"], logits["b"]], dim=1)
    ce = model.loss(logits, labels)
    model.distillation = (1.0, 2.0)
    assert float(model.loss(logits, labels, same)) == pytest.approx(0.0, abs=1e-6)
    assert float(model.loss(logits, labels, same + torch.tensor([3.0, 0, 0, 0, 2.0]))) > 0.1
    model.distillation = (0.25, 2.0)
    assert float(model.loss(logits, labels, same)) == pytest.approx(0.75 * float(ce), rel=1e-5)


def test_distilled_student_learns_the_teacher_without_labels(tmp_path: Path, tiny_base: Path) -> None:
    """With distill.weight = 1 the student sees only the teacher's logits, and still learns its labels."""
    import stance
    from training.config import build_config
    from training.trainer import train

    data = write_csv(tmp_path / "toy.csv", TOY)
    recipe = {
        "model": {"base": str(tiny_base), "max_length": 32, "dropout": 0.0},
        "data": {"train": str(data)},
        "task_columns": ["topic", "urgency"],
        "training": OVERFIT,
        "output": str(tmp_path / "teacher"),
    }
    teacher = train(build_config(recipe), progress=False).output
    # weight 1: the labels' cross-entropy has weight 0, so only the teacher can teach the student
    student_recipe = {**recipe, "model": {**recipe["model"], "layers": 1},
                      "distill": {"teacher": str(teacher), "weight": 1.0, "temperature": 1.0},
                      "output": str(tmp_path / "student")}
    student = train(build_config(student_recipe), progress=False).output
    texts = [t for t, _, _ in TOY]
    want = [(p["topic"].label, p["urgency"].label) for p in stance.load(teacher).predict(texts)]
    got = [(p["topic"].label, p["urgency"].label) for p in stance.load(student).predict(texts)]
    assert got == want
    assert f"distilled from `{teacher}` (weight 1.0, temperature 1.0)" in (student / "README.md").read_text()
    with pytest.raises(ConfigError, match="no model directory there"):
        train(build_config({**student_recipe, "distill": {"teacher": str(tmp_path / "none")}}), progress=False)
    with pytest.raises(ConfigError, match="differ from the student's"):
        train(build_config({**student_recipe, "task_columns": ["topic"], "output": str(tmp_path / "x")}), progress=False)


@pytest.mark.parametrize(
    ("dev_rows", "header", "message"),
    [
        ([("Steel up.", "stel", "high")], ("text", "topic", "urgency"), "toy-dev.csv:2: unknown topic label 'stel'"),
        ([("", "steel", "high")], ("text", "topic", "urgency"), "toy-dev.csv:2: empty or missing text"),
        ([("Steel up.", "steel")], ("text", "topic"), "missing column 'urgency'"),
    ],
)
def test_bad_training_data_fails_before_training(tmp_path: Path, tiny_base: Path, dev_rows, header, message) -> None:
    train_csv = write_csv(tmp_path / "toy.csv", TOY)
    dev_csv = write_csv(tmp_path / "toy-dev.csv", dev_rows, header)
    result = runner.invoke(app, [
        "train", "--train", str(train_csv), "--dev", str(dev_csv), "--task", "topic", "--task", "urgency",
        "--base", str(tiny_base), "-o", str(tmp_path / "m"), "-q",
    ])
    assert result.exit_code == EXIT_USAGE, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "m").exists()


def test_warnings_for_rare_labels_and_shared_texts(tmp_path: Path, tiny_base: Path, caplog) -> None:
    from training.data import check_examples, load_examples, resolve_scheme

    train_csv = write_csv(tmp_path / "toy.csv", TOY)
    ex = load_examples(train_csv, "text", ["topic", "urgency"])
    scheme = resolve_scheme(None, ["topic", "urgency"], ex)
    with caplog.at_level("WARNING", logger="stance"):
        check_examples(scheme, ex, {"test": ex[:2]}, min_examples=5)
    text = caplog.text
    assert "only 4 training examples" in text
    assert "2 test texts also occur in train" in text


def test_unreadable_training_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--train", str(tmp_path / "nope.csv"), "--task", "x", "-q"])
    assert result.exit_code == EXIT_USAGE
    assert "nope.csv: no such file" in result.stderr


def test_config_rejects_unknown_keys_and_quotes_bad_values(tmp_path: Path) -> None:
    from training.config import build_config, load_config

    with pytest.raises(ConfigError, match="unknown key 'training.learning_rate'"):
        build_config({"data": {"train": "x"}, "task_columns": ["a"], "training": {"learning_rate": 1}})
    with pytest.raises(ConfigError, match=r"training.epochs = 0"):
        build_config({"data": {"train": "x"}, "task_columns": ["a"], "training": {"epochs": 0}})
    with pytest.raises(ConfigError, match="duplicate labels"):
        build_config({"data": {"train": "x"}, "tasks": {"a": ["x", "x"]}})
    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "default.toml",
                      ["training.lr=3e-5", "output=runs/x", "training.class_weighting=\"none\""])
    assert cfg.training.lr == 3e-5 and cfg.output == "runs/x" and cfg.training.class_weighting == "none"
    assert cfg.tasks is not None and list(cfg.tasks) == ["stance", "claim_type"]
    result = runner.invoke(app, ["train", "configs/default.toml", "--set", "training.epochs=-1", "-q"])
    assert result.exit_code == EXIT_USAGE and "training.epochs = -1" in result.stderr


def test_context_pairs_append_the_previous_sentence_of_the_same_article() -> None:
    from training.context_pairs import with_previous

    rows = [
        {"doc_id": "a", "sentence": 0, "text": "Tariffs rose."},
        {"doc_id": "a", "sentence": 1, "text": "Talks stalled."},
        {"doc_id": "b", "sentence": 0, "text": "A deal was signed."},
    ]
    assert [r["text"] for r in with_previous(rows)] == [
        "Tariffs rose.",
        "Talks stalled. [SEP] Tariffs rose.",
        "A deal was signed.",
    ]
