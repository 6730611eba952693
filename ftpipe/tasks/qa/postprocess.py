"""Turn per-window start/end logits into one answer per question.

Contract (that of Hugging Face's ``utils_qa.postprocess_qa_predictions``):

* every window of an example is considered; candidate spans are the ``n_best_size``
  best start tokens x the ``n_best_size`` best end tokens of each window's context
  (utils_qa takes the best of all tokens and then drops those outside the context, which
  can leave a window no candidate; we rank the context's tokens only);
* a span is kept only if both ends lie in the context, ``end >= start`` and it is at
  most ``max_answer_length`` tokens long;
* a span's score is ``start_logit + end_logit``; the ``n_best_size`` best spans over all
  windows form the n-best list, with probabilities from a softmax over their scores;
* SQuAD v2: the null score is the smallest CLS score (``start[0] + end[0]``) over the
  windows; it takes its rank in the n-best list, and is appended when it falls out of the
  ``n_best_size`` best (so the list always holds it); the answer is ``""`` when
  ``null_score - best_span_score`` exceeds ``null_score_diff_threshold``.

The candidate search is vectorised per window (``argpartition`` and a k x k score
matrix), so 10,000 questions take a few seconds. :func:`postprocess_naive` is the
plain loop over every (start, end) pair, kept as the benchmark baseline and test oracle.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np


def _window_candidates(start: np.ndarray, end: np.ndarray, offsets: np.ndarray,
                       n_best: int, max_len: int) -> list[tuple[float, float, float, int, int]]:
    in_ctx = offsets[:, 0] >= 0
    s = np.where(in_ctx, start, -np.inf)
    e = np.where(in_ctx, end, -np.inf)
    k = min(n_best, len(s))
    s_idx = np.argpartition(-s, k - 1)[:k]
    e_idx = np.argpartition(-e, k - 1)[:k]
    s_idx = s_idx[np.isfinite(s[s_idx])]
    e_idx = e_idx[np.isfinite(e[e_idx])]
    if len(s_idx) == 0 or len(e_idx) == 0:
        return []
    span = e_idx[None, :] - s_idx[:, None]
    ok = (span >= 0) & (span < max_len)
    scores = s[s_idx][:, None] + e[e_idx][None, :]
    rows, cols = np.nonzero(ok)
    out = []
    for r, c in zip(rows.tolist(), cols.tolist()):
        si, ei = int(s_idx[r]), int(e_idx[c])
        out.append((float(scores[r, c]), float(s[si]), float(e[ei]), int(offsets[si, 0]), int(offsets[ei, 1])))
    return out


def _finish(context: str, cands: list, null_score: float | None, n_best: int,
            version_2: bool, threshold: float) -> tuple[str, list[dict]]:
    # Stable order: score desc, then character position (ties broken identically everywhere).
    cands.sort(key=lambda c: (-c[0], c[3], c[4]))
    top = cands[:n_best]
    nbest = [{"text": context[a:b], "start_logit": sl, "end_logit": el, "score": sc,
              "offsets": [a, b]} for sc, sl, el, a, b in top]
    if version_2 and null_score is not None:
        null = {"text": "", "start_logit": null_score, "end_logit": 0.0, "score": null_score, "offsets": [0, 0]}
        nbest = sorted(nbest + [null], key=lambda d: -d["score"])[: max(n_best, 1)]
        if null not in nbest:  # as utils_qa: the null answer is put back when the cut removed it
            nbest.append(null)
    if not nbest:
        nbest = [{"text": "", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0, "offsets": [0, 0]}]
    scores = np.array([d["score"] for d in nbest], dtype=np.float64)
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    for d, p in zip(nbest, probs.tolist()):
        d["probability"] = p
    if version_2:
        best_span = top[0][0] if top else -np.inf
        answer = "" if (null_score is not None and null_score - best_span > threshold) else (
            context[top[0][3]:top[0][4]] if top else "")
    else:
        answer = context[top[0][3]:top[0][4]] if top else ""
    return answer, nbest


def _group(example_ids: Sequence[str]) -> dict[str, list[int]]:
    by_example: dict[str, list[int]] = defaultdict(list)
    for i, ex_id in enumerate(example_ids):
        by_example[ex_id].append(i)
    return by_example


def postprocess(examples: list[dict], example_ids: Sequence[str], offsets: Sequence,
                start_logits: Sequence[np.ndarray], end_logits: Sequence[np.ndarray],
                n_best_size: int = 20, max_answer_length: int = 30, version_2: bool = False,
                null_score_diff_threshold: float = 0.0) -> tuple[dict[str, str], dict[str, list[dict]]]:
    """Return ``(predictions, nbest)``: id -> answer text, id -> ranked candidates.

    ``offsets[i]``, ``start_logits[i]`` and ``end_logits[i]`` belong to window i and may
    have different lengths per window (windows are padded per batch, not to a constant).
    """
    by_example = _group(example_ids)
    predictions, nbest_all = {}, {}
    for ex in examples:
        cands: list = []
        null_score = None
        for f in by_example.get(ex["id"], []):
            st = np.asarray(start_logits[f], dtype=np.float64)
            en = np.asarray(end_logits[f], dtype=np.float64)
            off = np.asarray(offsets[f], dtype=np.int64)
            n = min(len(st), len(off))
            st, en, off = st[:n], en[:n], off[:n]
            cls = float(st[0] + en[0])
            null_score = cls if null_score is None else min(null_score, cls)
            cands.extend(_window_candidates(st, en, off, n_best_size, max_answer_length))
        predictions[ex["id"]], nbest_all[ex["id"]] = _finish(
            ex["context"], cands, null_score, n_best_size, version_2, null_score_diff_threshold)
    return predictions, nbest_all


def postprocess_naive(examples: list[dict], example_ids: Sequence[str], offsets: Sequence,
                      start_logits: Sequence[np.ndarray], end_logits: Sequence[np.ndarray],
                      max_answer_length: int = 30) -> dict[str, str]:
    """The straightforward recipe: score every (start, end) pair in Python loops (v1 only)."""
    by_example = _group(example_ids)
    predictions = {}
    for ex in examples:
        best, best_span = -float("inf"), (0, 0)
        for f in by_example.get(ex["id"], []):
            off = offsets[f]
            st, en = start_logits[f], end_logits[f]
            n = min(len(st), len(off))
            for i in range(n):
                if off[i][0] < 0:
                    continue
                for j in range(i, min(n, i + max_answer_length)):
                    if off[j][0] < 0:
                        continue
                    score = float(st[i]) + float(en[j])
                    if score > best:
                        best, best_span = score, (off[i][0], off[j][1])
        predictions[ex["id"]] = ex["context"][best_span[0]:best_span[1]]
    return predictions
