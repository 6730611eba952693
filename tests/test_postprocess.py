import numpy as np
import pytest

from ftpipe.tasks.qa.postprocess import postprocess, postprocess_naive

CTX = "alpha beta gamma delta"
# token offsets of a window: [CLS] q [SEP] alpha beta gamma delta [SEP]
OFFS = [[-1, -1], [-1, -1], [-1, -1], [0, 5], [6, 10], [11, 16], [17, 22], [-1, -1]]
EX = [{"id": "e", "context": CTX}]


def logits(start_hot, end_hot, n=8, cls=0.0):
    s, e = np.full(n, -5.0), np.full(n, -5.0)
    s[0] = e[0] = cls
    for i, v in start_hot.items():
        s[i] = v
    for i, v in end_hot.items():
        e[i] = v
    return s, e


def test_best_span_and_nbest_ranked():
    s, e = logits({4: 3.0, 5: 1.0}, {5: 3.0, 6: 1.0})
    preds, nbest = postprocess(EX, ["e"], [OFFS], [s], [e], n_best_size=3)
    assert preds == {"e": "beta gamma"}
    assert [d["text"] for d in nbest["e"]] == ["beta gamma", "beta gamma delta", "gamma"]
    assert sum(d["probability"] for d in nbest["e"]) == pytest.approx(1.0)


def test_spans_outside_context_or_reversed_are_skipped():
    # best raw start is the question token 1; best end precedes the best start
    s, e = logits({1: 9.0, 6: 2.0, 3: 1.0}, {4: 5.0, 6: 1.0})
    preds, _ = postprocess(EX, ["e"], [OFFS], [s], [e], max_answer_length=2)
    # (1,4)=14 starts in the question, (6,4)=7 is reversed: allowed (3,4)=6, (6,6)=3
    assert preds["e"] == "alpha beta"


@pytest.mark.parametrize("max_len,answer", [(1, "delta"), (2, "alpha beta"), (3, "alpha beta"),
                                            (4, "alpha beta gamma delta")])
def test_spans_longer_than_max_answer_length_are_skipped(max_len, answer):
    # (3,6) = 7 is 4 tokens long, (3,4) = 6 is 2, the best single token (6,6) = 1
    s, e = logits({3: 1.0}, {4: 5.0, 6: 6.0})
    preds, _ = postprocess(EX, ["e"], [OFFS], [s], [e], max_answer_length=max_len)
    assert preds["e"] == answer
    assert postprocess_naive(EX, ["e"], [OFFS], [s], [e], max_answer_length=max_len) == {"e": answer}


def test_windows_are_merged_per_example():
    s1, e1 = logits({3: 1.0}, {3: 1.0})
    s2, e2 = logits({6: 4.0}, {6: 4.0})
    preds, _ = postprocess(EX, ["e", "e"], [OFFS, OFFS], [s1, s2], [e1, e2])
    assert preds["e"] == "delta"


def test_windows_of_different_lengths():
    """Windows are padded per batch: a short window, a longer one holding the best span past
    the short one's end, and one whose logits run past its offsets (padding, never a span)."""
    s_short, e_short = logits({3: 2.0}, {3: 2.0}, n=5)  # alpha: 4
    s_long, e_long = logits({6: 3.0}, {6: 3.0})  # delta: 6
    s_pad, e_pad = logits({6: 10.0}, {6: 10.0})  # 20 at token 6, beyond this window's 5 offsets
    preds, nbest = postprocess(EX, ["e"] * 3, [OFFS[:5], OFFS, OFFS[:5]], [s_short, s_long, s_pad],
                               [e_short, e_long, e_pad])
    assert preds["e"] == "delta" and [d["text"] for d in nbest["e"][:2]] == ["delta", "alpha"]


def test_v2_null_answer_threshold():
    s, e = logits({4: 1.0}, {4: 1.0}, cls=2.0)  # null 4 vs span 2
    preds, nbest = postprocess(EX, ["e"], [OFFS], [s], [e], version_2=True)
    assert preds["e"] == "" and nbest["e"][0]["text"] == ""
    preds, _ = postprocess(EX, ["e"], [OFFS], [s], [e], version_2=True, null_score_diff_threshold=3.0)
    assert preds["e"] == "beta"
    # v1 never answers empty
    preds, _ = postprocess(EX, ["e"], [OFFS], [s], [e], version_2=False)
    assert preds["e"] == "beta"


