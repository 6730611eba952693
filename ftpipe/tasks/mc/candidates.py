"""Candidate paragraphs per question, for the multiple-choice task.

Records from the ADL format carry their candidates. Any SQuAD-format records (English
SQuAD, Chinese DRCD) get them from :func:`derive_candidates`: the gold paragraph plus
``k - 1`` distractors drawn, with a seed, from the other paragraphs of the same article
(from other articles when it has too few), shuffled.
"""

from __future__ import annotations

import random
from typing import Any

from ...errors import DataError


def derive_candidates(records: list[dict], pool: list[dict], k: int, seed: int) -> list[dict]:
    """Give each record without candidates ``k`` paragraphs: its own plus ``k - 1``
    distractors, seeded per question id (so a record gets the same candidates whatever
    else is in the file), same article first, shuffled. ``pool`` holds the records whose
    paragraphs may serve as distractors (train and eval together). Records that already
    carry candidates (the ADL format) keep them."""
    by_article: dict[str, list[str]] = {}
    for r in pool:
        if not isinstance(r.get("context"), str):  # a record with its own candidates only (ADL)
            continue
        paragraphs = by_article.setdefault(r.get("title", ""), [])
        if r["context"] not in paragraphs:
            paragraphs.append(r["context"])
    everything = list(dict.fromkeys(p for ps in by_article.values() for p in ps))
    out = []
    for r in records:
        if r.get("candidates"):
            out.append(r)
            continue
        gold = r["context"]
        rng = random.Random(f"{seed}:{r['id']}")
        same = [p for p in by_article.get(r.get("title", ""), []) if p != gold]
        distractors = rng.sample(same, min(k - 1, len(same)))
        need = k - 1 - len(distractors)
        if need:
            taken = set(distractors) | {gold}
            others = [p for p in everything if p not in taken]
            if len(others) < need:
                raise DataError("candidates", r["id"], "context",
                                f"only {len(everything)} distinct paragraphs in the data; "
                                f"mc.candidates = {k} needs at least {k}")
            distractors += rng.sample(others, need)
        candidates = [gold] + distractors
        rng.shuffle(candidates)
        out.append({**r, "candidates": candidates, "label": candidates.index(gold)})
    return out


def check_candidates(records: list[dict], source: str) -> None:
    """Every record has at least 2 distinct candidates and, when labelled, a valid label."""
    for r in records:
        cands: Any = r.get("candidates")
        if not isinstance(cands, list) or len(cands) < 2:
            raise DataError(source, r.get("id"), "candidates", "expected a list of at least 2 paragraphs")
        label = r.get("label")
        if label is not None and not (isinstance(label, int) and 0 <= label < len(cands)):
            raise DataError(source, r.get("id"), "label", f"expected an index into candidates, got {label!r}")
