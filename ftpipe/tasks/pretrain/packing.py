"""ELECTRA's pretraining examples (google-research/electra, build_pretraining_dataset.py).

Sentences are added to the example being built until it holds ``target_length`` tokens
or the document ends (an example never crosses a document boundary). The sentences are
then split into two segments: the first takes sentences while it is shorter than half
the room (or, with probability 0.1, all of them: one segment, as in classification
tasks); ``[CLS] A [SEP] B [SEP]`` with segment ids 0 / 1, trimmed to ``max_length``. After
each example the next target is ``max_length`` or, with probability ``short_seq_prob``, a
random length between 5 and ``max_length``. Seeded: the same text gives the same examples.
"""

from __future__ import annotations

import random


class ExampleBuilder:
    def __init__(self, max_length: int, short_seq_prob: float, seed: int, cls_id: int, sep_id: int):
        self.max_length, self.short_seq_prob = max_length, short_seq_prob
        self.cls_id, self.sep_id = cls_id, sep_id
        self.rng = random.Random(seed)
        self.target = max_length
        self.current: list[list[int]] = []
        self.length = 0

    def add_document(self, sentences: list[list[int]]) -> list[dict]:
        out = []
        for ids in sentences:
            self.current.append(ids)
            self.length += len(ids)
            if self.length >= self.target:
                out.append(self._example())
        if self.current:  # the document ends: so does the example
            out.append(self._example())
        return out

    def _segments(self) -> tuple[list[int], list[int]]:
        if self.rng.random() < 0.1:
            first_target = 100_000
        else:
            first_target = (self.target - 3) // 2
        first: list[int] = []
        second: list[int] = []
        for ids in self.current:
            if (not first or len(first) + len(ids) < first_target
                    or (not second and len(first) < first_target and self.rng.random() < 0.5)):
                first += ids
            else:
                second += ids
        first = first[:self.max_length - 2]
        second = second[:max(0, self.max_length - len(first) - 3)]
        return first, second

    def _example(self) -> dict:
        first, second = self._segments()
        self.current, self.length = [], 0
        self.target = (self.rng.randint(5, self.max_length) if self.rng.random() < self.short_seq_prob
                       else self.max_length)
        ids = [self.cls_id] + first + [self.sep_id]
        types = [0] * len(ids)
        if second:
            ids += second + [self.sep_id]
            types += [1] * (len(second) + 1)
        return {"input_ids": ids, "token_type_ids": types, "attention_mask": [1] * len(ids), "length": len(ids)}
