"""train: build the task's model, fine-tune it with the shared loop, save final and best."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..checkpoint import tree_digest
from ..config import RunParams, to_dict
from ..io import load_features, read_json, read_jsonl
from ..models import apply_method, load_tokenizer
from ..tasks.base import Task
from ..training import Evaluation, train_and_save
from . import task_of
from .predict import predict_rows


def evaluator(task: Task, features: Any, records: list[dict], pad_token_id: int, params: RunParams,
              meta: dict):
    """The per-epoch evaluation of the training loop: the task's metrics on the eval split."""

    def evaluate(model) -> dict:
        predictions = predict_rows(task, model, features, records, pad_token_id, params, meta)
        return {k: v for k, v in task.score(predictions, records).items()
                if isinstance(v, float)}

    return evaluate


def build_model(task: Task, params: RunParams, meta: dict, tokenizer: Any = None):
    model = task.build_model(params.task, params.seed, params.encoder.trust_remote_code, meta, tokenizer)
    return apply_method(model, params.train)


def train(params: RunParams, features: str | Path, prepared: str | Path, out: str | Path, logs: str | Path,
          checkpoints: str | Path) -> dict:
    task = task_of(params)
    tokenizer = load_tokenizer(params.task.model.dir, params.encoder.trust_remote_code)
    meta = read_json(Path(prepared) / "meta.json")
    train_ds = load_features(Path(features) / "train")
    evaluation = Evaluation(
        evaluator(task, load_features(Path(features) / "eval"), read_jsonl(Path(prepared) / "eval.jsonl"),
                  tokenizer.pad_token_id, params, meta), task.main_metric(meta, params.task), task.greater_is_better)
    model = build_model(task, params, meta, tokenizer)
    # A checkpoint resumes only the same run: same params and the same weights and data
    # (an encoder or a data file replaced after a kill keeps every path and param).
    key_parts = [to_dict(params.task.model), to_dict(params.task.predict), params.predict.batch_size,
                 params.predict.precision, *map(tree_digest, (params.task.model.dir, features, prepared))]
    return train_and_save(model, tokenizer, train_ds, task.collator(tokenizer, train_ds.column_names), params.train,
                          params.seed, evaluation, out_dir=out, log_dir=logs, checkpoint_root=checkpoints,
                          key_parts=key_parts, save=task.save)
