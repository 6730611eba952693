"""SQuAD v1.1 / v2.0 exact match and F1, computed offline.

Normalisation follows the official evaluation scripts: lower case, drop punctuation,
drop the articles a/an/the, collapse white space. Each prediction is scored against
every gold answer and the best score counts. For Chinese (DRCD, the ADL course data)
F1 counts characters, as the CMRC/DRCD scripts do: each CJK ideograph is a token, and
full-width / CJK punctuation is dropped like ASCII punctuation. An unanswerable question (no gold answer)
scores 1 only for the empty prediction. Scores are percentages.
"""

from __future__ import annotations

import collections
import re
import string
import unicodedata

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_CJK_PUNCT = {chr(c) for r in (range(0x3000, 0x3040), range(0xFF01, 0xFF66))
              for c in r if unicodedata.category(chr(c)).startswith("P")}
_PUNCT = set(string.punctuation) | _CJK_PUNCT
_CJK_CHAR = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")


def normalize_answer(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def answer_tokens(s: str) -> list[str]:
    """Normalised white-space tokens, with every CJK ideograph a token of its own."""
    return _CJK_CHAR.sub(r" \1 ", normalize_answer(s)).split()


def f1_score(prediction: str, gold: str) -> float:
    pred_tokens = answer_tokens(prediction)
    gold_tokens = answer_tokens(gold)
    if not pred_tokens or not gold_tokens:  # v2: both empty is a match
        return float(pred_tokens == gold_tokens)
    common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def score_one(prediction: str, golds: list[str]) -> tuple[float, float]:
    golds = [g for g in golds if normalize_answer(g)] or [""]
    return (max(exact_match(prediction, g) for g in golds),
            max(f1_score(prediction, g) for g in golds))


def squad_metrics(predictions: dict[str, str], references: list[dict]) -> dict[str, float]:
    """``references``: canonical records (``id``, ``answers.text``). Missing predictions count as wrong."""
    em, f1 = {}, {}
    has_ans = []
    for ref in references:
        golds = ref["answers"]["text"]
        has_ans.append(bool(golds))
        pred = predictions.get(ref["id"])
        if pred is None:
            em[ref["id"]], f1[ref["id"]] = 0.0, 0.0
            continue
        em[ref["id"]], f1[ref["id"]] = score_one(pred, golds)
    ids = [r["id"] for r in references]
    out = {"exact_match": _pct(em, ids), "f1": _pct(f1, ids), "total": len(ids),
           "missing_predictions": sum(1 for i in ids if i not in predictions)}
    if not all(has_ans):  # SQuAD v2 breakdown
        has = [i for i, h in zip(ids, has_ans) if h]
        no = [i for i, h in zip(ids, has_ans) if not h]
        out.update({"HasAns_exact": _pct(em, has), "HasAns_f1": _pct(f1, has), "HasAns_total": len(has),
                    "NoAns_exact": _pct(em, no), "NoAns_f1": _pct(f1, no), "NoAns_total": len(no)})
    return out


def _pct(scores: dict[str, float], ids: list[str]) -> float:
    return 100.0 * sum(scores[i] for i in ids) / len(ids) if ids else 0.0
