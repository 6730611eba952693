"""GLUE: each task's TSV layout (and the hub's fields), bad rows under the policy, the
metrics and their edge cases, the regression head, pair-swap augmentation and the GLUE
server's submission format."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import model_config, run_params
from ftpipe.errors import DataError, ParamsError
from ftpipe.tasks.glue import TASK as GLUE
from ftpipe.tasks.glue import GlueDataConfig, submission_tsv
from ftpipe.tasks.glue.layouts import LAYOUTS
from ftpipe.tasks.glue.scoring import glue_metrics

# One labelled row per task in GLUE's own layout (header, columns), and a test file's.
FILES = {
    "cola": ("gj04\t1\t\tThe sailors rode the breeze.\ngj04\t0\t*\tThe sailors \"rode\" breeze the.", None),
    "sst2": ("sentence\tlabel\na gripping , funny film \t1\nflat and dull \t0\n", "index\tsentence\n0\tfine\n"),
    "mrpc": ("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tHe left .\tHe went away .\n"
             "0\t3\t4\tIt rained .\tPrices rose .\n", None),
    "qqp": ("id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n7\t1\t2\tHow to cook?\tHow do I cook?\t1\n"
            "8\t3\t4\tWhy?\tWhere?\t0\n", None),
    "stsb": ("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
             "0\tmain-forum\tdeft\t2014\t0001\tnone\tnone\tA man sings.\tA man is singing.\t4.750\n"
             "1\tmain-forums\tdeft\t2015\t0002\tnone\tnone\tA cat.\tThe sea.\t0.000\n",
             "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\n"
             "0\tmain-news\th\t2014\t0003\tnone\tnone\tRain today.\tIt rains.\n"),
    "mnli": ("index\tpromptID\tpairID\tgenre\ts1b\ts2b\ts1p\ts2p\tsentence1\tsentence2\tlabel1\tgold_label\n"
             "0\t1\t1e\tfiction\tx\tx\tx\tx\tA dog runs.\tAn animal moves.\tentailment\tentailment\n"
             "1\t2\t2c\tfiction\tx\tx\tx\tx\tA dog runs.\tNo dog runs.\tcontradiction\tcontradiction\n", None),
    "qnli": ("index\tquestion\tsentence\tlabel\n0\tWho?\tAda did.\tentailment\n"
             "1\tWhen?\tIt is blue.\tnot_entailment\n", None),
    "rte": ("index\tsentence1\tsentence2\tlabel\n0\tAda wrote it.\tAda is a writer.\tentailment\n"
            "1\tIt is cold.\tIt is hot.\tnot_entailment\n", None),
}

# What the first training row of each must read as: (id, text_a, text_b), so a layout that
# maps a sentence to an id column (MRPC's "#1 ID", QQP's "qid1") fails.
FIRST = {
    "cola": ("line 1", "The sailors rode the breeze.", None),
    "sst2": ("line 2", "a gripping , funny film ", None),
    "mrpc": ("line 2", "He left .", "He went away ."),
    "qqp": ("7", "How to cook?", "How do I cook?"),
    "stsb": ("0", "A man sings.", "A man is singing."),
    "mnli": ("0", "A dog runs.", "An animal moves."),
    "qnli": ("0", "Who?", "Ada did."),
    "rte": ("0", "Ada wrote it.", "Ada is a writer."),
}


def data_cfg(tmp_path, task, **kw) -> GlueDataConfig:
    return GlueDataConfig(**{"dir": str(tmp_path), "train": "train.tsv", "eval": "dev.tsv", "test": None,
                             "eval_size": 0.5, "split_seed": 0, "max_examples": None, "bad_records": "error",
                             "allow_overlap": True, "task": task, "eval_mismatched": None, "test_mismatched": None,
                             **kw})


@pytest.mark.parametrize("task", list(FILES))
def test_each_task_reads_its_layout(tmp_path, task):
    train, test = FILES[task]
    (tmp_path / "train.tsv").write_text(train)
    (tmp_path / "dev.tsv").write_text(train)
    if test:
        (tmp_path / "test.tsv").write_text(test)
    splits, report, meta = GLUE.prepare(data_cfg(tmp_path, task, test="test.tsv" if test else None))
    layout = LAYOUTS[task]
    first = splits["train"][0]
    assert meta == {"glue_task": task} and len(splits["train"]) == 2
    assert (first["id"], first["text_a"], first["text_b"]) == FIRST[task]
    if layout.labels is None:
        assert [r["label"] for r in splits["train"]] == [4.75, 0.0]
    else:
        assert sorted(r["label"] for r in splits["train"]) == [0, layout.labels.index(layout.labels[-1])]
    assert report["files"]["train"]["rows"]["kept"] == 2
    if test:
        assert splits["test"][0]["label"] is None and report["splits"]["test"]["unlabelled"] == 1


# nyu-mll/glue's fields: integer labels (test splits carry -1), STS-B's score a float.
HUB = {
    "mrpc": ({"sentence1": "He left .", "sentence2": "He went away .", "label": 1, "idx": 0},
             ("He left .", "He went away .", 1)),
    "mnli": ({"premise": "A dog runs.", "hypothesis": "No dog runs.", "label": 2, "idx": 0},
             ("A dog runs.", "No dog runs.", 2)),
    "qnli": ({"question": "Who?", "sentence": "Ada did.", "label": 1, "idx": 0}, ("Who?", "Ada did.", 1)),
    "stsb": ({"sentence1": "A man sings.", "sentence2": "A man is singing.", "label": 4.75, "idx": 0},
             ("A man sings.", "A man is singing.", 4.75)),
    "cola": ({"sentence": "The sailors rode the breeze.", "label": 1, "idx": 0},
             ("The sailors rode the breeze.", None, 1)),
}


@pytest.mark.parametrize("task", list(HUB))
def test_hub_rows_read_the_hub_fields_and_test_labels_of_minus_one_are_unlabelled(tmp_path, task, monkeypatch):
    import ftpipe.tasks.glue as glue

    row, expected = HUB[task]
    unlabelled = {**row, "label": -1}
    monkeypatch.setattr(glue, "is_hub_dir", lambda d: True)
    monkeypatch.setattr(glue, "load_split", lambda d, split, config: [row, {**row, "idx": 1}] if split != "test"
                        else [{**unlabelled, "idx": 7}])
    splits, report, _ = GLUE.prepare(data_cfg(tmp_path, task, test="test"))
    first = splits["train"][0]
    assert (first["text_a"], first["text_b"], first["label"]) == expected
    assert splits["test"][0]["label"] is None and report["splits"]["test"]["unlabelled"] == 1
    assert splits["test"][0]["index"] == "7"  # the hub's idx: the submission's index
    # the hub's test split named as the eval split: its -1s are bad labels, not an unlabelled eval
    with pytest.raises(DataError, match=r"\[test\]: record row 0: field 'label': no label"):
        GLUE.prepare(data_cfg(tmp_path, task, eval="test"))


def test_cola_quirks_are_data(tmp_path):
    """No trailing newline, quotes inside sentences (not CSV quoting), no header."""
    (tmp_path / "train.tsv").write_text(FILES["cola"][0])
    (tmp_path / "dev.tsv").write_text(FILES["cola"][0])
    splits, _, _ = GLUE.prepare(data_cfg(tmp_path, "cola"))
    assert splits["train"][1]["text_a"] == 'The sailors "rode" breeze the.' and splits["train"][1]["label"] == 0


BAD = {
    "wrong width": ("gj04\t1\tThe sailors rode.\n", "line 3", "expected 4 tab-separated columns, got 3",
                    "wrong_column_count"),
    "cola label": ("gj04\t2\t\tThe sailors rode.\n", "line 3", "expected one of 0, 1, got '2'", "bad_label"),
    "empty sentence": ("gj04\t1\t\t \n", "line 3", "empty sentence", "empty_sentence"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_rows_follow_the_policy(tmp_path, case):
    row, record, message, reason = BAD[case]
    good = "gj04\t1\t\tA fine sentence.\ngj04\t0\t*\tSentence fine a.\n"
    (tmp_path / "train.tsv").write_text(good + row)
    (tmp_path / "dev.tsv").write_text(good)
    with pytest.raises(DataError, match=f"train.tsv: record {record}.*{message}"):
        GLUE.prepare(data_cfg(tmp_path, "cola"))
    splits, report, _ = GLUE.prepare(data_cfg(tmp_path, "cola", bad_records="skip"))
    assert len(splits["train"]) == 2
    assert report["files"]["train"]["rows"]["dropped_by_reason"] == {reason: 1}


@pytest.mark.parametrize("score, message", [("5.5", "in \\[0, 5\\], got '5.5'"), ("high", "could not convert"),
                                            ("nan", "in \\[0, 5\\], got 'nan'")])
def test_stsb_scores_outside_0_5_or_not_numbers(tmp_path, score, message):
    header, row, _ = FILES["stsb"][0].split("\n", 2)
    (tmp_path / "train.tsv").write_text(f"{header}\n{row}\n" + row.rsplit("\t", 1)[0] + f"\t{score}\n")
    (tmp_path / "dev.tsv").write_text(FILES["stsb"][0])
    with pytest.raises(DataError, match=f"record line 3: field 'score': .*{message}"):
        GLUE.prepare(data_cfg(tmp_path, "stsb"))


def test_a_file_of_another_task_is_named(tmp_path):
    (tmp_path / "train.tsv").write_text(FILES["rte"][0])
    (tmp_path / "dev.tsv").write_text(FILES["rte"][0])
    with pytest.raises(DataError, match="column missing from the header.*STS-B layout"):
        GLUE.prepare(data_cfg(tmp_path, "stsb"))


def test_mnli_matched_and_mismatched_are_scored_apart(tmp_path):
    """Both MNLI files number their rows from 0: the ids were the same in both sets, so a
    prediction of one set overwrote the other's."""
    for name in ("train.tsv", "dev_matched.tsv", "dev_mismatched.tsv"):
        (tmp_path / name).write_text(FILES["mnli"][0])
    splits, _, _ = GLUE.prepare(data_cfg(tmp_path, "mnli", eval="dev_matched.tsv",
                                         eval_mismatched="dev_mismatched.tsv"))
    evals = splits["eval"]
    assert [r["subset"] for r in evals] == ["matched", "matched", "mismatched", "mismatched"]
    assert [r["index"] for r in evals] == ["0", "1", "0", "1"] and len({r["id"] for r in evals}) == 4
    preds = {"task": "mnli", "ids": [r["id"] for r in evals], "predictions": [0, 2, 0, 0]}
    m = GLUE.score(preds, evals)
    assert m["accuracy"] == 1.0 and m["accuracy_mismatched"] == 0.5 and m["total"] == 4


