"""Shared fixtures: a tiny random-init BERT built from a config (with the bundled
uncased WordPiece tokenizer), and small QA records written for the tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Under pytest-xdist (make test: one worker per core) each worker gets its share of the
# cores, for torch here and the stage subprocesses it starts; oversubscribed OpenMP threads
# spin against each other.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1)
                                                    // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def tokenizer():
    from ftpipe.models import load_tokenizer

    return load_tokenizer("bundled")


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


class Interrupt(Exception):
    """A simulated kill of a training run, raised by :class:`DyingCollate`."""


class DyingCollate:
    """A collate function that counts the batches it builds (the batches trained) and raises
    :class:`Interrupt` at call ``die_at``: a run killed mid-training, resumed with
    ``reset()``."""

    def __init__(self, base, die_at: int | None):
        self.base, self.die_at, self.n = base, die_at, 0

    def __call__(self, batch):
        self.n += 1
        if self.n == self.die_at:
            raise Interrupt
        return self.base(batch)

    def reset(self) -> None:
        """From now on count from zero and never die (the resumed run)."""
        self.n, self.die_at = 0, None


def model_config(path, pretrained: bool = True, dropout: float | None = None):
    """A task's ``model`` section for the model directory ``path`` (dropout as built)."""
    from ftpipe.config import ModelConfig

    return ModelConfig(dir=str(path), pretrained=pretrained, dropout=dropout)


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


def repo_params() -> dict:
    import yaml

    return yaml.safe_load((REPO / "params.yaml").read_text())


def train_config(**overrides):
    """params.yaml's shared train section with ``overrides`` (``lr`` a number: every method's)."""
    from ftpipe.config import TrainConfig, build, deep_merge

    if "lr" in overrides and not isinstance(overrides["lr"], dict):
        lr = overrides.pop("lr")
        overrides["lr"] = {"full": lr, "bitfit": lr, "lora": lr}
    return build(TrainConfig, deep_merge(repo_params()["train"], overrides), "train")


def run_params(section: str = "qa", path: Path | None = None, **predict):
    """RunParams of the repository's params.yaml (or ``path``) for ``section``; ``predict``
    overrides keys of the shared predict section (e.g. precision="fp32")."""
    import yaml

    from ftpipe.config import load_params

    data = repo_params() if path is None else yaml.safe_load(Path(path).read_text())
    data["predict"].update(predict)
    tmp = Path(__import__("tempfile").mkdtemp()) / "params.yaml"
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_params(tmp, section)


# ---------------------------------------------------------------- a tiny copy of the pipeline

PROJECT_FILES = ["dvc.yaml", "params.yaml", "stages", "ftpipe", "data/sample", "data/raw", "data/hub", ".dvc/config",
                 ".dvcignore", ".gitignore"]


def sh(cmd, cwd, check=True, **env_extra):
    import os
    import subprocess
    import sys

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", PYTHONPATH=str(cwd),
               **env_extra)
    p = subprocess.run(cmd, cwd=cwd, shell=True, capture_output=True, text=True, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def ran(output: str) -> set[str]:
    """The stages a dvc repro / exp run output says it ran."""
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


TINY_ELECTRA = {"embedding_size": 16, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                "intermediate_size": 64}


def make_project(root: Path, tiny_model_dir: Path, edit=None) -> Path:
    """A copy of the repository's pipeline in ``root`` (a git repo), on the tiny model and a
    slice of the embedded data; ``edit(params)`` may change params further."""
    import shutil

    import yaml

    for rel in PROJECT_FILES:
        src = REPO / rel
        if not src.exists():
            continue
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["encoder"]["name"] = str(tiny_model_dir)
    params["qa"]["data"]["max_examples"] = 40
    for section in ("qa", "mc", "cola", "stsb", "chunking"):
        params[section]["train"].update(epochs=2, log_every=1)
    params["pretrain"]["model"].update(size="custom", custom=TINY_ELECTRA)
    params["pretrain"]["train"].update(epochs=2, log_every=1, eval_every=2)
    if edit:
        edit(params)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("git init -q && git config user.email t@t && git config user.name t", root)
    return root


@pytest.fixture(scope="session")
def repro_project(tmp_path_factory, tiny_model_dir):
    """The tiny pipeline after one `dvc repro`, every stage recording the params keys it read
    (and writing Python's bytecode caches into the code it imports, as by default)."""
    root = make_project(tmp_path_factory.mktemp("project"), tiny_model_dir)
    audit = root.parent / "params-audit"
    out = sh("dvc repro", root, FTPIPE_PARAMS_AUDIT=str(audit), PYTHONDONTWRITEBYTECODE="").stdout
    return root, out, audit
