"""Extractive QA glue: features on disk -> model -> logits -> answers -> metrics.

The stage scripts call these functions; so do the tests and benchmarks, without DVC.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .config import PredictConfig
from .metrics import squad_metrics
from .postprocess import postprocess
from .training import PadCollator, resolve_precision

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def input_keys(columns: Sequence[str]) -> list[str]:
    return [k for k in MODEL_INPUTS if k in columns]


def train_collator(tokenizer: Any, columns: Sequence[str]) -> PadCollator:
    return PadCollator(tokenizer.pad_token_id, input_keys(columns), ("start_positions", "end_positions"))


def autocast_for(precision: str, device: torch.device):
    mp = resolve_precision(precision)
    if mp == "no":
        return nullcontext()
    dtype = torch.bfloat16 if mp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.inference_mode()
def window_logits(model: torch.nn.Module, features: Any, pad_token_id: int, batch_size: int,
                  precision: str = "auto") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Start/end logits of every window, each trimmed to the window's own length.

    Windows are run longest first in padded-per-batch groups (sorted, so little padding).
    """
    device = next(model.parameters()).device
    keys = input_keys(features.column_names)
    collate = PadCollator(pad_token_id, keys)
    lengths = np.asarray(features["length"])
    order = np.argsort(-lengths, kind="stable")
    starts: list[np.ndarray | None] = [None] * len(order)
    ends: list[np.ndarray | None] = [None] * len(order)
    was_training = model.training
    model.eval()
    cols = features.select_columns(keys)
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size].tolist()
        batch = {k: v.to(device) for k, v in collate([cols[i] for i in idx]).items()}
        with autocast_for(precision, device):
            out = model(**batch)
        s = out.start_logits.float().cpu().numpy()
        e = out.end_logits.float().cpu().numpy()
        for row, i in enumerate(idx):
            n = int(lengths[i])
            starts[i], ends[i] = s[row, :n], e[row, :n]
    model.train(was_training)
    return starts, ends  # type: ignore[return-value]


def predict(model: torch.nn.Module, features: Any, examples: list[dict], pad_token_id: int,
            cfg: PredictConfig, version_2: bool, precision: str = "auto") -> tuple[dict, dict, dict]:
    """Answers for ``examples``; returns (predictions, nbest, timings)."""
    t0 = time.perf_counter()
    starts, ends = window_logits(model, features, pad_token_id, cfg.batch_size, precision)
    t1 = time.perf_counter()
    preds, nbest = postprocess(examples, features["example_id"], features["offset_mapping"], starts, ends,
                               n_best_size=cfg.n_best_size, max_answer_length=cfg.max_answer_length,
                               version_2=version_2, null_score_diff_threshold=cfg.null_score_diff_threshold)
    t2 = time.perf_counter()
    return preds, nbest, {"forward_s": t1 - t0, "postprocess_s": t2 - t1}


def evaluator(features: Any, examples: list[dict], pad_token_id: int, cfg: PredictConfig, version_2: bool,
              precision: str):
    """The per-epoch evaluation used by the training loop: EM/F1 on the evaluation set."""

    def evaluate(model: torch.nn.Module) -> dict:
        preds, _, _ = predict(model, features, examples, pad_token_id, cfg, version_2, precision)
        m = squad_metrics(preds, examples)
        return {k: v for k, v in m.items() if isinstance(v, float)}

    return evaluate


def load_features(path: str | Path):
    import datasets

    return datasets.load_from_disk(str(path))


def load_trained(model_dir: str | Path):
    """A model saved by the train stage (any method: LoRA is merged before saving)."""
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    model = AutoModelForQuestionAnswering.from_pretrained(str(model_dir))
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return model, tokenizer

