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
from typing import Any

import numpy as np

from .config import PredictConfig, TokenizeConfig
from .metrics import score_one
from .paragraphs import with_chosen_context
from .windows import to_columns, tokenize_eval


def choose(logits: np.ndarray) -> list[int]:
    return [int(i) for i in logits.argmax(-1)]


def answer_chosen(qa_model: Any, qa_tokenizer: Any, records: list[dict], choices: list[int],
                  tok: TokenizeConfig, pred: PredictConfig, version_2: bool) -> tuple[dict, dict, dict]:
    """QA answers from the chosen paragraphs: windows and n-best post-processing exactly
    as for the gold paragraph (:func:`ftpipe.qa.predict`)."""
    import datasets

    from .qa import predict

    examples = with_chosen_context(records, choices)
    cols = to_columns(examples, ("id", "question", "context"))
    features = datasets.Dataset.from_dict(tokenize_eval(cols, qa_tokenizer, tok.max_length, tok.stride))
    return predict(qa_model, features, examples, qa_tokenizer.pad_token_id, pred, version_2, pred.precision)


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
