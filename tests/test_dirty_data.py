"""Dirty data loads with per-answer repairs and drops, every one counted: a bad answer goes
on its own, a question only when no valid answer is left, answers are trimmed of white
space (and zero-width characters) with their start moved, empty questions are dropped
under skip/repair; metrics/<task>/data.json states the counts."""

from __future__ import annotations

import copy
import re
import json
from pathlib import Path

import pytest

from conftest import CONTEXT, REPO, squad_json
from ftpipe.errors import DataError
from ftpipe.tasks.qa.squad import load_squad
from ftpipe.tasks.qa.windows import to_columns, tokenize_train

NILE = "Alexandria"


def ans(text, start=None):
    return {"text": text, "answer_start": CONTEXT.index(text.strip().strip("\u200b")) if start is None else start}


def q(qid, *answers, question="Where?"):
    return {"id": qid, "question": question, "answers": list(answers)}


def dirty_file(tmp_path) -> Path:
    """Hand-made: 7 questions, 12 answers (11 read: an empty question's are not), each kind
    of dirt at least once, counts known."""
    at = CONTEXT.index(NILE)
    qas = [
        q("clean", ans(NILE), ans("the Mediterranean Sea")),                      # 2 good
        q("one_bad", ans(NILE), ans("Nile", start=-1)),                           # 1 good, 1 misplaced (repairable)
        q("all_bad", ans("Amazon", start=0), ans("Rhine", start=5)),              # both not in the context
        q("spaces", ans(" " + NILE, start=at - 1), ans(NILE + "\n", start=at)),   # 2 trimmed
        q("zero_width", ans("\u200b", start=4), ans(NILE)),                       # 1 invisible (bad), 1 good
        q("empty_q", ans(NILE), question="  \u200b "),                            # empty question
        q("ambiguous", ans("north", start=0)),                                    # occurs twice: ambiguous
    ]
    path = tmp_path / "dirty.json"
    path.write_text(json.dumps(squad_json([{"title": "Nile", "paragraphs": [{"context": CONTEXT, "qas": qas}]}])))
    return path


def test_error_policy_stops_at_the_first_bad_answer(tmp_path):
    with pytest.raises(DataError, match=r"record one_bad \(data\[0\].paragraphs\[0\].qas\[1\]\): field 'answers\[1\].answer_start'.*data.bad_records"):
        load_squad(dirty_file(tmp_path), mode="error")


def test_skip_drops_answers_one_by_one_and_counts_them(tmp_path):
    records, report = load_squad(dirty_file(tmp_path), mode="skip")
    assert [r["id"] for r in records] == ["clean", "one_bad", "spaces", "zero_width"]
    d = report.as_dict()
    assert d["questions"] == {"read": 7, "kept": 4, "dropped": 3, "repaired": 0, "repaired_by_reason": {},
                              "dropped_by_reason": {"empty_question": 1, "no_valid_answer": 2}}
    assert d["answers"] == {"read": 11, "kept": 6, "dropped": 5, "repaired": 2,
                            "dropped_by_reason": {"empty_answer": 1, "misplaced": 4},
                            "repaired_by_reason": {"trimmed_white_space": 2}}
    by_id = {r["id"]: r for r in records}
    assert by_id["one_bad"]["answers"]["text"] == [NILE]  # the good answer of a dirty question stays
    assert by_id["spaces"]["answers"] == {"text": [NILE, NILE], "answer_start": [CONTEXT.index(NILE)] * 2}


def test_repair_moves_what_it_can_and_drops_the_rest(tmp_path):
    records, report = load_squad(dirty_file(tmp_path), mode="repair")
    assert [r["id"] for r in records] == ["clean", "one_bad", "spaces", "zero_width"]
    d = report.as_dict()
    assert d["answers"]["repaired_by_reason"] == {"moved_to_its_unique_match": 1, "trimmed_white_space": 2}
    assert d["answers"]["dropped_by_reason"] == {"empty_answer": 1, "misplaced_ambiguous": 1,
                                                 "misplaced_not_in_context": 2}
    assert d["answers"]["kept"] == 7 and d["questions"]["dropped_by_reason"] == {"empty_question": 1,
                                                                                 "no_valid_answer": 2}
    one_bad = next(r for r in records if r["id"] == "one_bad")
    assert one_bad["answers"]["answer_start"] == [CONTEXT.index(NILE), CONTEXT.index("Nile")]