def test_metrics_and_their_edge_cases():
    cola, stsb, mrpc = LAYOUTS["cola"], LAYOUTS["stsb"], LAYOUTS["mrpc"]
    assert glue_metrics(cola, [1, 1, 1, 1], [1, 0, 1, 0]) == {"accuracy": 0.5, "mcc": 0.0}  # constant: 0
    assert glue_metrics(cola, [1, 0, 1, 0], [1, 0, 1, 0])["mcc"] == pytest.approx(1.0)
    constant = glue_metrics(stsb, [2.5, 2.5, 2.5], [1.0, 2.0, 4.0])
    assert constant["pearson"] == 0.0 and constant["spearman"] == 0.0 and constant["mse"] > 0
    # constant labels (a tiny eval split can have them): 0 as well, never NaN
    assert glue_metrics(stsb, [1.0, 2.0, 3.0], [2.0, 2.0, 2.0]) == {"pearson": 0.0, "spearman": 0.0,
                                                                   "mse": pytest.approx(2 / 3)}
    assert glue_metrics(cola, [1, 0, 1], [1, 1, 1]) == {"accuracy": pytest.approx(2 / 3), "mcc": 0.0}
    m = glue_metrics(stsb, [1.0, 2.0, 3.5], [1.0, 2.5, 4.0])
    assert m["spearman"] == pytest.approx(1.0) and 0.9 < m["pearson"] < 1.0
    assert glue_metrics(mrpc, [0, 0, 0], [1, 0, 1]) == {"accuracy": pytest.approx(1 / 3), "f1": 0.0}
    assert glue_metrics(mrpc, [1, 0, 1], [1, 0, 0])["f1"] == pytest.approx(2 / 3)


