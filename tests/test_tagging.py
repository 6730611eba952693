"""Sequence tagging: the column formats and their errors, sub-token label alignment, long
sentences, conlleval's scoring rules on hand-worked examples, the CoNLL output format."""

from __future__ import annotations

import pytest

from ftpipe.errors import DataError
from ftpipe.records import Policy, Tally
from ftpipe.tasks.tagging import TASK as TAGGING
from ftpipe.tasks.tagging import TaggingDataConfig, token_labels, windows
from ftpipe.tasks.tagging.columns import from_hub, read_conll
from ftpipe.tasks.tagging.conlleval import chunks, conlleval

CONLL2000 = """Confidence NN B-NP
in IN B-PP
the DT B-NP
pound NN I-NP
is VBZ B-VP

He PRP B-NP
said VBD B-VP
. . O
"""

CONLL2003 = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""


def read(text, tag_column=2, labels=None, mode="error"):
    tally = Tally()
    rows = read_conll(text, "f.txt", tag_column, labels, Policy(mode, "f.txt"), tally)
    return [r for _, r in rows if r is not None], tally


def test_conll2000_and_conll2003_layouts():
    recs, tally = read(CONLL2000)
    assert [r["words"] for r in recs] == [["Confidence", "in", "the", "pound", "is"], ["He", "said", "."]]
    assert recs[0]["tags"] == ["B-NP", "B-PP", "B-NP", "I-NP", "B-VP"] and recs[0]["id"] == "line 1"
    recs, _ = read(CONLL2003, tag_column=3)
    assert len(recs) == 2 and recs[0]["tags"] == ["B-ORG", "O", "B-MISC", "O", "O"]  # DOCSTART skipped
    assert recs[1]["id"] == "line 9" and recs[1]["columns"][0] == ["Peter", "NNP", "B-NP", "B-PER"]
    unlabelled, _ = read(CONLL2000, tag_column=None)
    assert unlabelled[0]["tags"] is None


@pytest.mark.parametrize("text, kw, where, message", [
    (CONLL2000.replace("pound NN I-NP", "pound NN"), {}, "record line 4", "expected 3 columns, got 2"),
    (CONLL2000.replace("B-PP", "X-PP"), {}, "record line 2: field 'column 2'", "expected O or B-/I-/E-<type>"),
    (CONLL2000, {"labels": ["O", "B-NP", "I-NP", "B-VP"]}, "record line 2: field 'column 2'",
     "not in the fixed label set"),
    (CONLL2000, {"tag_column": 3}, "record line 1", "data.tag_column 3 is not a tag column of a file with 3"),
])
def test_bad_lines_name_file_line_and_field(text, kw, where, message):
    with pytest.raises(DataError, match=f"f.txt: {where}.*{message}"):
        read(text, **kw)


def test_bad_sentences_are_dropped_and_counted_under_skip():
    recs, tally = read(CONLL2000.replace("pound NN I-NP", "pound NN"), mode="skip")
    assert [r["id"] for r in recs] == ["line 7"] and tally.dropped == {"wrong_column_count": 1} and tally.read == 2


CUT_BY_DOCSTART = "EU NNP B-NP\nrejects VBZ B-VP\n-DOCSTART- -X- O\n\nPeter NNP B-NP\n"


def test_a_docstart_inside_a_sentence_is_an_error_dropped_or_ends_the_sentence():
    with pytest.raises(DataError, match="f.txt: record line 1: -DOCSTART- on line 3 inside the sentence"):
        read(CUT_BY_DOCSTART)
    recs, tally = read(CUT_BY_DOCSTART, mode="skip")
    assert [r["id"] for r in recs] == ["line 5"] and tally.dropped == {"docstart_inside_sentence": 1}
    recs, tally = read(CUT_BY_DOCSTART, mode="repair")
    assert [r["words"] for r in recs] == [["EU", "rejects"], ["Peter"]]
    assert tally.repaired == {"docstart_inside_sentence": 1} and not tally.dropped
    _, tally = read(CONLL2003, tag_column=3)  # blank lines around it: nothing to repair
    assert not tally.repaired and not tally.dropped


def test_an_empty_hub_sentence_is_an_error_or_dropped_and_counted(tmp_path, monkeypatch):
    import datasets

    import ftpipe.tasks.tagging as tagging

    tags = datasets.List(datasets.ClassLabel(names=["O", "B-NP", "B-PP"]))
    ds = datasets.Dataset.from_list([{"tokens": ["pound", "in"], "chunk_tags": [1, 2]},
                                     {"tokens": [], "chunk_tags": []}],
                                    features=datasets.Features({"tokens": datasets.List(datasets.Value("string")),
                                                                "chunk_tags": tags}))
    monkeypatch.setattr(tagging, "is_hub_dir", lambda d: True)
    monkeypatch.setattr(tagging, "load_split", lambda d, split: ds)

    def cfg(mode):
        return TaggingDataConfig(dir=str(tmp_path), train="train", eval=None, test=None, eval_size=0.5, split_seed=0,
                                 max_examples=None, bad_records=mode, allow_overlap=True, tag_column=1, labels=None)

    with pytest.raises(DataError, match=r"\[train\]: record row 1: field 'tokens': empty sentence"):
        tagging.load_tagged(str(tmp_path), "train", cfg("error"), True)
    records, report = tagging.load_tagged(str(tmp_path), "train", cfg("skip"), True)
    assert [(r["words"], r["tags"]) for r in records] == [(["pound", "in"], ["B-NP", "B-PP"])]
    assert report.records.dropped == {"empty_sentence": 1} and report.records.read == 2