def test_trimmed_answers_label_exactly_the_answer_tokens(tokenizer, tmp_path):
    """' Alexandria' placed with its space used to label 'near Alexandria'."""
    records, _ = load_squad(dirty_file(tmp_path), mode="skip")
    spaces = [r for r in records if r["id"] == "spaces"]
    enc = tokenize_train(to_columns(spaces), tokenizer, 128, 32)
    s, e = enc["start_positions"][0], enc["end_positions"][0]
    assert tokenizer.decode(enc["input_ids"][0][s:e + 1]) == NILE.lower()


def test_prepare_reports_per_split_counts(tmp_path):
    from conftest import run_params
    from ftpipe.verbs.prepare import prepare

    dirty_file(tmp_path)
    clean = tmp_path / "dev.json"
    dev = [q("d1", ans(NILE), question="Which city?"), q("d2", ans("Nile", start=-1), question="Which river?")]
    clean.write_text(json.dumps(squad_json([{"title": "Nile", "paragraphs": [{"context": CONTEXT, "qas": dev}]}])))
    params = run_params("qa")
    data = params.task.data.model_copy(update={"dir": str(tmp_path), "train": "dirty.json", "eval": "dev.json",
                                               "bad_records": "skip"})
    params.task = params.task.model_copy(update={"data": data})
    report = prepare(params, tmp_path / "out", tmp_path / "data.json")
    assert json.loads((tmp_path / "data.json").read_text()) == report
    assert report["files"]["train"]["questions"]["kept"] == 4 and report["files"]["eval"]["answers"]["dropped"] == 1
    assert report["splits"] == {"train": {"questions": 4, "answers": 6, "answerable": 4, "unanswerable": 0,
                                          "unlabelled": 0},
                                "eval": {"questions": 1, "answers": 1, "answerable": 1, "unanswerable": 0,
                                         "unlabelled": 0}}


def test_v2_unanswerable_questions_are_counted(tmp_path):
    from ftpipe.tasks.qa import split_counts

    qas = [q("a", ans(NILE)), {"id": "u", "question": "Who?", "answers": [], "is_impossible": True}]
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(squad_json([{"title": "N", "paragraphs": [{"context": CONTEXT, "qas": qas}]}])))
    records, _ = load_squad(path, version_2=True)
    assert split_counts(records) == {"questions": 2, "answers": 1, "answerable": 1, "unanswerable": 1,
                                     "unlabelled": 0}


DRCD = REPO.parent / "shared" / "data" / "drcd" / "DRCD_dev.json"


@pytest.mark.slow
@pytest.mark.skipif(not DRCD.is_file(), reason="the real DRCD file is not in ../shared/data")
def test_a_real_file_made_dirty_loads_with_stated_counts(tmp_path):
    """DRCD dev (real, 2 answers per question), with dirt of the kinds found in real files put
    into known records: misplaced answers (start -1, text not in the context; one moved
    elsewhere), empty questions, answers with surrounding white space."""
    data = json.loads(DRCD.read_text(encoding="utf-8"))
    data["data"] = data["data"][:20]
    qas = [qa for art in data["data"] for p in art["paragraphs"] for qa in p["qas"]]
    assert all(len(qa["answers"]) >= 2 for qa in qas[:40])
    original = copy.deepcopy(qas)
    for qa in qas[0:6]:  # one of two answers not in its context at all
        qa["answers"][1] = {"text": qa["answers"][1]["text"] + "（錯）", "answer_start": -1}
    for qa in qas[6:9]:  # both answers not in their context: the question goes
        qa["answers"] = [{"text": a["text"] + "（錯）", "answer_start": -1} for a in qa["answers"]]
    for qa in qas[10:14]:  # surrounding white space, start at the space
        a = qa["answers"][0]
        qa["answers"][0] = {"text": " " + a["text"] + " ", "answer_start": a["answer_start"] - 1}
    for qa in qas[15:17]:
        qa["question"] = " "
    path = tmp_path / "drcd_dirty.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    n_questions, n_answers = len(qas), sum(len(qa["answers"]) for qa in qas)
    for mode in ("skip", "repair"):
        records, report = load_squad(path, mode=mode)
        d = report.as_dict()
        assert d["questions"]["read"] == n_questions and d["questions"]["kept"] == n_questions - 5
        assert d["questions"]["dropped_by_reason"] == {"empty_question": 2, "no_valid_answer": 3}
        assert d["answers"]["read"] == n_answers - 2 * 2  # the empty questions' answers are not read
        assert d["answers"]["dropped"] == 6 + 3 * 2 and d["answers"]["repaired_by_reason"] == {
            "trimmed_white_space": 4}
        by_id = {r["id"]: r for r in records}
        for qa, orig in zip(qas[10:14], original[10:14]):
            assert by_id[qa["id"]]["answers"]["text"][0] == orig["answers"][0]["text"]
            assert by_id[qa["id"]]["answers"]["answer_start"][0] == orig["answers"][0]["answer_start"]