def test_metrics_keep_their_sign_and_mse_squares():
    """A model that is always wrong has MCC -1 and a reversed ranking correlation -1 (not
    clipped at 0, not their absolute value); STS-B's error is the mean squared one."""
    cola, stsb = LAYOUTS["cola"], LAYOUTS["stsb"]
    # TP = TN = 0, FP = FN = 2: MCC = (0*0 - 2*2) / sqrt(2*2*2*2) = -1
    assert glue_metrics(cola, [0, 1, 0, 1], [1, 0, 1, 0]) == {"accuracy": 0.0, "mcc": pytest.approx(-1.0)}
    m = glue_metrics(stsb, [3.0, 2.0, 1.0], [1.0, 2.0, 3.0])
    # errors 2, 0, -2: MSE (4 + 0 + 4) / 3 = 8/3 (MAE would be 4/3, RMSE 1.63)
    assert m == {"pearson": pytest.approx(-1.0), "spearman": pytest.approx(-1.0), "mse": pytest.approx(8 / 3)}


def test_an_empty_regression_split_scores_no_correlation_and_does_not_crash():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy: mean of an empty slice
        m = glue_metrics(LAYOUTS["stsb"], [], [])
    assert m["pearson"] == 0.0 and m["spearman"] == 0.0


def test_submission_format():
    assert submission_tsv(LAYOUTS["cola"], [1, 0], [None, None]) == "index\tprediction\n0\t1\n1\t0\n"
    assert submission_tsv(LAYOUTS["rte"], [1, 0], ["0", "1"]) == \
        "index\tprediction\n0\tnot_entailment\n1\tentailment\n"
    assert submission_tsv(LAYOUTS["stsb"], [5.7, -0.2, 3.14159], ["0", "1", "2"]) == \
        "index\tprediction\n0\t5.000\n1\t0.000\n2\t3.142\n"


