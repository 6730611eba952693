"""Chunk scoring as the CoNLL shared tasks' ``conlleval`` script computes it.

A tag is ``O`` or ``<prefix>-<type>`` (``B-NP``, ``I-VP``; ``E-`` is read as conlleval
reads it). Chunks are found with conlleval's own start/end rules, so BIO and
IOB1 input both work: an ``I-`` tag after ``O`` or after a tag of another type starts a
chunk, and a type change ends one. A chunk counts as correct only when the predicted and
the gold chunk have the same type and the same first and last token. Sentences are
scored apart (a chunk never crosses a sentence boundary). Precision, recall and F1 are
percentages, micro-averaged over chunks and per chunk type; ``accuracy`` is the share of
tokens whose predicted tag equals the gold one.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence


def split_tag(tag: str) -> tuple[str, str]:
    """'B-NP' -> ('B', 'NP'); 'O' -> ('O', '')."""
    if tag == "O" or "-" not in tag:
        return tag, ""
    prefix, _, kind = tag.partition("-")
    return prefix, kind


# conlleval's pairs (previous prefix, this prefix) that end / start a chunk
_ENDS = {("B", "B"), ("B", "O"), ("I", "B"), ("I", "O"), ("E", "E"), ("E", "I"), ("E", "O")}
_STARTS = {("B", "B"), ("I", "B"), ("O", "B"), ("O", "I"), ("E", "E"), ("E", "I"), ("O", "E")}


def end_of_chunk(prev: str, prev_type: str, tag: str, kind: str) -> bool:
    """conlleval's endOfChunk: the chunk open at the previous token ends before this one."""
    return (prev, tag) in _ENDS or (prev not in ("O", ".") and prev_type != kind)


def start_of_chunk(prev: str, prev_type: str, tag: str, kind: str) -> bool:
    """conlleval's startOfChunk: a chunk starts at this token."""
    return (prev, tag) in _STARTS or (tag not in ("O", ".") and prev_type != kind)


def chunks(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """(type, first token, last token) of every chunk of one sentence."""
    out, start, prev, prev_type = set(), None, "O", ""
    for i, tag in enumerate(list(tags) + ["O"]):  # a final O closes the last chunk
        t, kind = split_tag(tag)
        if start is not None and end_of_chunk(prev, prev_type, t, kind):
            out.add((prev_type, start, i - 1))
            start = None
        if start_of_chunk(prev, prev_type, t, kind) and i < len(tags):
            start = i
        prev, prev_type = t, kind
    return out


def _prf(correct: int, guessed: int, gold: int) -> dict:
    p = 100.0 * correct / guessed if guessed else 0.0
    r = 100.0 * correct / gold if gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def conlleval(gold: Iterable[Sequence[str]], guessed: Iterable[Sequence[str]]) -> dict:
    """Scores over sentences (pairs of tag sequences of equal length)."""
    correct, found_gold, found_guessed = Counter(), Counter(), Counter()
    tokens = right_tokens = 0
    for g, p in zip(gold, guessed):
        if len(g) != len(p):
            raise ValueError(f"a sentence has {len(g)} gold tags and {len(p)} predicted")
        tokens += len(g)
        right_tokens += sum(a == b for a, b in zip(g, p))
        gc, pc = chunks(g), chunks(p)
        found_gold.update(c[0] for c in gc)
        found_guessed.update(c[0] for c in pc)
        correct.update(c[0] for c in gc & pc)
    out = {**_prf(sum(correct.values()), sum(found_guessed.values()), sum(found_gold.values())),
           "accuracy": 100.0 * right_tokens / tokens if tokens else 0.0,
           "chunks_gold": sum(found_gold.values()), "chunks_predicted": sum(found_guessed.values())}
    out["by_type"] = {kind: {**_prf(correct[kind], found_guessed[kind], found_gold[kind]),
                             "gold": found_gold[kind], "predicted": found_guessed[kind]}
                      for kind in sorted(set(found_gold) | set(found_guessed))}
    return out