MC_OK = {"id": "ok", "question": "Where?", "context": "In the city."}


@pytest.mark.parametrize("record, field, problem", [
    ({"question": "Q?", "context": "C"}, "id", "missing"),
    ({"id": [1], "question": "Q?", "context": "C"}, "id", "expected a non-empty string"),
    ({"id": "a", "context": "C"}, "question", "missing"),
    ({"id": "a", "question": 5, "context": "C"}, "question", "expected a string"),
    ({"id": "a", "question": "Q?"}, "context", "missing"),  # no candidates: the gold paragraph is needed
    ({"id": "a", "question": "Q?", "candidates": ["p", 2]}, "candidates[1]", "expected a paragraph"),
    ({"id": "a", "question": "Q?", "context": "C", "title": {"x": 1}}, "title", "expected a string"),
    ({"id": "a", "question": "Q?", "candidates": []}, "context", "missing"),  # no candidates to derive from
    ({"id": "a", "question": "Q?", "candidates": ["p", "q"], "context": 5}, "context", "expected a string"),
    ({"id": "ok", "question": "Q?", "context": "C"}, "id", "duplicate id 'ok'"),
])
def test_multiple_choice_records_are_checked_field_by_field(tmp_path, record, field, problem):
    """The mc task reads JSONL itself (its own records, or the qa task's): a bad record was a
    KeyError or TypeError, or was written twice."""
    from ftpipe.io import write_jsonl
    from ftpipe.tasks.mc import load_records

    write_jsonl(tmp_path / "train.jsonl", [MC_OK, record])
    with pytest.raises(DataError, match=rf"train.jsonl: record [^:]*line 2\)?: field '{re.escape(field)}': {problem}"):
        load_records(tmp_path / "train.jsonl", "error", None)


def test_multiple_choice_empty_questions_follow_the_policy_and_are_counted(tmp_path):
    from ftpipe.io import write_jsonl
    from ftpipe.tasks.mc import load_records

    write_jsonl(tmp_path / "train.jsonl", [MC_OK, {**MC_OK, "id": "blank", "question": " \u200b "}])
    with pytest.raises(DataError, match=r"record blank \(line 2\): field 'question': empty"):
        load_records(tmp_path / "train.jsonl", "error", None)
    records, report = load_records(tmp_path / "train.jsonl", "skip", None)
    assert [r["id"] for r in records] == ["ok"]
    assert report.as_dict()["questions"] == {"read": 2, "kept": 1, "dropped": 1,
                                            "dropped_by_reason": {"empty_question": 1},
                                            "repaired": 0, "repaired_by_reason": {}}
    (tmp_path / "eval.jsonl").write_text("\n")
    with pytest.raises(DataError, match=r"eval.jsonl: no usable questions \(0 read"):
        load_records(tmp_path / "eval.jsonl", "error", None)


def test_the_tokenize_stage_names_the_prepared_file_of_a_question_too_long(tmp_path, tiny_model_dir):
    from conftest import model_config, record, run_params
    from ftpipe.verbs.tokenize import tokenize

    params = run_params("qa")
    params.task = params.task.model_copy(update={"model": model_config(tiny_model_dir)})
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "meta.json").write_text(json.dumps({"version_2": False}))
    rows = [{"title": "Nile", "context": CONTEXT, **record(qid)} for qid in ("ok", "long")]
    rows[1]["question"] = "why " * 400
    (prepared / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=rf"^{re.escape(str(prepared / 'train.jsonl'))}: record long: "
                                        r"field 'question': question is 400 tokens"):
        tokenize(params, prepared, tmp_path / "features", tmp_path / "features.json")
    assert not (tmp_path / "features").exists()


