"""Extractive question answering (SQuAD v1.1 / v2.0, the ADL course format).

Data: a SQuAD JSON or JSONL file, an ADL directory (``context.json`` + split files), or a
hub dataset (``data/hub/squad``). Features: sliding windows (:mod:`.windows`). Head:
``AutoModelForQuestionAnswering``. Predictions: n-best post-processing (:mod:`.postprocess`)
into SQuAD's ``predictions.json`` / ``nbest_predictions.json``. Metrics: official EM/F1
(:mod:`.scoring`), F1 by character for Chinese.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from ...config import DataConfig, Number, PositiveInt, Section, check
from ...errors import DataError
from ...hub import is_hub_dir, load_split
from ...io import read_json, write_json
from ...records import LoadReport, check_overlap, collect, data_file, split_records
from ...vocab import check_question_lengths, check_vocabulary
from ..base import Task
from .adl import is_adl_dir, load_adl
from .postprocess import postprocess
from .scoring import squad_metrics
from .squad import count_answers, iter_records, load_squad
from .windows import to_columns, tokenize_eval, tokenize_train


class QADataConfig(DataConfig):
    split_by: Literal["question", "article"]  # article: no evaluation context was seen in training
    version_2_with_negative: bool  # SQuAD v2.0: unanswerable questions allowed


class QATokenizeConfig(Section):
    max_length: Annotated[int, Field(ge=16)]
    stride: Annotated[int, Field(ge=0)]  # tokens shared by consecutive windows
    pad_to_max_length: bool  # true: the straightforward recipe (every window padded on disk)

    @model_validator(mode="after")
    def _stride(self):
        check(self.stride < self.max_length, "stride", f"0 <= stride < max_length ({self.max_length})")
        return self


class QAPredictConfig(Section):
    n_best_size: PositiveInt
    max_answer_length: PositiveInt  # in tokens
    null_score_diff_threshold: Number  # v2: answer "" when null score - best span > this


def load_qa(directory: str, name: str, d: QADataConfig, max_examples: int | None = None, test: bool = False
            ) -> tuple[list[dict], LoadReport]:
    """One split: ``name`` is a file in ``directory`` (SQuAD JSON/JSONL or an ADL split file),
    or a hub split when ``directory`` holds hub.yaml; ``test``: questions may be unanswered."""
    if is_hub_dir(directory):
        src = f"{directory} [{name}]"
        report = LoadReport(source=src, unit="questions")
        rows = ((str(rec.get("id", i)), rec) for i, rec in enumerate(load_split(directory, name)))
        records = collect(iter_records(rows, src, d.version_2_with_negative, d.bad_records, report, test), src,
                          report, max_examples)
        count_answers(records, report)
        return records, report
    path = data_file(directory, name)
    if is_adl_dir(directory):
        return load_adl(directory, name, d.bad_records, max_examples)
    return load_squad(path, d.version_2_with_negative, d.bad_records, max_examples, test)


def split_counts(records: list[dict]) -> dict:
    """Questions and answers of a split; answerable vs unanswerable (v2) vs unlabelled (test)."""
    labelled = [r for r in records if "answers" in r]
    return {"questions": len(records), "answers": sum(len(r["answers"]["text"]) for r in labelled),
            "answerable": sum(1 for r in labelled if r["answers"]["text"]),
            "unanswerable": sum(1 for r in labelled if not r["answers"]["text"]),
            "unlabelled": len(records) - len(labelled)}


def overlap_keys(record: dict) -> list:
    """What makes an evaluation question one the model trained on: its id, or its text."""
    return [("id", record["id"]), ("question", record["question"], record.get("context"))]


class QATask(Task):
    name = "qa"
    data_config = QADataConfig
    tokenize_config = QATokenizeConfig
    predict_config = QAPredictConfig
    auto_model = "AutoModelForQuestionAnswering"
    metric = "f1"
    label_keys = ("start_positions", "end_positions")
    token_outputs = ("start_logits", "end_logits")

    def prepare(self, d: QADataConfig) -> tuple[dict[str, list[dict]], dict, dict]:
        train, train_report = load_qa(d.dir, d.train, d, d.max_examples)
        files, overlap = {"train": train_report}, 0
        if d.eval:
            evals, files["eval"] = load_qa(d.dir, d.eval, d)
            overlap = check_overlap(train, evals, overlap_keys, files["eval"].source, d.allow_overlap)
        else:
            train, evals = split_records(train, d.eval_size, d.split_seed,
                                         "title" if d.split_by == "article" else None, "questions")
        splits = {"train": train, "eval": evals}
        meta = {"version_2": d.version_2_with_negative}
        if d.test:
            splits["test"], files["test"] = load_qa(d.dir, d.test, d, test=True)
            meta["test_in_context"] = all("context" in r for r in splits["test"])
        report = {"files": {s: r.as_dict() for s, r in files.items()},
                  "splits": {s: split_counts(r) for s, r in splits.items()}, "eval_overlapping_train": overlap}
        return splits, report, meta

    def has_labels(self, records: list[dict]) -> bool:
        return all("answers" in r for r in records)

    def splits_of(self, meta: dict) -> tuple[str, ...]:
        """A test split's questions are answered here when they come with their paragraph
        (SQuAD); ADL's test questions come with candidates only: the chain answers them."""
        return self.splits if meta.get("test_in_context") else ("train", "eval")

    def featurize(self, records: list[dict], tokenizer: Any, cfg: QATokenizeConfig, split: str,
                  meta: dict) -> tuple[dict[str, list], dict]:
        source = f"{split} split"
        check_question_lengths(records, tokenizer, cfg.max_length, source, cfg.stride)
        if split == "train":
            cols = tokenize_train(to_columns(records), tokenizer, cfg.max_length, cfg.stride, cfg.pad_to_max_length)
        else:  # no answers needed (a test split may have none)
            cols = tokenize_eval(to_columns(records, ("id", "question", "context")), tokenizer, cfg.max_length,
                                 cfg.stride, cfg.pad_to_max_length)
        lengths = cols["length"]
        stats = {"examples": len(records), "windows": len(lengths),
                 "windows_per_example": round(len(lengths) / len(records), 4),
                 "mean_tokens": round(sum(lengths) / len(lengths), 2), "max_tokens": max(lengths),
                 "unk_token_pct": check_vocabulary(cols["input_ids"], tokenizer, tokenizer.name_or_path, source)}
        return cols, stats

    def outputs(self, model_output: Any) -> dict[str, Any]:
        return {"start_logits": model_output.start_logits, "end_logits": model_output.end_logits}

    def decode(self, rows: list[dict], features: Any, records: list[dict], cfg: QAPredictConfig,
               meta: dict) -> dict:
        answers, nbest = postprocess(
            records, features["example_id"], features["offset_mapping"], [r["start_logits"] for r in rows],
            [r["end_logits"] for r in rows], n_best_size=cfg.n_best_size, max_answer_length=cfg.max_answer_length,
            version_2=meta.get("version_2", False), null_score_diff_threshold=cfg.null_score_diff_threshold)
        return {"answers": answers, "nbest": nbest}

    def score(self, predictions: dict, records: list[dict]) -> dict:
        return squad_metrics(predictions["answers"], records)

    def write_predictions(self, out_dir: Path, predictions: dict, records: list[dict], split: str,
                          meta: dict) -> None:
        write_json(out_dir / "predictions.json", predictions["answers"])
        write_json(out_dir / "nbest_predictions.json", predictions["nbest"], indent=None)

    def read_predictions(self, pred_dir: Path, split: str) -> dict:
        path = Path(pred_dir) / "predictions.json"
        answers = read_json(path)
        if not isinstance(answers, dict):
            raise DataError(str(path), None, None, f"expected an object {{question id: answer}}, "
                                                   f"got a {type(answers).__name__}")
        for qid, answer in answers.items():
            if not isinstance(answer, str):
                raise DataError(str(path), qid, None, f"expected the answer text, got {answer!r:.60}")
        return {"answers": answers}


TASK = QATask()