def test_write_predictions_names_the_files_as_glue_does(tmp_path):
    records = [{"id": "0", "index": "0", "subset": "matched"}, {"id": "mismatched-0", "index": "0",
                                                                "subset": "mismatched"}]
    GLUE.write_predictions(tmp_path, {"task": "mnli", "ids": ["0", "mismatched-0"], "predictions": [2, 1]}, records,
                           "test", {"glue_task": "mnli"})
    assert (tmp_path / "MNLI-m.tsv").read_text() == "index\tprediction\n0\tcontradiction\n"
    assert (tmp_path / "MNLI-mm.tsv").read_text() == "index\tprediction\n0\tneutral\n"
    assert GLUE.read_predictions(tmp_path, "test")["predictions"] == [2, 1]
    matched_only = tmp_path / "matched_only"  # no mismatched set given: still MNLI-m.tsv, as the server wants
    matched_only.mkdir()
    GLUE.write_predictions(matched_only, {"task": "mnli", "ids": ["0"], "predictions": [0]}, [{"id": "0", "index": "0"}],
                           "test", {"glue_task": "mnli"})
    assert [p.name for p in matched_only.glob("*.tsv")] == ["MNLI-m.tsv"]


def test_a_test_row_dropped_leaves_a_gap_in_the_submission_not_a_shift(tmp_path):
    (tmp_path / "train.tsv").write_text(FILES["cola"][0])
    (tmp_path / "test.tsv").write_text("index\tsentence\n0\tOne.\n1\t \n2\tThree.\n")
    splits, report, meta = GLUE.prepare(data_cfg(tmp_path, "cola", eval=None, test="test.tsv", bad_records="skip"))
    assert [r["index"] for r in splits["test"]] == ["0", "2"] and report["files"]["test"]["rows"]["dropped"] == 1
    GLUE.write_predictions(tmp_path, {"task": "cola", "ids": ["0", "2"], "predictions": [1, 0]}, splits["test"],
                           "test", meta)
    assert (tmp_path / "CoLA.tsv").read_text() == "index\tprediction\n0\t1\n2\t0\n"


