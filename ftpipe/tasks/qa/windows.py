"""Sliding-window tokenization for extractive QA.

The question comes first and is never truncated; the context is cut into windows of
``max_length`` tokens that overlap by ``stride`` tokens (``truncation="only_second"``).

Training windows carry ``start_positions`` / ``end_positions``: the tokens holding the
answer's first and last characters, or the CLS position (0) when the answer is not
wholly inside the window or the question has no answer (SQuAD v2).

Evaluation windows carry ``example_id`` and ``offset_mapping`` in which every token
that is not part of the context is ``[-1, -1]``, so post-processing can map a token span
back to characters of the context without knowing the tokenizer.
"""

from __future__ import annotations

from typing import Any, Sequence

NOT_CONTEXT = [-1, -1]


def _encode(examples: dict[str, list], tokenizer: Any, max_length: int, stride: int, pad: bool) -> Any:
    # Some SQuAD questions start with lots of white space, which would waste window room.
    questions = [q.lstrip() for q in examples["question"]]
    return tokenizer(
        questions,
        examples["context"],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length" if pad else False,
    )


def tokenize_train(examples: dict[str, list], tokenizer: Any, max_length: int, stride: int,
                   pad_to_max_length: bool = False) -> dict[str, list]:
    """Columns in, windows out (one example may give several windows)."""
    enc = _encode(examples, tokenizer, max_length, stride, pad_to_max_length)
    sample_map = enc.pop("overflow_to_sample_mapping")
    offsets_all = enc.pop("offset_mapping")
    starts, ends = [], []
    for i, offsets in enumerate(offsets_all):
        input_ids = enc["input_ids"][i]
        cls_index = input_ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in input_ids else 0
        seq_ids = enc.sequence_ids(i)
        answers = examples["answers"][sample_map[i]]
        if not answers["answer_start"]:
            starts.append(cls_index)
            ends.append(cls_index)
            continue
        start_char = answers["answer_start"][0]
        end_char = start_char + len(answers["text"][0])
        ctx_first = seq_ids.index(1)
        ctx_last = len(seq_ids) - 1 - seq_ids[::-1].index(1)
        if offsets[ctx_first][0] > start_char or offsets[ctx_last][1] < end_char:
            starts.append(cls_index)  # answer not wholly inside this window
            ends.append(cls_index)
            continue
        tok = ctx_first
        while tok <= ctx_last and offsets[tok][0] <= start_char:
            tok += 1
        starts.append(tok - 1)
        tok = ctx_last
        while tok >= ctx_first and offsets[tok][1] >= end_char:
            tok -= 1
        ends.append(tok + 1)
    enc["start_positions"] = starts
    enc["end_positions"] = ends
    enc["length"] = [sum(m) for m in enc["attention_mask"]]
    enc["example_index"] = list(sample_map)
    return dict(enc)


def tokenize_eval(examples: dict[str, list], tokenizer: Any, max_length: int, stride: int,
                  pad_to_max_length: bool = False) -> dict[str, list]:
    enc = _encode(examples, tokenizer, max_length, stride, pad_to_max_length)
    sample_map = enc.pop("overflow_to_sample_mapping")
    example_ids, offsets_out = [], []
    for i, offsets in enumerate(enc["offset_mapping"]):
        seq_ids = enc.sequence_ids(i)
        example_ids.append(examples["id"][sample_map[i]])
        offsets_out.append([list(o) if seq_ids[k] == 1 else NOT_CONTEXT for k, o in enumerate(offsets)])
    enc["offset_mapping"] = offsets_out
    enc["example_id"] = example_ids
    enc["length"] = [sum(m) for m in enc["attention_mask"]]
    return dict(enc)


def to_columns(records: list[dict], keys: tuple[str, ...] = ("id", "question", "context", "answers")) -> dict[str, list]:
    return {k: [r[k] for r in records] for k in keys}
