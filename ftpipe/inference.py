"""One forward loop for every task: rows sorted by length, padded per batch, no grad.

``forward_rows`` returns, per feature row and in the features' order, the arrays the task
picked from the model output (``Task.outputs``); per-token outputs are trimmed to the row's
real length, so padding never reaches post-processing.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from .batching import PadCollator, input_keys
from .precision import autocast_for


@torch.inference_mode()
def forward_rows(model: torch.nn.Module, features: Any, pad_token_id: int, batch_size: int, precision: str,
                 pick: Callable[[Any], dict[str, torch.Tensor]],
                 token_outputs: Sequence[str] = ()) -> list[dict[str, np.ndarray]]:
    device = next(model.parameters()).device
    keys = input_keys(features.column_names)
    collate = PadCollator(pad_token_id, keys)
    lengths = np.asarray(features["length"])
    order = np.argsort(-lengths, kind="stable")  # longest first: little padding per batch
    cols = features.select_columns(keys)
    rows: list[dict[str, np.ndarray] | None] = [None] * len(order)
    was_training = model.training
    model.eval()
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size].tolist()
        batch = {k: v.to(device) for k, v in collate([cols[i] for i in idx]).items()}
        with autocast_for(precision, device):
            picked = {k: v.float().cpu().numpy() for k, v in pick(model(**batch)).items()}
        for r, i in enumerate(idx):
            n = int(lengths[i])
            rows[i] = {k: (v[r, :n] if k in token_outputs else v[r]) for k, v in picked.items()}
    model.train(was_training)
    return rows  # type: ignore[return-value]