def test_candidates_are_the_n_best_starts_times_the_n_best_ends():
    """Each window offers its n_best_size best starts and ends, not one fewer."""
    # top-2 starts: alpha (5), delta (4); best end: delta (5). alpha..delta is 4 tokens > 2,
    # so the answer needs the second start: delta..delta = 4 + 5 = 9 (one start: no span at all)
    s, e = logits({3: 5.0, 6: 4.0}, {6: 5.0})
    preds, _ = postprocess(EX, ["e"], [OFFS], [s], [e], n_best_size=2, max_answer_length=2)
    assert preds["e"] == "delta"


def test_v2_null_score_is_the_smallest_over_windows():
    """Hugging Face's rule: the null score is the minimum CLS score over the windows, not the
    first window's nor the largest."""
    s1, e1 = logits({4: 1.0}, {4: 1.0}, cls=2.0)  # null 4, beta 1 + 1 = 2
    s2, e2 = logits({}, {}, cls=0.0)  # null 0, no span above -10
    preds, _ = postprocess(EX, ["e", "e"], [OFFS, OFFS], [s1, s2], [e1, e2], version_2=True)
    assert preds["e"] == "beta"  # null min(4, 0) = 0; 0 - 2 = -2 does not exceed 0 (with null 4: 2 > 0)


def test_v2_a_null_score_equal_to_the_span_answers_the_span():
    """The answer is empty only when null - best span *exceeds* the threshold."""
    s, e = logits({4: 1.0}, {4: 1.0}, cls=1.0)  # null 1 + 1 = 2, beta 1 + 1 = 2: difference 0
    preds, _ = postprocess(EX, ["e"], [OFFS], [s], [e], version_2=True)
    assert preds["e"] == "beta"


def test_v2_null_takes_its_rank_in_an_n_best_list_of_n_best_size():
    """Above the spans, the null entry displaces the last span: the list stays n_best_size long."""
    s, e = logits({4: 1.0}, {4: 1.0}, cls=2.0)  # null 4, beta 2, every other span -4 or less
    _, nbest = postprocess(EX, ["e"], [OFFS], [s], [e], n_best_size=2, version_2=True)
    assert [d["text"] for d in nbest["e"]] == ["", "beta"]


def test_out_of_context_tokens_never_make_a_candidate():
    """With n_best_size above the window length every token is a top-k pick; those outside the
    context (score -inf) must not pair into -inf candidates."""
    s, e = logits({4: 3.0}, {4: 3.0})
    _, nbest = postprocess(EX, ["e"], [OFFS], [s], [e])  # n_best_size 20 > 8 tokens
    # only the 4 context tokens: 4 + 3 + 2 + 1 = 10 spans with end >= start; the worst -5 + -5
    assert len(nbest["e"]) == 10 and min(d["score"] for d in nbest["e"]) == -10.0


def test_probabilities_survive_huge_logits():
    """The n-best softmax is shifted by the top score: exp(800) alone overflows to inf / inf."""
    s, e = logits({4: 400.0}, {4: 400.0})  # beta 800, the next best 400 - 5 = 395
    _, nbest = postprocess(EX, ["e"], [OFFS], [s], [e])
    probs = [d["probability"] for d in nbest["e"]]
    assert probs[0] == 1.0 and np.isfinite(probs).all() and sum(probs) == pytest.approx(1.0)


def test_vectorised_agrees_with_naive_loop_on_random_logits():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(120)]
    ctx = " ".join(words)
    pos = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
    offs = [[-1, -1]] * 3 + [[int(p), int(p) + len(w)] for p, w in zip(pos, words)] + [[-1, -1]]
    examples, ids, offsets, starts, ends = [], [], [], [], []
    for k in range(50):
        examples.append({"id": str(k), "context": ctx})
        for _ in range(2):
            ids.append(str(k))
            offsets.append(offs)
            starts.append(rng.normal(size=len(offs)) * 3)
            ends.append(rng.normal(size=len(offs)) * 3)
    fast, _ = postprocess(examples, ids, offsets, starts, ends, n_best_size=len(offs), max_answer_length=30)
    slow = postprocess_naive(examples, ids, offsets, starts, ends, max_answer_length=30)
    assert fast == slow


def test_v2_null_is_put_back_when_the_n_best_cut_removes_it():
    """utils_qa's rule: under the n_best_size best spans, the null entry is appended, so the
    n-best list (and its probabilities) always has the no-answer option."""
    s, e = logits({4: 3.0}, {4: 3.0})  # beta 3 + 3 = 6, null (CLS) 0 + 0 = 0
    _, nbest = postprocess(EX, ["e"], [OFFS], [s], [e], n_best_size=1, version_2=True)
    assert [d["text"] for d in nbest["e"]] == ["beta", ""]
    assert nbest["e"][1]["probability"] == pytest.approx(1 / (1 + np.exp(6)))  # softmax over 6 and 0