def test_hub_rows_and_a_dev_file_that_repeats_train(tmp_path):
    names = {"pos_tags": ["NN", "IN"], "chunk_tags": ["O", "B-NP", "B-PP"]}
    rows = from_hub([{"tokens": ["pound", "in"], "pos_tags": [0, 1], "chunk_tags": [1, 2]}], names, 2)
    assert rows[0][1]["tags"] == ["B-NP", "B-PP"] and rows[0][1]["columns"][1] == ["in", "IN", "B-PP"]
    (tmp_path / "train.txt").write_text(CONLL2000)
    d = TaggingDataConfig(dir=str(tmp_path), train="train.txt", eval="train.txt", test=None, eval_size=0.5,
                          split_seed=0, max_examples=None, bad_records="error", allow_overlap=True, tag_column=2,
                          labels=None)
    splits, report, meta = TAGGING.prepare(d)
    assert meta["labels"] == ["B-NP", "B-PP", "B-VP", "I-NP", "O"] and report["eval_overlapping_train"] == 2


def test_first_subtoken_or_all_subtokens(tokenizer):
    words, tags = ["Unbelievably", "cheap", "loans"], ["B-ADJP", "I-ADJP", "B-NP"]
    label2id = {t: i for i, t in enumerate(["B-ADJP", "I-ADJP", "B-NP", "I-NP", "O"])}
    enc = tokenizer([words], is_split_into_words=True)
    word_ids = enc.word_ids(0)
    assert word_ids.count(0) > 1  # "Unbelievably" is several word pieces
    first = token_labels(word_ids, tags, label2id, all_subtokens=False)
    assert first[0] == -100 and first[-1] == -100  # [CLS], [SEP]
    assert [lab for lab in first if lab != -100] == [0, 1, 2]
    every = token_labels(word_ids, tags, label2id, all_subtokens=True)
    pieces = [lab for w, lab in zip(word_ids, every) if w == 0]
    assert pieces[0] == 0 and set(pieces[1:]) == {1}  # B-ADJP then I-ADJP on its other pieces


def test_long_sentences_are_split_into_pieces_that_fit(tokenizer):
    assert windows([1, 1, 1, 1, 1], room=2) == [(0, 2), (2, 4), (4, 5)]
    assert windows([1, 5, 1], room=3) == [(0, 1), (1, 2), (2, 3)]  # a word longer than room: alone
    words = [f"word{i}" for i in range(60)]
    rec = {"id": "s", "words": words, "columns": [[w, "NN", "B-NP"] for w in words], "tags": ["B-NP"] * 60}
    cfg = TAGGING.tokenize_config(max_length=32, label_all_subtokens=False)
    cols, stats = TAGGING.featurize([rec], tokenizer, cfg, "train", {"labels": ["B-NP", "O"]})
    assert stats["split_sentences"] == len(cols["input_ids"]) - 1 > 0 and max(cols["length"]) <= 32
    assert stats["features_with_cut_words"] == 0
    covered = [s + w for s, ws in zip(cols["word_start"], cols["word_ids"]) for w in dict.fromkeys(ws) if w >= 0]
    assert covered == list(range(60))  # every word in exactly one piece, in order
    assert sum(lab == 0 for labs in cols["labels"] for lab in labs) == 60  # every word labelled once


def test_decode_takes_each_words_first_piece_across_split_sentences(tokenizer):
    """Logits that put the gold tag on each word's first sub-token and a wrong one on its
    other pieces decode to the gold tags, word for word, across the pieces a long sentence
    was split into."""
    import numpy as np

    labels = ["B-NP", "I-NP", "O"]
    words = [("Unbelievably" if i % 7 == 0 else f"word{i}") for i in range(50)]
    gold = [labels[i % 3] for i in range(50)]
    rec = {"id": "s", "words": words, "columns": [[w, "NN", t] for w, t in zip(words, gold)], "tags": gold}
    cols, stats = TAGGING.featurize([rec], tokenizer, TAGGING.tokenize_config(max_length=24, label_all_subtokens=False),
                                    "eval", {"labels": labels})
    assert stats["split_sentences"] > 0
    rows = []
    for ids, start, wids in zip(cols["input_ids"], cols["word_start"], cols["word_ids"]):
        logits, seen = np.zeros((len(ids), len(labels))), set()
        for pos, w in enumerate(wids):
            if w >= 0:
                gold_id = labels.index(gold[start + w])
                logits[pos, gold_id if w not in seen else (gold_id + 1) % 3] = 1.0
                seen.add(w)
        rows.append({"logits": logits})
    assert TAGGING.decode(rows, cols, [rec], None, {"labels": labels}) == {"tags": {"s": gold}}