def test_pair_swap_doubles_only_training_pairs(tokenizer):
    cfg = GLUE.tokenize_config(max_length=32, swap_pairs=True)
    recs = [{"id": "a", "text_a": "A man sings.", "text_b": "A man is singing.", "label": 4.5}]
    train, stats = GLUE.featurize(recs, tokenizer, cfg, "train", {"glue_task": "stsb"})
    assert train["id"] == ["a", "a-swapped"] and train["labels"] == [4.5, 4.5] and stats["rows"] == 2
    first = tokenizer.decode(train["input_ids"][0], skip_special_tokens=True)
    second = tokenizer.decode(train["input_ids"][1], skip_special_tokens=True)
    assert first.startswith("a man sings") and second.startswith("a man is singing")
    ev, _ = GLUE.featurize(recs, tokenizer, cfg, "eval", {"glue_task": "stsb"})
    assert ev["id"] == ["a"]


def test_pairs_are_truncated_longest_first_and_counted(tokenizer):
    """Tokens come off the longer sentence of a pair until both fit (not all off the first,
    nor off the second); a short pair is untouched; only the rows that did not fit count."""
    long_a = "the cat sat on the mat while the dog slept by the warm fire all day"  # 16 words, one token each
    long_b = "a cat sat on the red mat"  # 7
    recs = [{"id": "long", "text_a": long_a, "text_b": long_b, "label": 3.0},
            {"id": "short", "text_a": "a dog", "text_b": "a cat", "label": 1.0}]
    cfg = GLUE.tokenize_config(max_length=12, swap_pairs=False)
    enc, stats = GLUE.featurize(recs, tokenizer, cfg, "eval", {"glue_task": "stsb"})
    assert enc["length"] == [12, 7] and stats["truncated"] == 1 and stats["max_tokens"] == 12
    ids = enc["input_ids"][0]
    sep = [i for i, t in enumerate(ids) if t == tokenizer.sep_token_id]
    a, b = tokenizer.decode(ids[1:sep[0]]).split(), tokenizer.decode(ids[sep[0] + 1:sep[1]]).split()
    assert long_a.split()[:len(a)] == a and long_b.split()[:len(b)] == b  # each keeps its head
    assert len(a) + len(b) == 12 - 3 and abs(len(a) - len(b)) <= 1  # [CLS] [SEP] [SEP]; both cut to even


def test_mismatched_sets_only_for_mnli(tmp_path):
    import yaml

    from conftest import REPO
    from ftpipe.config import load_params

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["stsb"]["data"]["eval_mismatched"] = "dev_mismatched.tsv"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError, match="stsb.data.eval_mismatched: only MNLI has mismatched sets; allowed: null"):
        load_params(tmp_path / "params.yaml", "stsb")


def test_swap_pairs_only_for_symmetric_tasks(tmp_path):
    import yaml

    from conftest import REPO
    from ftpipe.config import load_params

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["cola"]["tokenize"]["swap_pairs"] = True
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError, match="cola.tokenize.swap_pairs: true applies to the symmetric pair tasks"):
        load_params(tmp_path / "params.yaml", "cola")


