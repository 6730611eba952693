import json
import re

import pytest

from conftest import CONTEXT, record, squad_json, write_json
from ftpipe.errors import DataError
from ftpipe.records import split_records
from ftpipe.tasks.qa.squad import load_squad


def load_examples(path, version_2=False, misplaced="error", max_examples=None):
    return load_squad(path, version_2, misplaced, max_examples)


def one_para(*qas, context=CONTEXT, title="Nile"):
    return squad_json([{"title": title, "paragraphs": [{"context": context, "qas": list(qas)}]}])


def test_loads_squad_v1_into_canonical_records(squad_file):
    rows, report = load_examples(str(squad_file))
    assert [r["id"] for r in rows] == ["q1", "q2"]
    r = rows[0]
    assert r["title"] == "Nile" and r["context"] == CONTEXT
    assert r["answers"] == {"text": ["the Mediterranean Sea"], "answer_start": [CONTEXT.index("the Mediterranean Sea")]}
    assert report.as_dict()["questions"]["kept"] == 2 and report.as_dict()["answers"]["kept"] == 2


def test_jsonl_in_both_answer_layouts(tmp_path):
    a = {"id": "x", "context": CONTEXT, "question": "Where?",
         "answers": {"text": ["Alexandria"], "answer_start": [CONTEXT.index("Alexandria")]}}
    b = {"id": "y", "context": CONTEXT, "question": "Where?",
         "answers": [{"text": "Africa", "answer_start": CONTEXT.index("Africa")}]}
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps(a) + "\n\n" + json.dumps(b) + "\n")
    rows, _ = load_examples(str(p))
    assert [r["answers"]["text"] for r in rows] == [["Alexandria"], ["Africa"]]


def test_bom_is_accepted(tmp_path, squad_file):
    p = tmp_path / "bom.json"
    p.write_bytes(b"\xef\xbb\xbf" + squad_file.read_bytes())
    assert len(load_examples(str(p))[0]) == 2


def test_max_examples_takes_the_first_questions(squad_file):
    rows, _ = load_examples(str(squad_file), max_examples=1)
    assert [r["id"] for r in rows] == ["q1"]


@pytest.mark.parametrize("content, match", [
    (b'{"data": [', "not valid JSON"),
    (b'[1, 2]', "top level"),
    (b'\xff\xfe{}', "not UTF-8"),
])
def test_broken_files(tmp_path, content, match):
    p = tmp_path / "bad.json"
    p.write_bytes(content)
    with pytest.raises(DataError, match=match) as e:
        load_examples(str(p))
    assert str(p) in str(e.value)


def test_broken_jsonl_line_names_file_and_line(tmp_path):
    p = tmp_path / "d.jsonl"
    good = {"id": "q1", "context": CONTEXT, "question": "Q?", "answers": {"text": ["Nile"], "answer_start": [4]}}
    p.write_text(json.dumps(good) + "\n" + '{"id": "q2", "context": ' + "\n")
    with pytest.raises(DataError, match="not valid JSON") as e:
        load_examples(str(p))
    assert str(p) in str(e.value) and "line 2" in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_examples(str(tmp_path / "none.json"))


