"""The lexical component: scikit-learn parity, files, weight choice, and training with it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_tiny_base

from stance.errors import ModelError
from stance.lexical import LEXICAL_JSON, LEXICAL_WEIGHTS, LexicalModel, log_softmax, mix
from stance.scheme import Scheme
from training.lexical import choose_weights, fit_lexical

TRAIN = [
    ("Beijing imposed new duties on US soybeans.", "escalation", "fact"),
    ("Washington raised tariffs on Chinese steel again.", "escalation", "fact"),
    ("The two sides agreed to pause the tariffs for 90 days.", "de-escalation", "fact"),
    ("Negotiators said the talks were constructive.", "de-escalation", "opinion"),
    ("Trade between the two reached $600 billion last year.", "neutral", "fact"),
    ("The meeting took place in a hotel in Geneva.", "neutral", "fact"),
    ("Analysts expect new tariffs on steel next month.", "escalation", "forecast"),
    ("The truce could be extended by another 90 days.", "de-escalation", "forecast"),
    ("Washington should drop the steel tariffs.", "de-escalation", "opinion"),
    ("Both sides met in Geneva again.", "de-escalation", "fact"),
]
SCHEME = Scheme.from_mapping({"stance": ["escalation", "de-escalation", "neutral"],
                              "claim_type": ["fact", "forecast", "opinion"]})
HELD_OUT = ["New tariffs on soybeans and steel.", "Talks in Geneva were constructive!", "Nothing known here", ""]


def fitted() -> LexicalModel:
    labels = {"stance": [s for _, s, _ in TRAIN], "claim_type": [c for _, _, c in TRAIN]}
    model = fit_lexical(SCHEME, [t for t, _, _ in TRAIN], labels, c=4.0, min_df=2, seed=0)
    assert model is not None
    return model


def test_logits_equal_scikit_learn_decision_values() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = [t for t, _, _ in TRAIN]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit(texts)
    x, x_new = vectorizer.transform(texts), vectorizer.transform(HELD_OUT)
    ours = fitted().logits(HELD_OUT)
    for task, column in (("stance", 1), ("claim_type", 2)):
        y = [row[column] for row in TRAIN]
        ids = [SCHEME[task].label2id[v] for v in y]
        clf = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced", random_state=0).fit(x, ids)
        np.testing.assert_allclose(ours[task], clf.decision_function(x_new), atol=1e-5)
        np.testing.assert_allclose(np.exp(log_softmax(ours[task].astype(np.float64))), clf.predict_proba(x_new), atol=1e-5)


def test_two_label_task_gives_scikit_learns_probabilities() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    scheme = Scheme.from_mapping({"urgent": ["no", "yes"]})
    texts = [t for t, _, _ in TRAIN]
    y = ["yes" if s == "escalation" else "no" for _, s, _ in TRAIN]
    model = fit_lexical(scheme, texts, {"urgent": y}, c=4.0, min_df=2, seed=0)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit(texts)
    clf = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced", random_state=0)
    clf.fit(vectorizer.transform(texts), [scheme["urgent"].label2id[v] for v in y])
    probs = np.exp(log_softmax(model.logits(HELD_OUT)["urgent"].astype(np.float64)))
    np.testing.assert_allclose(probs, clf.predict_proba(vectorizer.transform(HELD_OUT)), atol=1e-5)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    model = fitted()
    model.save(tmp_path)
    again = LexicalModel.load(tmp_path, {"stance": 0.3})
    for task, values in model.logits(HELD_OUT).items():
        np.testing.assert_array_equal(again.logits(HELD_OUT)[task], values)
    assert json.loads((tmp_path / LEXICAL_JSON).read_text())["kind"] == "tfidf-logreg"
    with pytest.raises(ModelError, match="no classifier for tasks"):
        LexicalModel.load(tmp_path, {"topic": 0.3})
    (tmp_path / LEXICAL_WEIGHTS).write_bytes(b"not safetensors")
    with pytest.raises(ModelError, match="unreadable lexical component"):
        LexicalModel.load(tmp_path)


def test_no_vocabulary_means_no_component() -> None:
    assert fit_lexical(SCHEME, ["a b", "c d"], {"stance": ["neutral"] * 2, "claim_type": ["fact"] * 2},
                       c=1.0, min_df=2, seed=0) is None


def test_weights_are_chosen_on_dev_and_zero_when_useless() -> None:
    gold = {"stance": ["escalation", "de-escalation", "neutral", "escalation"]}
    scheme = Scheme.from_mapping({"stance": ["escalation", "de-escalation", "neutral"]})
    wrong = np.array([[0, 3, 0], [0, 0, 3], [3, 0, 0], [0, 3, 0]], np.float32)  # encoder always wrong
    right = np.array([[3, 0, 0], [0, 3, 0], [0, 0, 3], [3, 0, 0]], np.float32)
    helped = choose_weights(scheme, {"stance": wrong}, {"stance": right}, gold, [0.2, 0.6, 0.9])
    assert helped["stance"]["weight"] == 0.6  # the smallest weight that fixes every label
    assert helped["stance"]["dev_macro_f1"] == 1.0 and helped["stance"]["dev_macro_f1_without"] == 0.0
    useless = choose_weights(scheme, {"stance": right}, {"stance": wrong}, gold, [0.2, 0.4])
    assert useless["stance"]["weight"] == 0.0


def test_mix_with_weight_zero_keeps_the_encoders_probabilities() -> None:
    z = np.array([[2.0, -1.0, 0.5]], np.float32)
    np.testing.assert_allclose(np.exp(mix(z, -z, 0.0)), np.exp(log_softmax(z.astype(np.float64))), rtol=1e-6)


def test_trained_model_carries_and_applies_the_component(tmp_path: Path) -> None:
    import stance
    from stance.export import export_onnx
    from training.config import build_config
    from training.trainer import train

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"text": t, "stance": s, "claim_type": c}) + "\n" for t, s, c in TRAIN))
    cfg = build_config({
        "model": {"base": str(make_tiny_base(tmp_path / "base")), "max_length": 32},
        "data": {"train": str(data), "dev": str(data)},
        "tasks": SCHEME.to_mapping(),
        "training": {"epochs": 1, "batch_size": 4},
        "lexical": {"weights": [0.5]},
        "output": str(tmp_path / "m"),
    })
    result = train(cfg, progress=False)
    assert result.metrics["lexical"]["used"]
    config = json.loads((result.output / "config.json").read_text())
    assert config["lexical"] and set(config["lexical"]) <= {"stance", "claim_type"}
    texts = [t for t, _, _ in TRAIN] + HELD_OUT
    model = stance.load(result.output)
    mixed = model.predictor.logits(texts)
    lexical = model.predictor.lexical.logits(texts)
    model.predictor.lexical = None
    encoder = model.predictor.logits(texts)
    for task, weight in config["lexical"].items():
        np.testing.assert_allclose(mixed[task], mix(encoder[task], lexical[task], weight), rtol=1e-5, atol=1e-5)
    model = stance.load(result.output)
    one_by_one = [model.predict([t])[0]["stance"].label for t in texts]
    assert [p["stance"].label for p in model.predict(texts)] == one_by_one
    onnx = export_onnx(result.output, tmp_path / "onnx")
    assert (onnx / LEXICAL_JSON).exists() and (onnx / LEXICAL_WEIGHTS).exists()
    assert [p["stance"].label for p in stance.load(onnx).predict(texts)] == one_by_one