def test_regression_head_trains_with_mse(tiny_model_dir, tokenizer, tmp_path):
    """STS-B: one output, float labels, MSE; the tiny model fits a few scored pairs."""
    import datasets
    import torch

    from conftest import train_config
    from ftpipe.models import load_model
    from ftpipe.training import Evaluation, fit
    from ftpipe.verbs.train import evaluator

    pairs = [("a red car", "a red car", 5.0), ("a red car", "a blue sea", 0.5), ("cats sleep", "cats nap", 4.0),
             ("cats sleep", "rain falls", 1.0), ("he runs", "he is running", 4.5), ("he runs", "tea is hot", 0.0)]
    recs = [{"id": str(i), "text_a": a, "text_b": b, "label": s} for i, (a, b, s) in enumerate(pairs)]
    meta = {"glue_task": "stsb"}
    cols, _ = GLUE.featurize(recs, tokenizer, GLUE.tokenize_config(max_length=16, swap_pairs=False), "train", meta)
    ds = datasets.Dataset.from_dict(cols)
    model = load_model(model_config(tiny_model_dir), GLUE.auto_model, 0,
                       **GLUE.model_kwargs(meta))
    assert model.config.num_labels == 1 and model.config.problem_type == "regression"
    batch = GLUE.collator(tokenizer, ds.column_names)([ds[i] for i in range(2)])
    assert batch["labels"].dtype == torch.float32
    evaluate = evaluator(GLUE, ds, recs, tokenizer.pad_token_id, run_params("stsb", precision="fp32"), meta)
    cfg = train_config(epochs=60, batch_size=2, lr=3e-3, precision="fp32", warmup_ratio=0.0, checkpoint_every=0,
                       weight_decay=0.0)
    result = fit(model, ds.select_columns(["input_ids", "attention_mask", "token_type_ids", "labels"]),
                 GLUE.collator(tokenizer, ds.column_names), ds["length"], cfg, 0, Evaluation(evaluate, "pearson"))
    assert result.epochs[-1]["train_loss"] < 0.1 * result.epochs[0]["train_loss"]
    assert result.epochs[-1]["eval_pearson"] > 0.9 and np.isfinite(result.epochs[-1]["eval_mse"])


def _tiny_classifier(model_dir, pooling: str):
    """The stsb section's model as the train stage builds it, from ``model_dir``, with
    ``model.pooling`` set to ``pooling``."""
    section = run_params("stsb").task
    section = section.model_copy(update={"model": section.model.model_copy(
        update={"dir": str(model_dir), "pooling": pooling})})
    return GLUE.build_model(section, 0, False, {"glue_task": "stsb"})


def test_mean_pooling_averages_the_real_tokens_only(tiny_model_dir, tokenizer):
    """model.pooling: mean -> the head sees the masked mean of the last hidden states: the
    same sentence alone or padded beside a longer one scores the same, and the score is the
    head applied to that mean (the [CLS] pooler would give another number)."""
    import torch

    model = _tiny_classifier(tiny_model_dir, "mean").eval()
    enc = tokenizer(["a red car", "a red car parked by the long grey wall"], padding=True, return_tensors="pt")
    alone = tokenizer(["a red car"], return_tensors="pt")
    with torch.no_grad():
        padded = model(**enc).logits
        single = model(**alone).logits
        hidden = model.bert(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    expected = model.classifier(model.dropout((hidden * mask).sum(1) / mask.sum(1)))
    assert torch.allclose(padded, expected, atol=1e-5)
    assert torch.allclose(padded[0], single[0], atol=1e-5)
    with torch.no_grad():
        cls = _tiny_classifier(tiny_model_dir, "cls").eval()(**enc).logits
    assert not torch.allclose(cls, padded, atol=1e-3)


@pytest.mark.parametrize("method", ["full", "lora"])
def test_mean_pooling_is_saved_with_the_model(tiny_model_dir, tokenizer, tmp_path, method):
    """The trained model records its pooling; the predict stage's loader restores it (LoRA
    merged), so predictions after loading equal those of the trained model."""
    import torch

    from conftest import train_config
    from ftpipe.models import MeanPooler, apply_method, load_trained, save_model

    model = apply_method(_tiny_classifier(tiny_model_dir, "mean"), train_config(method=method)).eval()
    if method == "lora":  # LoRA's B starts at zero: make the merge matter
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.5)
    enc = tokenizer(["cats sleep", "a red car parked by the wall"], padding=True, return_tensors="pt")
    with torch.no_grad():
        before = model(**enc).logits
    save_model(model, tokenizer, tmp_path / "m")
    loaded, _ = load_trained(tmp_path / "m", GLUE.auto_model)
    assert isinstance(loaded.bert.pooler, MeanPooler)
    with torch.no_grad():
        assert torch.allclose(loaded.eval()(**enc).logits, before, atol=1e-5)