def tags(s):
    return s.split()


@pytest.mark.parametrize("seq, expected", [
    ("B-NP I-NP O B-VP", {("NP", 0, 1), ("VP", 3, 3)}),
    ("B-NP B-NP I-NP", {("NP", 0, 0), ("NP", 1, 2)}),
    ("I-NP I-NP O I-VP", {("NP", 0, 1), ("VP", 3, 3)}),  # IOB1: I- after O starts a chunk
    ("B-NP I-VP I-VP", {("NP", 0, 0), ("VP", 1, 2)}),  # I- of another type starts one
    ("O O", set()),
    ("B-PP", {("PP", 0, 0)}),
    ("B-NP I-NP B-NP", {("NP", 0, 1), ("NP", 2, 2)}),  # (I, B) ends a chunk and starts one of the same type
    ("O I I B", {("", 1, 2), ("", 3, 3)}),  # untyped tags: (O, I) starts a chunk with no type change to help
    # conlleval.pl's E- rules: (O, E) starts; (E, E) and (E, I) end a chunk and start one; (I, E) continues
    ("E-NP E-NP", {("NP", 0, 0), ("NP", 1, 1)}),
    ("E-NP I-NP E-NP", {("NP", 0, 0), ("NP", 1, 2)}),
    ("B-PER-X I-PER-X", {("PER-X", 0, 1)}),  # the type is all after the first hyphen (conlleval 2004)
])
def test_chunks_follow_conllevals_rules(seq, expected):
    assert chunks(tags(seq)) == expected


def test_scores_by_hand():
    gold = [tags("B-NP I-NP B-VP O B-NP"), tags("B-PP B-NP I-NP")]
    pred = [tags("B-NP I-NP B-VP O B-NP"), tags("B-PP B-NP O")]
    m = conlleval(gold, pred)
    # 5 gold chunks, 5 predicted (the last NP predicted one token short), 4 exactly right
    assert (m["chunks_gold"], m["chunks_predicted"]) == (5, 5)
    assert m["precision"] == pytest.approx(80.0) and m["recall"] == pytest.approx(80.0)
    assert m["accuracy"] == pytest.approx(100 * 7 / 8)
    assert m["by_type"]["NP"]["f1"] == pytest.approx(200 / 3) and m["by_type"]["VP"]["f1"] == 100.0
    # a chunk right in type and start but not end, and one right in span but not type, are wrong
    m = conlleval([tags("B-NP I-NP I-NP")], [tags("B-NP I-NP B-NP")])
    assert m["precision"] == 0.0 and m["recall"] == 0.0
    m = conlleval([tags("B-NP I-NP")], [tags("B-VP I-VP")])
    assert m["f1"] == 0.0 and m["by_type"]["VP"]["predicted"] == 1


def test_f1_is_the_harmonic_mean_of_precision_and_recall():
    """A case where precision and recall differ, so F1 is not their plain mean."""
    m = conlleval([tags("B-NP O")], [tags("B-NP B-VP")])
    # gold {NP 0-0}, predicted {NP 0-0, VP 1-1}: P = 1/2 = 50, R = 1/1 = 100, F1 = 2*50*100/150
    assert (m["precision"], m["recall"]) == (50.0, 100.0) and m["f1"] == pytest.approx(200 / 3)
    assert m["by_type"]["VP"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "gold": 0, "predicted": 1}


def test_a_sentence_with_more_gold_tags_than_predicted_is_an_error():
    """zip() would quietly score the common prefix."""
    with pytest.raises(ValueError, match="a sentence has 2 gold tags and 1 predicted"):
        conlleval([tags("B-NP O")], [tags("B-NP")])


def test_conll_output_format(tmp_path):
    recs, _ = read(CONLL2000)
    pred = {"tags": {recs[0]["id"]: ["B-NP", "B-PP", "B-NP", "I-NP", "B-VP"], recs[1]["id"]: ["B-NP", "O", "O"]}}
    TAGGING.write_predictions(tmp_path, pred, recs, "test", {})
    text = (tmp_path / "predictions.txt").read_text()
    assert text.startswith("Confidence NN B-NP B-NP\nin IN B-PP B-PP\n")
    assert text.endswith("He PRP B-NP B-NP\nsaid VBD B-VP O\n. . O O\n\n")
    assert TAGGING.score(TAGGING.read_predictions(tmp_path, "test"), recs)["recall"] == pytest.approx(100 * 5 / 6)