@pytest.mark.parametrize("qa, field, match", [
    ({"question": "Q?", "answers": []}, "id", "missing"),
    ({"id": "q", "answers": [{"text": "Nile", "answer_start": 4}]}, "question", "missing"),
    ({"id": "q", "question": "   ", "answers": [{"text": "Nile", "answer_start": 4}]}, "question", "empty"),
    ({"id": "q", "question": 3, "answers": [{"text": "Nile", "answer_start": 4}]}, "question", "expected a string"),
    ({"id": "q", "question": "Q?"}, "answers", "missing"),
    ({"id": "q", "question": "Q?", "answers": [{"text": "Nile", "answer_start": "4"}]},
     "answers[0].answer_start", "expected an integer"),
    ({"id": "q", "question": "Q?", "answers": [{"text": "", "answer_start": 4}]}, "answers[0].text",
     "no visible character"),
    ({"id": "q", "question": "Q?", "answers": [{"text": "\u200b", "answer_start": 4}]}, "answers[0].text",
     "no visible character"),
    ({"id": "q", "question": "Q?", "answers": [{"text": 7, "answer_start": 4}]}, "answers[0].text",
     "expected a string, got 7"),
    ({"id": "q", "question": "Q?", "answers": [{"text": "Nile", "answer_start": float("nan")}]},
     "answers[0].answer_start", "expected an integer, got nan"),
    ({"id": "q", "question": "Q?", "answers": [{"text": "Nile", "answer_start": float("inf")}]},
     "answers[0].answer_start", "expected an integer, got inf"),
    ({"id": "q", "question": "Q?", "answers": [{"text": "Nile", "answer_start": -1}]},
     "answers[0].answer_start", "not at answer_start -1"),
    ({"id": "q", "question": "Q?", "answers": [{"text": "Amazon", "answer_start": 0}]},
     "answers[0].answer_start", "not in the context"),
    ({"id": "q", "question": "Q?", "answers": []}, "answers", "version_2_with_negative"),
    ({"id": "q", "question": "Q?", "is_impossible": True, "answers": [{"text": "Nile", "answer_start": 4}]},
     "is_impossible", "answers are given"),
])
def test_bad_records_name_file_record_and_field(tmp_path, qa, field, match):
    p = write_json(tmp_path / "d.json", one_para(qa))
    with pytest.raises(DataError, match=match) as e:
        load_examples(str(p))
    msg = str(e.value)
    assert str(p) in msg and f"field '{field}'" in msg and "record" in msg


def test_empty_context(tmp_path):
    p = write_json(tmp_path / "d.json", one_para(record(context=CONTEXT), context=" "))
    with pytest.raises(DataError, match="field 'context': empty"):
        load_examples(str(p))


def test_duplicate_ids_name_both_records(tmp_path):
    p = write_json(tmp_path / "d.json", one_para(record("same"), record("same")))
    with pytest.raises(DataError, match=re.escape("record same (data[0].paragraphs[0].qas[1]): field 'id': duplicate id "
                                                  "'same' (first seen at record same (data[0].paragraphs[0].qas[0]))")):
        load_examples(str(p))


def test_misplaced_answer_policies(tmp_path):
    good = record("ok")
    moved = record("moved", answer="Alexandria", start=3)  # occurs once, elsewhere
    p = write_json(tmp_path / "d.json", one_para(good, moved))
    with pytest.raises(DataError, match="record moved.*occurs 1 time"):
        load_examples(str(p), misplaced="error")
    rows, report = load_examples(str(p), misplaced="skip")
    assert [r["id"] for r in rows] == ["ok"]
    d = report.as_dict()
    assert d["questions"]["read"] == 2 and d["questions"]["dropped_by_reason"] == {"no_valid_answer": 1}
    assert d["answers"]["dropped_by_reason"] == {"misplaced": 1} and d["answers"]["kept"] == 1
    rows, report = load_examples(str(p), misplaced="repair")
    assert rows[1]["answers"]["answer_start"] == [CONTEXT.index("Alexandria")]
    assert report.as_dict()["answers"]["repaired_by_reason"] == {"moved_to_its_unique_match": 1}


def test_repair_drops_an_ambiguous_answer_and_counts_it(tmp_path):
    ctx = "Paris is in France. Paris is large."
    amb = record("amb", answer="Paris", context=ctx, start=5)
    p = write_json(tmp_path / "d.json", one_para(record("ok", answer="France", context=ctx), amb, context=ctx))
    rows, report = load_examples(str(p), misplaced="repair")
    assert [r["id"] for r in rows] == ["ok"]
    assert report.as_dict()["answers"]["dropped_by_reason"] == {"misplaced_ambiguous": 1}


def test_squad_v2_unanswerable(tmp_path):
    imp = {"id": "imp", "question": "Who?", "answers": [], "is_impossible": True}
    p = write_json(tmp_path / "d.json", one_para(record("ok"), imp))
    rows, _ = load_examples(str(p), version_2=True)
    assert rows[1]["answers"] == {"text": [], "answer_start": []}
    bad = {"id": "bad", "question": "Who?", "answers": [], "is_impossible": False}
    p = write_json(tmp_path / "e.json", one_para(bad))
    with pytest.raises(DataError, match="is_impossible is false but no answer"):
        load_examples(str(p), version_2=True)


