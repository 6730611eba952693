"""The chained path: a multiple-choice model picks the paragraph, a span model answers.

``run_chain`` returns one choice and one answer per question; ``chain_metrics`` scores
the chain against the gold paragraph and answers and splits the errors:

* ``correct``: the chain's answer matches a gold answer exactly (EM 1); of these,
  ``correct_from_wrong_paragraph`` came from a paragraph that was not the gold one
  (the answer string also occurs there);
* ``wrong_paragraph``: EM 0 and the multiple-choice model picked a wrong paragraph;
* ``wrong_span``: EM 0 although the paragraph was right (the QA model's error).

``correct + wrong_paragraph + wrong_span == total``, always.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from .inference import forward_rows
from .tasks.mc import TASK as MC
from .tasks.qa import TASK as QA
from .tasks.qa.scoring import score_one
from .tasks.qa.windows import to_columns, tokenize_eval


def choose(logits: np.ndarray) -> list[int]:
    return [int(i) for i in logits.argmax(-1)]


def with_chosen_context(records: list[dict], choices: list[int]) -> list[dict]:
    """QA records whose context is the paragraph the multiple-choice model picked."""
    return [{**r, "context": r["candidates"][c]} for r, c in zip(records, choices)]


def mc_scores(mc_model: Any, features: Any, pad_token_id: int, batch_size: int, precision: str) -> np.ndarray:
    rows = forward_rows(mc_model, features, pad_token_id, batch_size, precision, MC.outputs)
    return np.stack([r["logits"] for r in rows]) if rows else np.zeros((0, 0))


def answer_chosen(qa_model: Any, qa_tokenizer: Any, records: list[dict], choices: list[int], tok: Any,
                  qa_predict: Any, batch_size: int, precision: str, meta: dict) -> dict:
    """QA answers from the chosen paragraphs: windows and n-best post-processing exactly
    as for the gold paragraph (the qa task's featurize / decode)."""
    import datasets

    examples = with_chosen_context(records, choices)
    cols = to_columns(examples, ("id", "question", "context"))
    features = datasets.Dataset.from_dict(tokenize_eval(cols, qa_tokenizer, tok.max_length, tok.stride))
    rows = forward_rows(qa_model, features, qa_tokenizer.pad_token_id, batch_size, precision, QA.outputs,
                        QA.token_outputs)
    return QA.decode(rows, features, examples, qa_predict, meta)


def chain_metrics(records: list[dict], choices: dict[str, int], answers: dict[str, str]) -> dict:
    """MC accuracy, end-to-end EM/F1 (percent) and the error breakdown, over labelled records."""
    labelled = [r for r in records if r.get("label") is not None]
    n = len(labelled)
    counts = {"correct": 0, "correct_from_wrong_paragraph": 0, "wrong_paragraph": 0, "wrong_span": 0}
    em_sum = f1_sum = mc_right = 0.0
    for r in labelled:
        right_paragraph = choices.get(r["id"]) == r["label"]
        em, f1 = score_one(answers.get(r["id"], ""), r["answers"]["text"]) if r["id"] in answers else (0.0, 0.0)
        mc_right += right_paragraph
        em_sum += em
        f1_sum += f1
        if em == 1.0:
            counts["correct"] += 1
            counts["correct_from_wrong_paragraph"] += not right_paragraph
        elif right_paragraph:
            counts["wrong_span"] += 1
        else:
            counts["wrong_paragraph"] += 1
    pct = (lambda x: round(100.0 * x / n, 4)) if n else (lambda x: 0.0)
    return {"mc_accuracy": pct(mc_right), "end_to_end_exact_match": pct(em_sum), "end_to_end_f1": pct(f1_sum),
            "total": n, "missing_predictions": sum(1 for r in labelled if r["id"] not in answers),
            "breakdown": counts}


def submission_csv(records: list[dict], answers: dict[str, str]) -> str:
    """The ADL course's submission format: ``id,answer`` with a header, one row per question."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "answer"])
    for r in records:
        w.writerow([r["id"], answers.get(r["id"], "")])
    return buf.getvalue()


def run(params: Any, mc_model_dir: str, qa_model_dir: str, mc_features: str, mc_prepared: str,
        qa_prepared: str, out: str, metrics_path: str) -> dict | None:
    """Predict the eval (and test) questions through both models; score the eval ones."""
    from .io import atomic_dir, load_features, read_json, read_jsonl, write_json, write_text
    from .models import load_trained

    pr = params.predict
    mc_model, mc_tok = load_trained(Path(mc_model_dir) / pr.checkpoint, MC.auto_model)
    qa_model, qa_tok = load_trained(Path(qa_model_dir) / pr.checkpoint, QA.auto_model)
    meta = read_json(Path(qa_prepared) / "meta.json")
    metrics = None
    with atomic_dir(out) as tmp:
        for split in ("eval", "test"):
            if not (Path(mc_prepared) / f"{split}.jsonl").is_file():
                continue
            records = read_jsonl(Path(mc_prepared) / f"{split}.jsonl")
            logits = mc_scores(mc_model, load_features(Path(mc_features) / split), mc_tok.pad_token_id,
                               pr.batch_size, pr.precision)
            picks = choose(logits)
            qa = answer_chosen(qa_model, qa_tok, records, picks, params.task.tokenize, params.task.predict,
                               pr.batch_size, pr.precision, meta)
            prefix = "" if split == "eval" else "test_"
            write_json(tmp / f"{prefix}predictions.json", qa["answers"])
            write_json(tmp / f"{prefix}nbest_predictions.json", qa["nbest"], indent=None)
            write_json(tmp / f"{prefix}choices.json",
                       {r["id"]: {"choice": c, "label": r.get("label"), "scores": [round(float(x), 4) for x in s]}
                        for r, c, s in zip(records, picks, logits)})
            if split == "test":
                write_text(tmp / "prediction.csv", submission_csv(records, qa["answers"]))
            else:
                metrics = chain_metrics(records, dict(zip((r["id"] for r in records), picks)), qa["answers"])
            print(f"[chain] {split}: {len(records)} answers")
    if metrics is not None:
        write_json(metrics_path, metrics)
        print(f"[chain] MC accuracy {metrics['mc_accuracy']:.2f}  end-to-end EM "
              f"{metrics['end_to_end_exact_match']:.2f}  F1 {metrics['end_to_end_f1']:.2f}  {metrics['breakdown']}")
    return metrics
