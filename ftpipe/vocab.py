"""Does the tokenizer fit the data? Its vocabulary (the bundled English MiniLM on Chinese
DRCD: 59 % [UNK], multiple choice stays at chance), and its windows: a question that
leaves a passage no room."""

from __future__ import annotations

import sys
from typing import Any, Iterable, Sequence

from .errors import DataError

# Above this share of [UNK] tokens the model cannot read the data.
UNK_WARN_PCT = 5.0


def unknown_token_pct(sequences: Iterable[Sequence[int]], tokenizer: Any) -> float:
    """Percentage of real (non-padding) tokens that the vocabulary could only map to [UNK]."""
    unk, pad = tokenizer.unk_token_id, tokenizer.pad_token_id
    total = unknown = 0
    for ids in sequences:
        for i in ids:
            if i != pad:
                total += 1
                unknown += i == unk
    return round(100.0 * unknown / total, 3) if total and unk is not None else 0.0


def vocabulary_warning(pct: float, model_name: str, source: str) -> str | None:
    """A message when the tokenizer cannot represent the data (wrong language for the model)."""
    if pct <= UNK_WARN_PCT:
        return None
    return (f"WARNING: {source}: {pct:.1f} % of tokens are [UNK] for model {model_name!r}: its vocabulary "
            "does not cover this text (a different language?). Training will learn little; use a model "
            "whose vocabulary fits the data (e.g. bert-base-chinese for Chinese).")


def check_vocabulary(sequences: Iterable[Sequence[int]], tokenizer: Any, model_name: str, source: str) -> float:
    """The [UNK] percentage of ``sequences``, warning on stderr when the vocabulary does not fit."""
    pct = unknown_token_pct(sequences, tokenizer)
    warning = vocabulary_warning(pct, model_name, source)
    if warning:
        print(warning, file=sys.stderr)
    return pct


def check_question_lengths(records: list[dict], tokenizer: Any, max_length: int, source: str, stride: int = 0) -> None:
    """Fail early, naming the record, when a question (never truncated) leaves the passage
    beside it 8 tokens or fewer of a ``max_length`` sequence, or no more than ``stride``
    (windows overlapping by ``stride``: the fast tokenizer panics otherwise)."""
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    lengths = tokenizer([r["question"].lstrip() for r in records], add_special_tokens=False)["input_ids"]
    for r, ids in zip(records, lengths):
        context = room - len(ids)
        if context <= max(stride, 8):
            overlap = f" and more than tokenize.stride ({stride})" if stride > 8 else ""
            raise DataError(source, r["id"], "question",
                            f"question is {len(ids)} tokens; with max_length {max_length} the passage gets "
                            f"{max(context, 0)} tokens, which must be more than 8{overlap} (raise "
                            f"tokenize.max_length{', lower tokenize.stride' if overlap else ''} or shorten the question)")
