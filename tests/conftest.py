"""Shared fixtures: a tiny random-init BERT built from a config (with the bundled
uncased WordPiece tokenizer), and small QA records written for the tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def tokenizer():
    from ftpipe.config import ModelConfig
    from ftpipe.models import load_tokenizer

    return load_tokenizer(ModelConfig(name="bundled"))


def make_tiny_model_dir(path: Path, tokenizer) -> Path:
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=512)
    BertForQuestionAnswering(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer) -> Path:
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny-bert"), tokenizer)


def squad_json(articles: list[dict]) -> dict:
    return {"version": "1.1", "data": articles}


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


CONTEXT = ("The Nile is a major river in northeastern Africa. It flows north for about 6,650 kilometres "
           "and empties into the Mediterranean Sea near Alexandria.")


def record(qid="q1", question="Where does the Nile empty?", answer="the Mediterranean Sea", context=CONTEXT,
           start=None, **extra) -> dict:
    start = context.index(answer) if start is None else start
    return {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": start}], **extra}


@pytest.fixture
def squad_file(tmp_path) -> Path:
    para = {"context": CONTEXT, "qas": [record("q1"), record("q2", "How long is the Nile?", "about 6,650 kilometres")]}
    return write_json(tmp_path / "squad.json", squad_json([{"title": "Nile", "paragraphs": [para]}]))
