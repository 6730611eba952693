"""One forward loop for every task: rows sorted by length, padded per batch, no grad.

``forward_rows`` returns, per feature row and in the features' order, the arrays the task
picked from the model output (``Task.outputs``); per-token outputs are trimmed to the row's
real length, so padding never reaches post-processing. In a process group (the training
loop's evaluation under ``accelerate launch``, where every process calls it), each process
forwards every n-th batch, in the first process's precision, and they all gather every
row: the same rows as one process computes, in 1/n of the time.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from .batching import PadCollator, input_keys
from .precision import autocast_for, precision_name


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
    rank, world = process_group()
    if world > 1:  # one precision for every process's share (auto is a measurement on a CPU)
        choice = [precision_name(precision)]
        torch.distributed.broadcast_object_list(choice, src=0)
        precision = choice[0]
    was_training = model.training
    model.eval()
    for b in range(rank * batch_size, len(order), world * batch_size):
        idx = order[b:b + batch_size].tolist()
        batch = {k: v.to(device) for k, v in collate([cols[i] for i in idx]).items()}
        with autocast_for(precision, device):
            picked = {k: v.float().cpu().numpy() for k, v in pick(model(**batch)).items()}
        for r, i in enumerate(idx):
            n = int(lengths[i])
            rows[i] = {k: (v[r, :n] if k in token_outputs else v[r]) for k, v in picked.items()}
    model.train(was_training)
    if world > 1:
        mine = [(i, row) for i, row in enumerate(rows) if row is not None]
        gathered: list[Any] = [None] * world
        torch.distributed.all_gather_object(gathered, mine)
        for part in gathered:
            for i, row in part:
                rows[i] = row
    return rows  # type: ignore[return-value]


def process_group() -> tuple[int, int]:
    """(this process's rank, how many processes) of a started process group, else (0, 1)."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1
