"""Batches: seeded length-grouped sampling and padding per batch, for every task."""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
IGNORE_INDEX = -100  # label of a position the loss skips (padding, non-first word pieces)


def input_keys(columns: Sequence[str]) -> list[str]:
    return [k for k in MODEL_INPUTS if k in columns]


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Seeded batches of similar-length rows.

    Shuffle all indices, cut them into mega-batches of ``50 * batch_size``, sort each by
    length, cut into batches and shuffle the batches. Padding per batch then costs little,
    while batches stay random across epochs. ``group_by_length=False`` gives plain random
    batches. ``short_batch_last``: the one short batch goes last (multi-process runs).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, group_by_length: bool = True,
                 mega: int = 50, short_batch_last: bool = False):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.group = group_by_length
        self.mega = mega
        # Several processes: accelerate's batch-sampler shards take a short batch for the
        # end of the data and skip a round of batches where one comes earlier.
        self.short_batch_last = short_batch_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.lengths))
        if self.group:
            size = self.mega * self.batch_size
            chunks = [order[i:i + size] for i in range(0, len(order), size)]
            order = np.concatenate([c[np.argsort(-self.lengths[c], kind="stable")] for c in chunks])
        batches = [order[i:i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)]
        if self.group:
            perm = rng.permutation(len(batches))
            batches = [batches[i] for i in perm]
            if self.short_batch_last:  # stable: the full batches keep their shuffled order
                batches.sort(key=lambda b: len(b) < self.batch_size)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)


class PadCollator:
    """Pad each batch to its longest row (not to max_length).

    Input columns are padded with the tokenizer's pad id (``input_ids``) or 0; nested
    rows (multiple choice: one row per candidate) are padded on their last axis too.
    Label columns holding a sequence per row (token labels) are padded with -100, the
    index the loss ignores; scalar labels keep their dtype (float for regression).

    On a GPU the width is rounded up to a multiple of 8 (``multiple_of``), the shapes tensor
    cores run fastest; on a CPU it is not (every pad token costs time there).
    """

    def __init__(self, pad_token_id: int, columns: Sequence[str], label_keys: Sequence[str] = (),
                 multiple_of: int | None = None):
        self.pad_token_id = pad_token_id
        self.keys = input_keys(columns)
        self.label_keys = list(label_keys)
        self.multiple_of = multiple_of or (8 if torch.cuda.is_available() else 1)

    def _pad(self, seqs: list, value: int) -> torch.Tensor:
        nested = isinstance(seqs[0][0], list)
        flat = [s for group in seqs for s in group] if nested else seqs
        width = -(-max(len(s) for s in flat) // self.multiple_of) * self.multiple_of
        t = torch.tensor([list(s) + [value] * (width - len(s)) for s in flat], dtype=torch.long)
        return t.view(len(seqs), -1, width) if nested else t

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        out = {k: self._pad([r[k] for r in rows], self.pad_token_id if k == "input_ids" else 0)
               for k in self.keys}
        for k in self.label_keys:
            values = [r[k] for r in rows]
            out[k] = self._pad(values, IGNORE_INDEX) if isinstance(values[0], list) else torch.tensor(values)
        return out
