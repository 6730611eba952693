"""The chained multiple-choice -> QA path: ADL loading, candidate derivation, MC features
and collation, the multiple-choice model (methods, round trip), chain metrics, CSV."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForMultipleChoice

from conftest import model_config, run_params, train_config
from ftpipe.chain import chain_metrics, choose, mc_scores, submission_csv, with_chosen_context
from ftpipe.errors import DataError
from ftpipe.models import apply_method, load_model, load_trained, save_model
from ftpipe.tasks.mc import NO_LABEL, TASK as MC, accuracy, tokenize_choices
from ftpipe.tasks.mc.candidates import check_candidates, derive_candidates
from ftpipe.tasks.qa.adl import load_adl
from ftpipe.training import Evaluation, fit
from ftpipe.verbs.train import evaluator


def load_examples(directory, split):
    return load_adl(directory, f"{split}.json")


def choice_logits(model, feats, pad_token_id):
    return mc_scores(model, feats, pad_token_id, 8, "fp32")

# ---------------------------------------------------------------- ADL format

PARAGRAPHS = ["台灣大學創立於1928年，位於台北市。", "玉山是台灣最高的山，海拔3952公尺。",
              "日月潭位於南投縣，是台灣最大的天然湖泊。", "阿里山以日出與森林鐵路聞名。", "淡水河流經台北盆地。"]


def adl_dir(tmp_path, train=None, test=None, bom=True, context=PARAGRAPHS):
    d = tmp_path / "adl"
    d.mkdir(exist_ok=True)
    enc = "utf-8-sig" if bom else "utf-8"
    (d / "context.json").write_text(json.dumps(context, ensure_ascii=False), encoding=enc)
    if train is None:
        train = [{"id": "a1", "question": "玉山海拔多高？", "paragraphs": [0, 1, 2, 3], "relevant": 1,
                  "answer": {"text": "3952公尺", "start": PARAGRAPHS[1].index("3952公尺")}},
                 {"id": "a2", "question": "台灣大學哪一年創立？", "paragraphs": [2, 4, 0, 3], "relevant": 0,
                  "answer": {"text": "1928年", "start": PARAGRAPHS[0].index("1928年")}}]
    (d / "train.json").write_text(json.dumps(train, ensure_ascii=False), encoding=enc)
    if test is None:
        test = [{"id": "t1", "question": "日月潭在哪一個縣？", "paragraphs": [3, 2, 1, 0]}]
    (d / "test.json").write_text(json.dumps(test, ensure_ascii=False), encoding=enc)
    return d


def test_adl_train_split_with_bom(tmp_path):
    records, report = load_examples(str(adl_dir(tmp_path)), "train")
    assert report.records.kept == 2 and [r["id"] for r in records] == ["a1", "a2"]
    a1 = records[0]
    assert a1["candidates"] == [PARAGRAPHS[i] for i in (0, 1, 2, 3)] and a1["label"] == 1
    assert a1["context"] == PARAGRAPHS[1]
    start = a1["answers"]["answer_start"][0]
    assert a1["context"][start:start + len("3952公尺")] == "3952公尺"
    assert records[1]["label"] == 2  # relevant 0 is the third of [2, 4, 0, 3]


def test_adl_test_split_has_no_labels(tmp_path):
    records, _ = load_examples(str(adl_dir(tmp_path, bom=False)), "test")
    assert records == [{"id": "t1", "title": "", "question": "日月潭在哪一個縣？",
                        "candidates": [PARAGRAPHS[i] for i in (3, 2, 1, 0)], "label": None}]
    check_candidates(records, "test")  # valid as test input for the chain


@pytest.mark.parametrize("change, field, match", [
    ({"paragraphs": [0, 9, 1, 2]}, "paragraphs[1]", "index into context.json"),
    ({"paragraphs": [0, 0, 1, 2]}, "paragraphs", "duplicate paragraph indices"),
    ({"relevant": 4}, "relevant", "one of the record's paragraphs"),
    ({"answer": {"text": "3952公尺", "start": 0}}, "answers[0].answer_start", "not at answer_start 0"),
    ({"answer": "3952"}, "answer", "'text' and 'start'"),
    ({"question": ""}, "question", "empty"),
])
def test_adl_bad_records_name_file_record_and_field(tmp_path, change, field, match):
    rec = {"id": "bad1", "question": "玉山海拔多高？", "paragraphs": [0, 1, 2, 3], "relevant": 1,
           "answer": {"text": "3952公尺", "start": PARAGRAPHS[1].index("3952公尺")}, **change}
    with pytest.raises(DataError, match=match) as e:
        load_adl(adl_dir(tmp_path, train=[rec]), "train.json")
    assert "train.json" in str(e.value) and "record bad1" in str(e.value) and f"field '{field}'" in str(e.value)


def test_adl_bad_context_file_and_split(tmp_path):
    with pytest.raises(DataError, match=r"context.json: record \[1\]: expected a non-empty paragraph"):
        load_adl(adl_dir(tmp_path, context=["ok", ""]), "train.json")
    with pytest.raises(DataError, match="dev.json: file not found"):
        load_adl(adl_dir(tmp_path), "dev.json")
    (tmp_path / "adl" / "context.json").write_text('{"not": "a list"}')
    with pytest.raises(DataError, match="expected a JSON list of paragraph strings"):
        load_adl(tmp_path / "adl", "train.json")


@pytest.mark.parametrize("name, content, match", [
    ("train.json", b'[{"id": "a1", "question": ', "not valid JSON"),
    ("train.json", "[]".encode("utf-16"), "not UTF-8"),
    ("context.json", b'["ok", ', "not valid JSON"),
    ("train.json", None, "file not found"),
])
def test_adl_broken_files_name_the_file(tmp_path, name, content, match):
    d = adl_dir(tmp_path)
    if content is None:
        (d / name).unlink()
    else:
        (d / name).write_bytes(content)
    with pytest.raises(DataError, match=match) as e:
        load_adl(d, "train.json")
    assert str(d / name) in str(e.value)


def test_adl_duplicate_ids(tmp_path):
    rec = {"id": "x", "question": "q", "paragraphs": [0, 1], "relevant": 0,
           "answer": {"text": "1928年", "start": PARAGRAPHS[0].index("1928年")}}
    with pytest.raises(DataError, match="duplicate id 'x'"):
        load_adl(adl_dir(tmp_path, train=[rec, rec]), "train.json")


# ---------------------------------------------------------------- candidates from SQuAD-format data


def squad_records(articles=3, paragraphs=3, questions=2):
    out = []
    for a in range(articles):
        for p in range(paragraphs):
            for q in range(questions):
                out.append({"id": f"a{a}p{p}q{q}", "title": f"T{a}", "question": f"question {q}?",
                            "context": f"Article {a} paragraph {p} text.",
                            "answers": {"text": ["text"], "answer_start": [0]}})
    return out


def test_candidates_gold_once_no_duplicates_seeded():
    recs = squad_records()
    a = derive_candidates(recs, recs, 4, seed=1)
    for r in a:
        assert len(r["candidates"]) == 4 and len(set(r["candidates"])) == 4
        assert r["candidates"].count(r["context"]) == 1 and r["candidates"][r["label"]] == r["context"]
        # the article's 2 other paragraphs come first; the 4th candidate is from another article
        same = [c for c in r["candidates"] if c.startswith(f"Article {r['title'][1:]} ")]
        assert len(same) == 3
    assert a == derive_candidates(recs, recs, 4, seed=1)
    assert a != derive_candidates(recs, recs, 4, seed=2)
    assert len({r["label"] for r in a}) > 1  # shuffled: the gold is not always first


def test_candidates_depend_on_the_question_not_on_the_file_order():
    recs = squad_records()
    whole = {r["id"]: r["candidates"] for r in derive_candidates(recs, recs, 3, seed=0)}
    part = {r["id"]: r["candidates"] for r in derive_candidates(recs[::-1][:5], recs, 3, seed=0)}
    assert all(part[i] == whole[i] for i in part)


def test_candidates_need_enough_paragraphs():
    recs = squad_records(articles=1, paragraphs=3, questions=1)
    with pytest.raises(DataError, match="only 3 distinct paragraphs.*needs at least 4"):
        derive_candidates(recs, recs, 4, seed=0)


def test_given_candidates_are_kept(tmp_path):
    records, _ = load_adl(adl_dir(tmp_path), "train.json")
    assert derive_candidates(records, records, 2, seed=0) == records


# ---------------------------------------------------------------- features, collation, model


def mc_records():
    return [{"id": "m1", "question": "Where does the Nile flow?",
             "candidates": ["The Nile flows north into the Mediterranean Sea.", "Paris is in France.",
                            "Tea is grown in Assam and in many other warm and wet places of the world."], "label": 0},
            {"id": "m2", "question": "What is grown in Assam?",
             "candidates": ["Paris is in France.", "Tea is grown in Assam.", "The Nile flows north."], "label": 1}]


def test_mc_features_and_collation_shapes(tokenizer):
    cols = tokenize_choices(mc_records(), tokenizer, max_length=16)
    assert [len(g) for g in cols["input_ids"]] == [3, 3] and cols["labels"] == [0, 1]
    assert max(len(ids) for g in cols["input_ids"] for ids in g) == 16  # the long paragraph is truncated
    q = tokenizer("Where does the Nile flow?", add_special_tokens=False)["input_ids"]
    assert cols["input_ids"][0][1][1:1 + len(q)] == q  # question first, never truncated
    rows = [{k: cols[k][i] for k in ("input_ids", "attention_mask", "token_type_ids", "labels")} for i in range(2)]
    batch = MC.collator(tokenizer, list(cols))(rows)
    assert batch["input_ids"].shape == (2, 3, 16) and batch["attention_mask"].shape == (2, 3, 16)
    assert batch["labels"].tolist() == [0, 1]
    assert batch["attention_mask"][1].sum(-1).tolist() == [len(x) for x in cols["input_ids"][1]]
    unlabelled = tokenize_choices([{**mc_records()[0], "label": None}], tokenizer, 16)
    assert unlabelled["labels"] == [NO_LABEL]


def mc_model(tiny_model_dir, method="full", pretrained=True):
    m = load_model(model_config(tiny_model_dir, pretrained), AutoModelForMultipleChoice, 0)
    return apply_method(m, train_config(method=method))


@pytest.mark.parametrize("method", ["full", "bitfit", "lora"])
def test_mc_head_trains_and_round_trips(tiny_model_dir, tokenizer, tmp_path, method):
    import datasets

    torch.manual_seed(0)
    m = mc_model(tiny_model_dir, method)
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert any("classifier" in n for n in trainable)  # the head always trains
    if method != "full":
        assert not any("word_embeddings" in n for n in trainable)
    with torch.no_grad():
        for p in m.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.5)
    feats = datasets.Dataset.from_dict(tokenize_choices(mc_records(), tokenizer, 32))
    before = choice_logits(m, feats, tokenizer.pad_token_id)
    save_model(m, tokenizer, tmp_path / "mc")
    loaded, _ = load_trained(tmp_path / "mc", MC.auto_model)
    np.testing.assert_allclose(before, choice_logits(loaded, feats, tokenizer.pad_token_id), atol=1e-4)


def test_mc_mean_pooling_scores_each_candidate_by_its_token_mean(tiny_model_dir, tokenizer, tmp_path):
    """mc.model.pooling: mean -> each candidate's score is the head on the masked mean of
    its tokens (padding excluded), and the trained model loads back pooling the same way."""
    import datasets

    from ftpipe.models import MeanPooler

    section = run_params("mc").task
    section = section.model_copy(update={"model": section.model.model_copy(
        update={"dir": str(tiny_model_dir), "pooling": "mean"})})
    model = MC.build_model(section, 0, False, {}).eval()
    feats = datasets.Dataset.from_dict(tokenize_choices(mc_records(), tokenizer, 32))
    batch = MC.collator(tokenizer, feats.column_names)([{k: feats[0][k] for k in
                                                         ("input_ids", "attention_mask", "token_type_ids", "labels")}])
    batch.pop("labels")
    with torch.no_grad():
        logits = model(**batch).logits
        flat = {k: v.view(-1, v.shape[-1]) for k, v in batch.items()}
        hidden = model.bert(**flat).last_hidden_state
    mask = flat["attention_mask"].unsqueeze(-1).float()
    expected = model.classifier((hidden * mask).sum(1) / mask.sum(1)).view(1, -1)
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)
    assert len(set(flat["attention_mask"].sum(-1).tolist())) > 1  # candidates of different lengths
    save_model(model, tokenizer, tmp_path / "mc")
    loaded, _ = load_trained(tmp_path / "mc", MC.auto_model)
    assert isinstance(loaded.bert.pooler, MeanPooler)
    np.testing.assert_allclose(choice_logits(loaded, feats, tokenizer.pad_token_id),
                               choice_logits(model, feats, tokenizer.pad_token_id), atol=1e-5)


def test_mc_model_learns_with_accumulation(tiny_model_dir, tokenizer, tmp_path):
    """The shared loop trains the multiple-choice head: accuracy on the training questions
    rises from chance to all right (the gold paragraph repeats the question's words)."""
    import datasets

    topics = ["river", "mountain", "castle", "forest", "desert", "island", "bridge", "temple"]
    recs = []
    for i, t in enumerate(topics):
        others = [o for o in topics if o != t][:3]
        cands = [f"the {t} is here"] + [f"the {o} is there" for o in others]
        order = np.random.default_rng(i).permutation(4).tolist()
        recs.append({"id": t, "question": f"where is the {t}?", "candidates": [cands[j] for j in order],
                     "label": order.index(0)})
    ds = datasets.Dataset.from_dict(tokenize_choices(recs, tokenizer, 32))
    cfg = train_config(epochs=10, batch_size=2, grad_accum=2, lr=3e-3, precision="fp32",
                              checkpoint_every=0, warmup_ratio=0.0)
    model = mc_model(tiny_model_dir)
    evaluate = evaluator(MC, ds, recs, tokenizer.pad_token_id, run_params("mc", precision="fp32"), {})
    before = evaluate(model)["accuracy"]
    rows = ds.select_columns(["input_ids", "attention_mask", "token_type_ids", "labels"])
    result = fit(model, rows, MC.collator(tokenizer, ds.column_names), ds["length"], cfg, 0,
                 Evaluation(evaluate, "accuracy"), tmp_path / "logs")
    assert result.steps == 10 * 2  # 4 batches per epoch, 2 per optimizer step
    assert before < 0.75 and result.log.epochs[-1]["eval_accuracy"] == 1.0


def test_random_init_mc_differs(tiny_model_dir):
    a = mc_model(tiny_model_dir, pretrained=True).state_dict()["bert.encoder.layer.0.output.dense.weight"]
    b = mc_model(tiny_model_dir, pretrained=False).state_dict()["bert.encoder.layer.0.output.dense.weight"]
    assert not torch.equal(a, b)


def test_mc_accuracy_counts_labelled_questions_only():
    """Test questions (NO_LABEL) are not wrong answers; with none labelled there is no accuracy."""
    logits = np.array([[1.0, 0.0], [0.0, 1.0]])  # picks 0, 1
    assert accuracy(logits, [0, NO_LABEL]) == 1.0  # the labelled one is right; counting -1 too: 1/2
    assert np.isnan(accuracy(logits[:1], [NO_LABEL]))


def test_mc_loss_is_the_mean_cross_entropy_of_the_labelled_questions():
    """loss = mean of -log softmax(logits)[label] over labelled rows, by hand."""
    logits = np.array([[2.0, 0.0], [0.0, 2.0], [5.0, 0.0]])
    m = MC.score({"logits": logits, "labels": [0, 0, NO_LABEL]}, [])
    # row 1: -log(e^2 / (e^2 + 1)) = log(1 + e^2) - 2; row 2: -log(1 / (1 + e^2)) = log(1 + e^2);
    # mean = log(1 + e^2) - 1 = 1.12693; row 3 is unlabelled. Accuracy: row 1 right, row 2 wrong.
    assert m["accuracy"] == 0.5 and m["loss"] == pytest.approx(np.log1p(np.exp(2.0)) - 1.0)


# ---------------------------------------------------------------- chain metrics and submission


def test_chain_breakdown_adds_up():
    def rec(i, label, gold):
        return {"id": i, "label": label, "answers": {"text": [gold], "answer_start": [0]}}

    records = [rec("right", 0, "Paris"), rec("span", 1, "Nile"), rec("para", 2, "tea"),
               rec("lucky", 0, "1928"), rec("missing", 1, "x"), {"id": "test", "label": None}]
    choices = {"right": 0, "span": 1, "para": 0, "lucky": 3, "missing": 0, "test": 2}
    answers = {"right": "paris", "span": "the river", "para": "coffee", "lucky": "1928", "test": "?"}
    m = chain_metrics(records, choices, answers)
    assert m["total"] == 5 and m["missing_predictions"] == 1
    assert m["breakdown"] == {"correct": 2, "correct_from_wrong_paragraph": 1, "wrong_paragraph": 2,
                              "wrong_span": 1}
    b = m["breakdown"]
    assert b["correct"] + b["wrong_paragraph"] + b["wrong_span"] == m["total"]
    assert m["mc_accuracy"] == 40.0 and m["end_to_end_exact_match"] == 40.0


def chain_record(i, label, gold):
    return {"id": i, "label": label, "answers": {"text": [gold], "answer_start": [0]}}


def test_chain_f1_is_partial_and_exact_match_decides_correct():
    """End-to-end F1 is SQuAD F1 (partial credit), and a right bag of words in the wrong
    order (F1 100, EM 0) is a wrong span, not a correct answer."""
    records = [chain_record("part", 0, "Nile"), chain_record("order", 0, "Paris France")]
    m = chain_metrics(records, {"part": 0, "order": 0}, {"part": "Nile river", "order": "France Paris"})
    # part: P 1/2, R 1 -> F1 2/3, EM 0; order: F1 1, EM 0 -> F1 (2/3 + 1) / 2 = 5/6
    assert m["end_to_end_f1"] == pytest.approx(500 / 6, abs=1e-4) and m["end_to_end_exact_match"] == 0.0
    assert m["breakdown"] == {"correct": 0, "correct_from_wrong_paragraph": 0, "wrong_paragraph": 0,
                              "wrong_span": 2}


def test_chain_missing_answers_count_over_labelled_questions_and_no_pick_is_a_wrong_paragraph():
    """An unanswered test question (no label) is not a missing prediction; a question the
    multiple-choice model made no pick for has a wrong paragraph, whatever its answer."""
    records = [chain_record("a", 0, "x"), {"id": "test", "label": None}]
    m = chain_metrics(records, {"test": 0}, {"a": "y"})  # no pick for "a"; no answer for "test"
    assert m["missing_predictions"] == 0 and m["total"] == 1 and m["mc_accuracy"] == 0.0
    assert m["breakdown"] == {"correct": 0, "correct_from_wrong_paragraph": 0, "wrong_paragraph": 1,
                              "wrong_span": 0}


def test_choose_picks_each_questions_best_candidate_and_its_paragraph_is_the_context():
    """argmax over each question's candidates (the last axis), not over questions, and the
    QA record then reads that candidate."""
    assert choose(np.array([[0.0, 2.0, 1.0], [3.0, 0.0, 1.0]])) == [1, 0]
    recs = [{"id": "a", "candidates": ["p0", "p1"]}, {"id": "b", "candidates": ["q0", "q1"]}]
    assert [r["context"] for r in with_chosen_context(recs, [1, 0])] == ["p1", "q0"]


def test_submission_csv_quotes_answers():
    text = submission_csv([{"id": "1"}, {"id": "2"}, {"id": "3"}], {"1": "1,000 km", "2": 'say "hi"'})
    assert text == 'id,answer\n1,"1,000 km"\n2,"say ""hi"""\n3,\n'