def test_loading_a_mean_pooled_model_reports_no_newly_initialized_pooler(tiny_model_dir, tokenizer, tmp_path):
    """The saved model has no [CLS] pooler weights (the mean replaces the pooler): the
    predict stage printed transformers' 'MISSING ... newly initialized' report for them. A
    weight missing elsewhere is an error."""
    from safetensors.torch import load_file, save_file

    from ftpipe.errors import ModelError
    from ftpipe.models import load_trained, save_model

    import logging

    save_model(_tiny_classifier(tiny_model_dir, "mean"), tokenizer, tmp_path / "m")
    logged, handler = [], logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())
    logging.getLogger("transformers").addHandler(handler)  # its own handler writes past pytest's capture
    try:
        load_trained(tmp_path / "m", GLUE.auto_model)
    finally:
        logging.getLogger("transformers").removeHandler(handler)
    assert not [m for m in logged if "MISSING" in m or "newly initialized" in m], logged
    weights = load_file(tmp_path / "m" / "model.safetensors")
    save_file({k: v for k, v in weights.items() if "classifier" not in k}, tmp_path / "m" / "model.safetensors",
              metadata={"format": "pt"})
    with pytest.raises(ModelError, match="weights missing from the saved model: classifier.bias, classifier.weight"):
        load_trained(tmp_path / "m", GLUE.auto_model)


def test_a_starting_model_does_not_pass_its_pooling_on(tiny_model_dir, tokenizer, tmp_path):
    """Fine-tuning starts from a model saved with mean pooling: the task's params decide
    (cls keeps BERT's pooler; another task's head does not inherit the key)."""
    from transformers.models.bert.modeling_bert import BertPooler

    from ftpipe.models import POOLING_KEY, load_model, save_model

    save_model(_tiny_classifier(tiny_model_dir, "mean"), tokenizer, tmp_path / "mean")
    cls = _tiny_classifier(tmp_path / "mean", "cls")
    assert isinstance(cls.bert.pooler, BertPooler) and not hasattr(cls.config, POOLING_KEY)
    for pretrained in (True, False):
        qa = load_model(model_config(tmp_path / "mean", pretrained), "AutoModelForQuestionAnswering", 0)
        assert not hasattr(qa.config, POOLING_KEY)


def test_mean_pooling_needs_a_pooler(tmp_path):
    """An architecture without a pooler (RoBERTa's classification head reads <s> itself)
    is refused with the allowed value, not silently trained with [CLS]."""
    from transformers import RobertaConfig, RobertaForSequenceClassification

    from ftpipe.models import use_mean_pooling

    model = RobertaForSequenceClassification(RobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                                           num_attention_heads=2, intermediate_size=32))
    with pytest.raises(ParamsError, match="model.pooling: mean needs .* pooler.*allowed: cls"):
        use_mean_pooling(model)