def test_a_multiple_choice_question_too_long_for_max_length_names_the_record(tokenizer):
    from ftpipe.tasks.mc import TASK as MC

    records = [{**MC_OK, "candidates": ["a", "b"], "label": 0},
               {**MC_OK, "id": "long", "question": "why " * 58, "candidates": ["a", "b"], "label": 1}]
    cfg = MC.tokenize_config(max_length=64)
    MC.featurize(records[:1], tokenizer, cfg, "train", {})
    with pytest.raises(DataError, match=r"train split: record long: field 'question': question is 58 tokens; with max_length 64 the passage gets 3 tokens"):
        MC.featurize(records, tokenizer, cfg, "train", {})


def test_pretraining_text_is_checked_and_its_empty_documents_counted(tmp_path):
    """Documents without a sentence were dropped uncounted; an article that is not an
    object, JSON nested too deeply and a lone surrogate were tracebacks or unnamed."""
    from ftpipe.tasks.pretrain.corpus import read_documents

    (tmp_path / "t.jsonl").write_text('{"text": "One. Two."}\n{"text": "   "}\n{"text": "Three!"}\n')
    docs, report = read_documents(str(tmp_path), "t.jsonl")
    assert docs == [["One.", "Two."], ["Three!"]]
    assert report.as_dict()["documents"] == {"read": 3, "kept": 2, "dropped": 1,
                                             "dropped_by_reason": {"no_sentence": 1},
                                             "repaired": 0, "repaired_by_reason": {}}
    cases = {
        "articles.json": (json.dumps({"data": [{"paragraphs": [{"context": "A."}]}, [1, 2]]}),
                          r"record data\[1\]: expected an article object, got list"),
        "deep.json": ("[" * 200_000 + "]" * 200_000, r"deep.json: JSON nested too deeply"),
        "surrogate.jsonl": ('{"text": "ok."}\n{"text": "a \\ud800 b."}\n',
                            r"record line 2: field 'text': not valid Unicode text"),
        "blank.jsonl": ('{"text": ""}\n', r"blank.jsonl: no documents with text \(1 read\)"),
    }
    for name, (text, error) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(DataError, match=error):
            read_documents(str(tmp_path), name)


def test_adl_ids_and_distractor_paragraphs_are_checked_for_unicode(tmp_path):
    """A lone surrogate in a test question's id or in a paragraph used only as a distractor
    was a UnicodeEncodeError when the records were written."""
    from ftpipe.tasks.qa.adl import load_adl

    paragraphs = ["Paris is in France.", "Rome is in Italy."]
    test = [{"id": "t\ud800", "question": "Where?", "paragraphs": [0, 1]}]
    (tmp_path / "context.json").write_text(json.dumps(paragraphs))
    (tmp_path / "test.json").write_text(json.dumps(test))
    with pytest.raises(DataError, match=r"test.json: record [^:]*: field 'id': not valid Unicode text"):
        load_adl(tmp_path, "test.json")
    (tmp_path / "context.json").write_text(json.dumps([paragraphs[0], "Rome \ud800"]))
    with pytest.raises(DataError, match=r"context.json: record \[1\]: not valid Unicode text"):
        load_adl(tmp_path, "test.json")


def test_tagging_counts_a_word_cut_by_the_window_and_tags_the_model_cannot_learn(tokenizer):
    """A word of more sub-tokens than a window holds is truncated: it was not counted (the
    count compared words, not their pieces). Evaluation tags missing from the training
    label set are ignored in the evaluation loss: counted now."""
    from ftpipe.tasks.tagging import TASK as TAGGING

    long_word = "-".join(["ab"] * 40)  # 79 sub-tokens
    words = ["The", long_word, "ends"]
    rec = {"id": "s", "words": words, "columns": [[w, "NN", "B-NP"] for w in words], "tags": ["B-NP", "B-ZZ", "O"]}
    cfg = TAGGING.tokenize_config(max_length=32, label_all_subtokens=False)
    cols, stats = TAGGING.featurize([rec], tokenizer, cfg, "eval", {"labels": ["B-NP", "O"]})
    assert len(cols["input_ids"]) == 3 and stats["features_with_cut_words"] == 1  # the long word alone, cut
    assert stats["tags_not_in_label_set"] == 1
    # a word of no sub-token at all (the tokenizer drops a lone zero-width space) is not a cut word
    words = ["The", "\u200b", "cat"]
    rec = {"id": "z", "words": words, "columns": [[w, "NN", "O"] for w in words], "tags": ["O", "O", "O"]}
    assert tokenizer(words, is_split_into_words=True, add_special_tokens=False).word_ids() == [0, 2]
    assert TAGGING.featurize([rec], tokenizer, cfg, "eval", {"labels": ["O"]})[1]["features_with_cut_words"] == 0


