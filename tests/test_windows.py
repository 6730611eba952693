import pytest

from ftpipe.errors import DataError
from ftpipe.tasks.qa.windows import to_columns, tokenize_eval, tokenize_train
from ftpipe.vocab import check_question_lengths
from ftpipe.vocab import unknown_token_pct, vocabulary_warning

# A long context: 60 numbered sentences, so windows of 64 tokens with stride 16 overlap many times.
LONG = " ".join(f"Sentence number {i} mentions the river Wye{i} and its bridges." for i in range(60))


def ex(qid, answer, context=LONG, question="Which river is it?"):
    start = context.index(answer)
    return {"id": qid, "question": question, "context": context,
            "answers": {"text": [answer], "answer_start": [start]}}


def labelled_text(enc, i, tokenizer):
    s, e = enc["start_positions"][i], enc["end_positions"][i]
    return tokenizer.decode(enc["input_ids"][i][s:e + 1])


def test_answer_found_in_each_window_that_contains_it_else_cls(tokenizer):
    examples = [ex("a", "the river Wye30 and its bridges")]
    enc = tokenize_train(to_columns(examples), tokenizer, max_length=64, stride=32)
    offsets = tokenize_eval(to_columns(examples), tokenizer, max_length=64, stride=32)["offset_mapping"]
    n = len(enc["input_ids"])
    assert n > 5 and len(offsets) == n  # a context longer than many windows
    start = examples[0]["answers"]["answer_start"][0]
    end = start + len(examples[0]["answers"]["text"][0])
    spans = [[o for o in seq if o != [-1, -1]] for seq in offsets]  # each window's context tokens
    containing = [i for i, ctx in enumerate(spans) if ctx[0][0] <= start and ctx[-1][1] >= end]
    assert len(containing) >= 2, "the stride makes windows overlap: the answer sits in several"
    assert [i for i in range(n) if enc["start_positions"][i] != 0] == containing
    for i in range(n):
        if i in containing:
            assert labelled_text(enc, i, tokenizer) == "the river wye30 and its bridges"
        else:
            assert enc["start_positions"][i] == enc["end_positions"][i] == 0  # CLS


def test_answer_straddling_a_window_boundary(tokenizer):
    """An answer cut by a window edge is labelled CLS in that window and found whole in the next."""
    examples = [ex("a", "Sentence number 3 mentions the river Wye3 and its bridges. Sentence number 4")]
    enc = tokenize_train(to_columns(examples), tokenizer, max_length=48, stride=24)
    offsets = tokenize_eval(to_columns(examples), tokenizer, max_length=48, stride=24)["offset_mapping"]
    assert len(offsets) == len(enc["input_ids"])
    start = examples[0]["answers"]["answer_start"][0]
    end = start + len(examples[0]["answers"]["text"][0])
    partial = whole = 0
    for i, seq in enumerate(offsets):
        ctx = [o for o in seq if o != [-1, -1]]
        lo, hi = ctx[0][0], ctx[-1][1]
        overlaps = lo < end and hi > start
        contains = lo <= start and hi >= end
        if overlaps and not contains:
            partial += 1
            assert enc["start_positions"][i] == 0 and enc["end_positions"][i] == 0
        if contains:
            whole += 1
            assert enc["start_positions"][i] > 0
    assert partial >= 1 and whole >= 1


def test_answer_longer_than_a_window_is_outside_every_window(tokenizer):
    long_answer = LONG[LONG.index("Sentence number 10"):LONG.index("Sentence number 20")].strip()
    examples = [ex("a", long_answer)]
    enc = tokenize_train(to_columns(examples), tokenizer, max_length=64, stride=16)
    assert set(enc["start_positions"]) == {0} and set(enc["end_positions"]) == {0}


def test_eval_offsets_map_back_to_the_context(tokenizer):
    examples = [ex("a", "Wye7"), ex("b", "Wye8", context="Short context about Wye8 only.")]
    enc = tokenize_eval(to_columns(examples), tokenizer, max_length=64, stride=16)
    assert enc["example_id"].count("a") > 1 and enc["example_id"].count("b") == 1
    for i, offs in enumerate(enc["offset_mapping"]):
        context = examples[0 if enc["example_id"][i] == "a" else 1]["context"]
        ctx = [o for o in offs if o != [-1, -1]]
        assert ctx, "each window keeps some context"
        for (a, b), tok in zip(ctx, [t for t, o in zip(enc["input_ids"][i], offs) if o != [-1, -1]]):
            piece = tokenizer.decode([tok]).replace("##", "")
            assert context[a:b].lower() == piece
        # question and special tokens are masked out
        assert offs[0] == [-1, -1]
    # windows cover the whole context, in order
    covered = {c for i, offs in enumerate(enc["offset_mapping"]) if enc["example_id"][i] == "a"
               for a, b in offs if a >= 0 for c in range(a, b)}
    assert covered >= {k for k, ch in enumerate(LONG) if not ch.isspace()}


def test_padding_to_max_length_keeps_labels(tokenizer):
    examples = [ex("a", "Wye5")]
    dyn = tokenize_train(to_columns(examples), tokenizer, 64, 16)
    pad = tokenize_train(to_columns(examples), tokenizer, 64, 16, pad_to_max_length=True)
    assert all(len(x) == 64 for x in pad["input_ids"])
    assert dyn["start_positions"] == pad["start_positions"] and dyn["length"] == pad["length"]


def test_question_longer_than_max_length_names_the_record(tokenizer):
    examples = [ex("long-q", "Wye5", question="why " * 80)]
    with pytest.raises(DataError, match=r"train.jsonl: record long-q: field 'question'"):
        check_question_lengths(examples, tokenizer, 64, "train.jsonl", 16)


def test_a_question_leaving_no_more_context_than_the_stride_names_the_record(tokenizer):
    """64 - 3 special tokens - 40 question tokens = 21 tokens of context a window: fine at
    stride 16, an error at stride 21 (the fast tokenizer would panic, not raise)."""
    examples = [ex("q40", "Wye5", question="why " * 40)]
    assert len(tokenizer("why " * 40, add_special_tokens=False)["input_ids"]) == 40
    check_question_lengths(examples, tokenizer, 64, "train.jsonl", 20)
    with pytest.raises(DataError, match=r"record q40: field 'question'.*gets 21 tokens.*stride \(21\)"):
        check_question_lengths(examples, tokenizer, 64, "train.jsonl", 21)


def test_unknown_tokens_are_measured_and_a_foreign_vocabulary_is_flagged(tokenizer):
    """The bundled English vocabulary has few CJK characters: Chinese text becomes [UNK]."""
    english = tokenize_train(to_columns([ex("en", "Wye5")]), tokenizer, 64, 16, pad_to_max_length=True)
    assert unknown_token_pct(english["input_ids"], tokenizer) == 0.0
    zh = "鑫淼犇骉麤靐龘"  # rare characters, none in the uncased English vocabulary
    rows = to_columns([ex("zh", "鑫淼", context=zh * 3, question="哪裡？")])
    pct = unknown_token_pct(tokenize_train(rows, tokenizer, 64, 16)["input_ids"], tokenizer)
    assert pct > 50
    padded = tokenize_train(rows, tokenizer, 64, 16, pad_to_max_length=True)["input_ids"]
    assert unknown_token_pct(padded, tokenizer) == pct  # padding is not text: it does not dilute the share
    assert vocabulary_warning(0.0, "bundled", "train.jsonl") is None
    msg = vocabulary_warning(pct, "bundled", "data/prepared/train.jsonl")
    assert "data/prepared/train.jsonl" in msg and "[UNK]" in msg and "'bundled'" in msg
