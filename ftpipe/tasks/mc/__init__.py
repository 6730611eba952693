"""Multiple choice: which candidate paragraph holds the answer to a question.

Data: QA records (the qa task's prepared JSONL, or any SQuAD-format records) with
candidate paragraphs: given by the ADL format, else derived (:mod:`.candidates`). One
feature per question: ``k`` sequences ``[CLS] question [SEP] paragraph [SEP]`` (the
paragraph truncated to ``max_length``, the question never), nested as lists of ``k``
rows, and ``labels`` (the gold index; -1 when unknown, as in a test set). Head:
``AutoModelForMultipleChoice``, one score per candidate from its [CLS] pooler or the masked
mean of its tokens (``model.pooling``, as GLUE's). Predictions: ``choices.json`` (the pick and every
candidate's score). Metrics: accuracy and mean cross-entropy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import Field

from ...batching import MODEL_INPUTS
from ...config import DataConfig, PooledModelConfig, Section
from ...errors import DataError
from ...io import read_json, write_json
from ...records import (LoadReport, Policy, check_overlap, check_text, collect, data_file, jsonl_rows, question_field,
                         record_id, split_records, text_field)
from ...vocab import check_question_lengths, check_vocabulary
from ..base import Task
from .candidates import check_candidates, derive_candidates

NO_LABEL = -1


class MCDataConfig(DataConfig):
    candidates: Annotated[int, Field(ge=2)]  # paragraphs per question when derived (gold + k-1)


class MCTokenizeConfig(Section):
    max_length: Annotated[int, Field(ge=16)]  # question + one paragraph (truncated)


class MCPredictConfig(Section):
    pass


def tokenize_choices(records: list[dict], tokenizer: Any, max_length: int) -> dict[str, list]:
    """Records with ``candidates`` (and ``label``) -> nested columns, one row per question."""
    k_of = [len(r["candidates"]) for r in records]
    questions = [r["question"].lstrip() for r, k in zip(records, k_of) for _ in range(k)]
    paragraphs = [p for r in records for p in r["candidates"]]
    enc = tokenizer(questions, paragraphs, truncation="only_second", max_length=max_length)
    cols: dict[str, list] = {k: [] for k in MODEL_INPUTS if k in enc}
    pos = 0
    for k in k_of:
        for key in cols:
            cols[key].append(enc[key][pos:pos + k])
        pos += k
    cols["labels"] = [NO_LABEL if r.get("label") is None else r["label"] for r in records]
    # Cost of a question ~ k x its longest sequence: what length-grouped batching sorts by.
    cols["length"] = [max(len(ids) for ids in group) for group in cols["input_ids"]]
    cols["id"] = [r["id"] for r in records]
    return cols


def _record(rid: str, rec: dict, src: str, policy: Policy, report: LoadReport) -> dict | None:
    """A record multiple choice can use: an id, a question, and the gold paragraph
    (``context``) or its own ``candidates`` (their label: :func:`check_candidates`)."""
    qid = record_id(rec, src, rid)
    question = question_field(rec, src, rid, policy, report.records)
    if question is None:
        return None
    cands = rec.get("candidates")
    if not cands or rec.get("context") is not None:  # no candidates: derived from the gold paragraph
        text_field(rec, "context", src, rid)
    if isinstance(cands, list):
        for i, c in enumerate(cands):
            if not isinstance(c, str):
                raise DataError(src, rid, f"candidates[{i}]", f"expected a paragraph (a string), got {c!r}")
            check_text(c, src, rid, f"candidates[{i}]")
    title = "" if rec.get("title") is None else text_field(rec, "title", src, rid)  # null as in the qa task
    return {**rec, "id": qid, "question": question, "title": title}


def load_records(path: Path, mode: str, max_examples: int | None) -> tuple[list[dict], LoadReport]:
    """Validated records of a JSONL file (the qa task's prepared records, or your own)."""
    src = str(path)
    report, policy = LoadReport(source=src, unit="questions"), Policy(mode, src)

    def rows():
        for rid, rec in jsonl_rows(path):
            report.records.read += 1
            yield rid, _record(rid, rec, src, policy, report)

    return collect(rows(), src, report, max_examples), report


def accuracy(logits: np.ndarray, labels: Any) -> float:
    labels = np.asarray(labels)
    known = labels != NO_LABEL
    if not known.any():
        return float("nan")
    return float((logits.argmax(-1)[known] == labels[known]).mean())


class MCTask(Task):
    name = "mc"
    data_config = MCDataConfig
    tokenize_config = MCTokenizeConfig
    predict_config = MCPredictConfig
    model_config = PooledModelConfig
    auto_model = "AutoModelForMultipleChoice"
    metric = "accuracy"

    def prepare(self, d: MCDataConfig) -> tuple[dict[str, list[dict]], dict, dict]:
        files = {"train": d.train, "eval": d.eval, "test": d.test}
        loaded = {s: load_records(data_file(d.dir, f), d.bad_records, d.max_examples if s == "train" else None)
                  for s, f in files.items() if f}
        splits = {s: records for s, (records, _) in loaded.items()}
        if "eval" not in splits:
            splits["train"], splits["eval"] = split_records(splits["train"], d.eval_size, d.split_seed,
                                                            unit="questions")
        overlap = check_overlap(splits["train"], splits["eval"],
                                lambda r: [("id", r["id"]), ("question", r["question"], r.get("context"))],
                                str(Path(d.dir) / (d.eval or d.train)), d.allow_overlap)
        pool = splits["train"] + splits["eval"]  # distractors may come from either side
        for split, records in splits.items():
            splits[split] = derive_candidates(records, pool, d.candidates, d.split_seed)
            check_candidates(splits[split], str(Path(d.dir) / (files[split] or d.train)))
        report = {"files": {s: r.as_dict() for s, (_, r) in loaded.items()},
                  "splits": {s: {"questions": len(r), "candidates": sum(len(x["candidates"]) for x in r),
                                 "labelled": sum(1 for x in r if x.get("label") is not None)}
                             for s, r in splits.items()}, "eval_overlapping_train": overlap}
        return splits, report, {}

    def featurize(self, records: list[dict], tokenizer: Any, cfg: MCTokenizeConfig, split: str,
                  meta: dict) -> tuple[dict[str, list], dict]:
        check_question_lengths(records, tokenizer, cfg.max_length, f"{split} split")
        cols = tokenize_choices(records, tokenizer, cfg.max_length)
        lengths = cols["length"]
        stats = {"questions": len(records), "candidates": sum(len(r["candidates"]) for r in records),
                 "mean_longest_tokens": round(sum(lengths) / len(lengths), 2),
                 "truncated_sequences": sum(len(ids) >= cfg.max_length for g in cols["input_ids"] for ids in g),
                 "unk_token_pct": check_vocabulary((ids for g in cols["input_ids"] for ids in g), tokenizer,
                                                   tokenizer.name_or_path, f"{split} split")}
        return cols, stats

    def decode(self, rows: list[dict], features: Any, records: list[dict], cfg: Section, meta: dict) -> dict:
        logits = np.stack([r["logits"] for r in rows]) if rows else np.zeros((0, 0))
        return {"ids": [r["id"] for r in records], "logits": logits, "labels": list(features["labels"])}

    def score(self, predictions: dict, records: list[dict]) -> dict:
        logits, labels = predictions["logits"], np.asarray(predictions["labels"])
        logp = torch.log_softmax(torch.from_numpy(logits), -1).numpy()
        known = np.flatnonzero(labels != NO_LABEL)
        return {"accuracy": accuracy(logits, labels),
                "loss": float(-logp[known, labels[known]].mean()) if len(known) else float("nan")}

    def write_predictions(self, out_dir: Path, predictions: dict, records: list[dict], split: str,
                          meta: dict) -> None:
        write_json(out_dir / "choices.json", {
            i: {"choice": int(s.argmax()), "label": None if lab == NO_LABEL else int(lab),
                "scores": [round(float(x), 4) for x in s]}
            for i, s, lab in zip(predictions["ids"], predictions["logits"], predictions["labels"])})

    def read_predictions(self, pred_dir: Path, split: str) -> dict:
        path = Path(pred_dir) / "choices.json"
        choices = read_json(path)
        if not isinstance(choices, dict):
            raise DataError(str(path), None, None, f"expected an object {{question id: choice}}, "
                                                   f"got a {type(choices).__name__}")
        for qid, c in choices.items():
            if not (isinstance(c, dict) and isinstance(c.get("scores"), list) and c["scores"]
                    and all(isinstance(x, (int, float)) for x in c["scores"])):
                raise DataError(str(path), qid, "scores", "expected a list of candidate scores")
        return {"ids": list(choices), "logits": np.array([c["scores"] for c in choices.values()], dtype=np.float32),
                "labels": [NO_LABEL if c["label"] is None else c["label"] for c in choices.values()]}


TASK = MCTask()
