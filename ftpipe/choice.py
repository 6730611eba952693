"""Multiple choice: which candidate paragraph holds the answer to a question.

One feature per question: ``k`` sequences ``[CLS] question [SEP] paragraph [SEP]``
(the paragraph truncated to ``max_length``, the question never), nested as lists of
``k`` rows, and ``labels`` (the gold index; -1 when unknown, as in a test set). The model
is ``AutoModelForMultipleChoice``, trained by the same loop as the QA model.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from .qa import MODEL_INPUTS, autocast_for, input_keys
from .training import PadCollator

NO_LABEL = -1


def tokenize_choices(records: list[dict], tokenizer: Any, max_length: int) -> dict[str, list]:
    """Records with ``candidates`` (and ``label``) -> nested columns, one row per question."""
    k_of = [len(r["candidates"]) for r in records]
    questions = [r["question"].lstrip() for r, k in zip(records, k_of) for _ in range(k)]
    paragraphs = [p for r in records for p in r["candidates"]]
    enc = tokenizer(questions, paragraphs, truncation="only_second", max_length=max_length)
    cols: dict[str, list] = {k: [] for k in MODEL_INPUTS if k in enc}
    pos = 0
    for k in k_of:
        for key in cols:
            cols[key].append(enc[key][pos:pos + k])
        pos += k
    cols["labels"] = [NO_LABEL if r.get("label") is None else r["label"] for r in records]
    # Cost of a question ~ k x its longest sequence: what length-grouped batching sorts by.
    cols["length"] = [max(len(ids) for ids in group) for group in cols["input_ids"]]
    cols["id"] = [r["id"] for r in records]
    return cols


def train_collator(tokenizer: Any, columns: Sequence[str]) -> PadCollator:
    return PadCollator(tokenizer.pad_token_id, input_keys(columns), ("labels",))


@torch.inference_mode()
def choice_logits(model: torch.nn.Module, features: Any, pad_token_id: int, batch_size: int,
                  precision: str = "auto") -> np.ndarray:
    """Scores ``[questions, k]`` for every candidate (longest questions first: little padding)."""
    device = next(model.parameters()).device
    keys = input_keys(features.column_names)
    collate = PadCollator(pad_token_id, keys)
    lengths = np.asarray(features["length"])
    order = np.argsort(-lengths, kind="stable")
    cols = features.select_columns(keys)
    out: list[np.ndarray | None] = [None] * len(order)
    was_training = model.training
    model.eval()
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size].tolist()
        batch = {k: v.to(device) for k, v in collate([cols[i] for i in idx]).items()}
        with autocast_for(precision, device):
            logits = model(**batch).logits.float().cpu().numpy()
        for row, i in enumerate(idx):
            out[i] = logits[row]
    model.train(was_training)
    return np.stack(out) if out else np.zeros((0, 0))


def accuracy(logits: np.ndarray, labels: Sequence[int]) -> float:
    labels = np.asarray(labels)
    known = labels != NO_LABEL
    if not known.any():
        return float("nan")
    return float((logits.argmax(-1)[known] == labels[known]).mean())


def evaluator(features: Any, pad_token_id: int, batch_size: int, precision: str):
    """Per-epoch evaluation for the training loop: accuracy and mean cross-entropy."""
    labels = np.asarray(features["labels"])

    def evaluate(model: torch.nn.Module) -> dict:
        logits = choice_logits(model, features, pad_token_id, batch_size, precision)
        logp = torch.log_softmax(torch.from_numpy(logits), -1).numpy()
        known = np.flatnonzero(labels != NO_LABEL)
        return {"accuracy": accuracy(logits, labels),
                "loss": float(-logp[known, labels[known]].mean()) if len(known) else float("nan")}

    return evaluate


def load_trained(model_dir: str) -> tuple[torch.nn.Module, Any]:
    from transformers import AutoModelForMultipleChoice, AutoTokenizer

    return AutoModelForMultipleChoice.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)