def _rows(n, titles=5):
    return [{"id": str(i), "title": f"t{i % titles}"} for i in range(n)]


def test_split_is_seeded_and_disjoint():
    rows = _rows(100)
    tr, ev = split_records(rows, 0.2, seed=1)
    assert len(ev) == 20 and len(tr) == 80
    assert {r["id"] for r in tr}.isdisjoint({r["id"] for r in ev})
    assert split_records(rows, 0.2, seed=1) == (tr, ev)
    assert split_records(rows, 0.2, seed=2)[1] != ev


def test_split_by_article_keeps_contexts_apart():
    tr, ev = split_records(_rows(100), 0.2, seed=0, group="title")
    assert {r["title"] for r in tr}.isdisjoint({r["title"] for r in ev})
    assert len({r["title"] for r in ev}) == 1


def test_a_squad_test_split_is_tokenized_and_predicted_answers_or_not(tmp_path, tiny_model_dir, tokenizer):
    """The test split was prepared, then neither tokenized nor predicted (the task took train
    and eval only: ADL test questions, without their paragraph, go through the chain), and a
    test question without answers was an error."""
    from conftest import model_config, run_params
    from ftpipe.models import save_model
    from ftpipe.verbs.predict import predict
    from ftpipe.verbs.prepare import prepare
    from ftpipe.verbs.tokenize import tokenize
    from test_training import tiny_qa_model

    qas = [record(f"q{i}", f"Where does river {i} end?") for i in range(6)]
    write_json(tmp_path / "train.json", one_para(*qas))
    test = [{"id": "t1", "question": "Where does it flow?"}, record("t2", "How long is it?", "about 6,650 kilometres"),
            {"id": "t3", "question": "Which sea?", "answers": []}]  # v1 test files may leave the list empty
    write_json(tmp_path / "test.json", one_para(*test))
    params = run_params("qa")
    data = params.task.data.model_copy(update={"dir": str(tmp_path), "train": "train.json", "test": "test.json",
                                               "eval_size": 0.5})
    params.task = params.task.model_copy(update={"data": data, "model": model_config(tiny_model_dir)})
    report = prepare(params, tmp_path / "prepared", tmp_path / "data.json")
    assert report["splits"]["test"] == {"questions": 3, "answers": 1, "answerable": 1, "unanswerable": 0,
                                        "unlabelled": 2}
    info = tokenize(params, tmp_path / "prepared", tmp_path / "features", tmp_path / "features.json")
    assert info["test"]["examples"] == 3
    save_model(tiny_qa_model(tiny_model_dir), tokenizer, tmp_path / "model" / "final")
    predict(params, tmp_path / "model", tmp_path / "features", tmp_path / "prepared", tmp_path / "predictions")
    answers = json.loads((tmp_path / "predictions/test/predictions.json").read_text())
    assert set(answers) == {"t1", "t2", "t3"} and all(isinstance(a, str) for a in answers.values())
    with pytest.raises(DataError, match="test.json: record t1.*field 'answers': missing"):
        load_squad(tmp_path / "test.json")  # outside a test split an answer is still required


def test_the_benchmarks_tokenize_the_splits_the_stages_do(tokenizer):
    """benchmarks/common.featurize_all took every split of the task: with QA's test split
    now in it, an ADL test split (questions with candidates, no paragraph) crashed there."""
    from benchmarks.common import featurize_all
    from conftest import run_params
    from ftpipe.tasks.qa import TASK as QA

    labelled = [{"id": "q1", "title": "Nile", "context": CONTEXT, "question": "Where does the Nile empty?",
                 "answers": {"text": ["Alexandria"], "answer_start": [CONTEXT.index("Alexandria")]}}]
    adl_test = [{"id": "t1", "title": "", "question": "Where?", "candidates": [CONTEXT], "label": None}]
    splits = {"train": labelled, "eval": labelled, "test": adl_test}
    features, _, _ = featurize_all(QA, splits, tokenizer, run_params("qa"), {"version_2": False,
                                                                             "test_in_context": False})
    assert set(features) == {"train", "eval"}
    assert QA.has_labels(labelled) and not QA.has_labels([{"title": "", "context": CONTEXT, "question": "Q?", "id": "u"}])
