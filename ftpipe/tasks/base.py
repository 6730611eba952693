"""The task interface: what differs between tasks, and nothing else.

The stages (prepare, tokenize, train, predict, evaluate) are the same for every task; they
call these methods. Batching, precision, the training loop, checkpoints, inference (one
sorted-by-length forward loop) and logging live in task-free modules and never change when
a task is added (the design of google-research/electra's ``finetune/task.py``).

Contract, verb by verb:

* ``prepare(data_cfg)`` reads the task's data -> ``{split: [record, ...]}`` (JSON-able
  dicts; splits ``train``, ``eval`` and optionally ``test``), the load report, and
  ``meta`` (e.g. the label set), all written to ``data/prepared/<section>/``.
* ``featurize(records, tokenizer, tokenize_cfg, split, meta)`` -> columns (one row per
  model input; ``length`` = real tokens, used to sort and group) and stats.
* ``build_model`` creates the model with the task's head (``auto_model``,
  ``model_kwargs(meta)``); ``collator`` pads batches; ``label_keys`` are its targets.
* ``outputs(model_output)`` picks what inference keeps per row (``token_outputs`` are
  trimmed to each row's length); ``decode(rows, features, records, predict_cfg, meta)``
  turns them into predictions; ``score(predictions, records)`` -> metrics (fixed by the task,
  no params),
  where ``metric`` (``greater_is_better``) picks the best epoch.
* ``write_predictions`` / ``read_predictions``: the task's file formats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..config import DataConfig, ModelConfig, Section, TaskSection


class Task:
    name: str
    data_config: type[DataConfig]
    tokenize_config: type[Section]
    predict_config: type[Section]
    model_config: type[ModelConfig] = ModelConfig
    auto_model: str  # the transformers Auto class of the task head
    metric: str  # picks the best epoch
    greater_is_better: bool = True
    label_keys: tuple[str, ...] = ("labels",)
    token_outputs: tuple[str, ...] = ()  # per-token outputs, trimmed to each row's length
    splits: tuple[str, ...] = ("train", "eval", "test")  # the prepared splits featurize takes
    methods: tuple[str, ...] = ("full", "bitfit", "lora")  # the fine-tuning methods it supports

    # ------------------------------------------------------------ params
    def check_params(self, section: TaskSection, source: str, name: str) -> None:
        """Cross-section checks that need the task (keys that cannot apply together)."""

    # ------------------------------------------------------------ prepare
    def prepare(self, data: DataConfig) -> tuple[dict[str, list[dict]], dict, dict]:
        """-> ({split: records}, report, meta)."""
        raise NotImplementedError

    def splits_of(self, meta: dict) -> tuple[str, ...]:
        """The prepared splits this task tokenizes and predicts, given its prepared meta."""
        return self.splits

    def has_labels(self, records: list[dict]) -> bool:
        """Whether every record of a split has its gold label (a test split may have none)."""
        return all(r.get("label") is not None for r in records)

    def main_metric(self, meta: dict, section: Any = None) -> str:
        """The metric that picks the best epoch (a task may choose by its data, as GLUE does)."""
        return self.metric

    # ------------------------------------------------------------ tokenize
    def featurize(self, records: list[dict], tokenizer: Any, cfg: Section, split: str,
                  meta: dict) -> tuple[dict[str, list], dict]:
        """A ``DataError`` about a record names ``f"{split} split"`` as its source; the
        tokenize verb replaces that by the prepared file's path."""
        raise NotImplementedError

    # ------------------------------------------------------------ model
    def model_kwargs(self, meta: dict) -> dict:
        return {}

    def build_model(self, section: TaskSection, seed: int, trust_remote_code: bool, meta: dict,
                    tokenizer: Any = None):
        """The task's model (before the fine-tuning method is applied), pooling as
        ``model.pooling`` says where the task has that key."""
        from ..models import load_model, resolve_pooling, use_mean_pooling

        model = load_model(section.model, self.auto_model, seed, trust_remote_code, **self.model_kwargs(meta))
        pooling = resolve_pooling(getattr(section.model, "pooling", "cls"), section.model.dir)
        return use_mean_pooling(model) if pooling == "mean" else model

    def save(self, model: Any, tokenizer: Any, out_dir: Path) -> None:
        """Write a trained model so the predict stage (and other tasks) can load it."""
        from ..models import save_model

        save_model(model, tokenizer, out_dir)

    def collator(self, tokenizer: Any, columns: Sequence[str]):
        from ..batching import PadCollator

        return PadCollator(tokenizer.pad_token_id, columns, [k for k in self.label_keys if k in columns])

    # ------------------------------------------------------------ predict / evaluate
    def outputs(self, model_output: Any) -> dict[str, Any]:
        return {"logits": model_output.logits}

    def decode(self, rows: list[dict[str, np.ndarray]], features: Any, records: list[dict], cfg: Section,
               meta: dict) -> Any:
        raise NotImplementedError

    def score(self, predictions: Any, records: list[dict]) -> dict:
        raise NotImplementedError

    def write_predictions(self, out_dir: Path, predictions: Any, records: list[dict], split: str,
                          meta: dict) -> None:
        raise NotImplementedError

    def read_predictions(self, pred_dir: Path, split: str) -> Any:
        raise NotImplementedError
