import pytest

from ftpipe.tasks.qa.scoring import f1_score, normalize_answer, score_one, squad_metrics


@pytest.mark.parametrize("raw, norm", [
    ("The Eiffel Tower", "eiffel tower"),
    ("  an   apple, a pear!", "apple pear"),
    ("Theater", "theater"),              # 'the' only as a whole word
    ("1,000 km.", "1000 km"),
    ("A", ""),
    ("A-Team", "ateam"),                 # punctuation goes before articles (official order): no lone 'a' left
])
def test_normalize_answer(raw, norm):
    assert normalize_answer(raw) == norm


def test_f1_partial_overlap():
    # pred: [denver, broncos, win]; gold: [broncos] -> P=1/3, R=1 -> F1=0.5
    assert f1_score("Denver Broncos win", "the Broncos") == pytest.approx(0.5)
    assert f1_score("", "broncos") == 0.0


def test_f1_counts_repeated_tokens():
    """Overlap is a multiset intersection, as in the official script, not a set one."""
    # pred [x, y, y], gold [y, y]: common y x2 -> P=2/3, R=1 -> F1=2*(2/3)/(5/3)=0.8 (a set: 1 -> 0.4)
    assert f1_score("x y y", "y y") == pytest.approx(0.8)


def test_golds_that_normalise_to_empty_are_dropped():
    """Official v2: a gold answer that normalises to "" is dropped; only when none is left
    is the gold the empty answer."""
    # "The" -> "" is dropped, so "" is scored against "Denver" alone: EM 0, F1 0
    assert score_one("", ["The", "Denver"]) == (0.0, 0.0)
    assert score_one("", ["The"]) == (1.0, 1.0)  # nothing left: gold [""]


def test_squad_v2_f1_of_both_empty_and_has_ans_f1():
    """An empty prediction for a no-answer question scores F1 100 (not only EM), and
    HasAns_f1 is the F1 of the answerable questions, not their EM."""
    refs = [{"id": "a", "answers": {"text": ["x y"], "answer_start": [0]}},
            {"id": "n", "answers": {"text": [], "answer_start": []}}]
    m = squad_metrics({"a": "x y z", "n": ""}, refs)
    # a: EM 0, F1 = 2*(2/3)*1/(2/3+1) = 0.8; n: both empty -> EM 1, F1 1
    assert m["HasAns_exact"] == 0.0 and m["HasAns_f1"] == pytest.approx(80.0)
    assert m["NoAns_f1"] == 100.0
    assert m["exact_match"] == 50.0 and m["f1"] == pytest.approx(90.0)  # (0.8 + 1) / 2


def test_a_missing_prediction_is_not_the_empty_answer():
    """A question with no prediction is wrong even when its gold is "no answer"; an empty
    prediction is a prediction (right for it, and not counted missing)."""
    refs = [{"id": "n", "answers": {"text": [], "answer_start": []}}]
    m = squad_metrics({}, refs)
    assert (m["exact_match"], m["f1"], m["missing_predictions"]) == (0.0, 0.0, 1)
    m = squad_metrics({"n": ""}, refs)
    assert (m["exact_match"], m["f1"], m["missing_predictions"]) == (100.0, 100.0, 0)


def test_squad_metrics_takes_best_gold_and_counts_missing():
    refs = [{"id": "a", "answers": {"text": ["Denver Broncos", "Broncos"], "answer_start": [0, 7]}},
            {"id": "b", "answers": {"text": ["1990"], "answer_start": [0]}}]
    m = squad_metrics({"a": "the broncos"}, refs)
    assert m["exact_match"] == pytest.approx(50.0)
    assert m["f1"] == pytest.approx(50.0)
    assert m["missing_predictions"] == 1


def test_squad_v2_breakdown():
    refs = [{"id": "a", "answers": {"text": ["x y"], "answer_start": [0]}},
            {"id": "n", "answers": {"text": [], "answer_start": []}}]
    m = squad_metrics({"a": "x y", "n": ""}, refs)
    assert m["exact_match"] == 100.0 and m["NoAns_exact"] == 100.0 and m["HasAns_total"] == 1
    m = squad_metrics({"a": "x y", "n": "something"}, refs)
    assert m["NoAns_exact"] == 0.0 and m["exact_match"] == 50.0


def test_chinese_f1_counts_characters_and_drops_cjk_punctuation():
    from ftpipe.tasks.qa.scoring import answer_tokens, exact_match, f1_score

    assert answer_tokens("台灣大學在1928年") == ["台", "灣", "大", "學", "在", "1928", "年"]
    assert f1_score("台灣大學", "國立台灣大學") == pytest.approx(2 * 1.0 * (4 / 6) / (1 + 4 / 6))
    assert exact_match("「台灣」。", "台灣") == 1.0
    assert f1_score("the cat sat", "a cat") == pytest.approx(2 / 3)  # English unchanged