def test_conll_files_with_old_mac_line_ends(tmp_path):
    """CR-only line ends read as one sentence of one token with thousands of columns."""
    from ftpipe.records import Policy, Tally
    from ftpipe.tasks.tagging.columns import read_conll

    text = "He PRP B-NP\nran VBD B-VP\n\nIt PRP B-NP\n"
    for ends in ("\n", "\r\n", "\r"):
        rows = read_conll(text.replace("\n", ends), "t.txt", 2, None, Policy("error", "t.txt"), Tally())
        assert [r["words"] for _, r in rows] == [["He", "ran"], ["It"]], repr(ends)
        assert [rid for rid, _ in rows] == ["line 1", "line 4"]


def test_predictions_that_cannot_be_scored_name_the_record(tmp_path):
    """Evaluate: a tagging prediction one tag short was a ValueError of the scorer, an STS-B
    prediction of NaN a JSON error when the metrics were written."""
    from ftpipe.tasks.glue import TASK as GLUE
    from ftpipe.tasks.tagging import TASK as TAGGING

    records = [{"id": "line 1", "words": ["He", "ran"], "tags": ["B-NP", "B-VP"]}]
    (tmp_path / "predictions.json").write_text('{"tags": {"line 1": ["B-NP"]}}')
    predictions = TAGGING.read_predictions(tmp_path, "eval")
    with pytest.raises(DataError, match=r"predictions.json: record line 1: field 'tags': 1 tags predicted for a "
                                        r"sentence of 2 words"):
        TAGGING.score(predictions, records)
    assert TAGGING.score({"tags": {"line 1": ["B-NP", "B-VP"]}}, records)["f1"] == 100.0
    (tmp_path / "predictions.json").write_text('{"task": "stsb", "predictions": {"0": 3.5, "1": NaN}}')
    with pytest.raises(DataError, match=r"predictions.json: record 1: field 'prediction': expected a finite number, "
                                        r"got nan"):
        GLUE.read_predictions(tmp_path, "eval")


def test_a_title_that_is_not_a_string_names_the_record(tmp_path):
    """It became the string "{'x': 1}" (distractor paragraphs are drawn by title)."""
    path = tmp_path / "t.json"
    path.write_text(json.dumps(squad_json([{"title": {"x": 1}, "paragraphs": [
        {"context": CONTEXT, "qas": [q("q1", ans(NILE))]}]}])))
    with pytest.raises(DataError, match=r"record q1 \(data\[0\].paragraphs\[0\].qas\[0\]\): field 'title': expected a string, got dict"):
        load_squad(path)


def test_rows_read_past_max_examples_are_accounted_for():
    """GLUE reads a whole file before keeping max_examples of it: read 320, kept 50 said
    nothing of the other 270."""
    from ftpipe.records import Tally

    t = Tally(read=320, kept=50)
    t.dropped["bad_label"] = 2
    assert t.as_dict()["past_max_examples"] == 268
    assert "past_max_examples" not in Tally(read=5, kept=5).as_dict()


def test_multiple_choice_records_with_their_own_candidates_need_no_context(tmp_path):
    """Records carrying candidates (and a label) and none of the gold paragraph: accepted by the
    check, they then failed in the distractor pool (KeyError: 'context'); a null title is ''."""
    from ftpipe.io import write_jsonl
    from ftpipe.tasks.mc import load_records
    from ftpipe.tasks.mc.candidates import derive_candidates

    own = [{"id": f"o{i}", "question": "Which?", "candidates": ["p", "q"], "label": i % 2, "title": None,
            **({"context": None} if i else {})} for i in range(3)]
    write_jsonl(tmp_path / "train.jsonl", own)
    records, _ = load_records(tmp_path / "train.jsonl", "error", None)
    assert records[0]["title"] == ""
    assert derive_candidates(records, records, 2, seed=1) == records  # kept as they are
