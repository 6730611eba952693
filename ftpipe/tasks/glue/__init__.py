"""GLUE sentence(-pair) classification and regression: CoLA, SST-2, MRPC, QQP, STS-B,
MNLI, QNLI, RTE, by name (``data.task``).

Data: a directory of the task's TSV files in GLUE's own layouts (:mod:`.layouts`), or
``data/hub/glue`` (``nyu-mll/glue`` with the task as its configuration). Features: the
sentence or the pair, truncated longest-first to ``max_length``; optionally each training
pair a second time in the other order for the symmetric tasks (STS-B, MRPC: ELECTRA's
``double_unordered``). Head: ``AutoModelForSequenceClassification``, one output with MSE
for STS-B, on the [CLS] pooler or the masked mean of the tokens (``model.pooling``).
Predictions: ``predictions.json`` and the GLUE server's ``<TASK>.tsv`` (``index``,
``prediction``; words for the NLI tasks). Metrics: :mod:`.scoring`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from ...config import DataConfig, Name, PooledModelConfig, Section
from ...errors import DataError, ParamsError
from ...hub import is_hub_dir, load_split
from ...io import read_json, read_text, write_json, write_text
from ...records import LoadReport, Policy, check_overlap, collect, data_file, split_records
from ...vocab import check_vocabulary
from ..base import Task
from .layouts import LAYOUTS, Layout, header_columns, read_rows, to_record
from .scoring import glue_metrics

GlueName = Literal["cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte"]


class GlueDataConfig(DataConfig):
    task: GlueName  # which GLUE task: its layout, labels and metrics
    eval_mismatched: Name | None  # MNLI: dev_mismatched.tsv, scored apart
    test_mismatched: Name | None  # MNLI: test_mismatched.tsv -> MNLI-mm.tsv


class GlueTokenizeConfig(Section):
    max_length: Annotated[int, Field(ge=8)]  # the pair, truncated longest-first
    swap_pairs: bool  # symmetric tasks: each training pair also in the other order


class GluePredictConfig(Section):
    pass


def load_glue(directory: str, name: str, layout: Layout, d: GlueDataConfig, labelled: bool,
              max_examples: int | None = None) -> tuple[list[dict], LoadReport]:
    """One file (or hub split) of a GLUE task -> canonical records."""
    hub = is_hub_dir(directory)
    path = None if hub else data_file(directory, name)
    src = f"{directory} [{name}]" if hub else str(path)
    report = LoadReport(source=src, unit="rows")
    policy = Policy(d.bad_records, src)
    if hub:
        rows = hub_rows(load_split(directory, name, config=d.task), layout, labelled, policy, report.records)
    else:
        text = read_text(path)
        header_columns(text, layout, src, labelled)
        rows = read_rows(text, src, layout, labelled, policy, report.records)
    records = ((rid, to_record(layout, row, rid, src, labelled, policy, report.records)) for rid, row in rows)
    return collect(records, src, report, max_examples), report


def with_subsets(matched: list[dict], mismatched: list[dict]) -> list[dict]:
    """MNLI's two sets as one split: each row marked with its set, the mismatched ids made
    unique (both files number their rows from 0; the submission names ``index``)."""
    return ([{**r, "subset": "matched"} for r in matched]
            + [{**r, "subset": "mismatched", "id": f"mismatched-{r['id']}"} for r in mismatched])


def hub_rows(split: Any, layout: Layout, labelled: bool, policy: Policy, tally) -> list[tuple[str, dict]]:
    """nyu-mll/glue rows -> (record name, TSV column -> cell), as the files would read; a row
    without a label (-1: the hub's test splits) in a split read as labelled is bad."""
    a, b, label = layout.hub
    out = []
    for i, r in enumerate(split):
        tally.read += 1
        value = _hub_label(layout, r[label])
        if labelled and value is None:
            policy.bad(f"row {i}", label, "no label (-1, as in the hub's test splits)", "bad_label", tally)
            continue
        out.append((f"row {i}", {layout.text_a: r[a], **({layout.text_b: r[b]} if b else {}),
                                 layout.label: value, layout.id_column: r.get("idx", i)}))
    return out


def _hub_label(layout: Layout, value: Any) -> str | None:
    if value is None or value == -1:  # hub test splits carry -1
        return None
    return str(value) if layout.labels is None else layout.labels[int(value)]


def split_counts(layout: Layout, records: list[dict]) -> dict:
    labels = [r["label"] for r in records if r["label"] is not None]
    out = {"rows": len(records), "unlabelled": len(records) - len(labels)}
    if labels and layout.labels is None:
        out["mean_score"] = round(float(np.mean(labels)), 4)
    elif labels:
        out["by_label"] = {name: labels.count(i) for i, name in enumerate(layout.labels)}
    return out


def overlap_keys(record: dict) -> list:
    return [("text", record["text_a"], record["text_b"])]  # GLUE ids are row numbers per file


class GlueTask(Task):
    name = "glue"
    data_config = GlueDataConfig
    tokenize_config = GlueTokenizeConfig
    predict_config = GluePredictConfig
    model_config = PooledModelConfig
    auto_model = "AutoModelForSequenceClassification"
    metric = "score"  # set per GLUE task (meta); see metric_for

    def check_params(self, section: Any, source: str, name: str) -> None:
        layout = LAYOUTS[section.data.task]
        if section.tokenize.swap_pairs and not layout.symmetric:
            raise ParamsError(f"{source}: {name}.tokenize.swap_pairs: true applies to the symmetric pair tasks "
                              f"(mrpc, stsb), not {section.data.task}; allowed: false")
        for key in ("eval_mismatched", "test_mismatched"):
            if getattr(section.data, key) and section.data.task != "mnli":
                raise ParamsError(f"{source}: {name}.data.{key}: only MNLI has mismatched sets; allowed: null")

    def prepare(self, d: GlueDataConfig) -> tuple[dict[str, list[dict]], dict, dict]:
        layout = LAYOUTS[d.task]
        train, rep = load_glue(d.dir, d.train, layout, d, True, d.max_examples)
        files, overlap = {"train": rep}, 0
        if d.eval:
            evals, files["eval"] = load_glue(d.dir, d.eval, layout, d, True)
        else:
            train, evals = split_records(train, d.eval_size, d.split_seed, unit="rows")
        if d.eval_mismatched:
            more, files["eval_mismatched"] = load_glue(d.dir, d.eval_mismatched, layout, d, True)
            evals = with_subsets(evals, more)
        overlap = check_overlap(train, evals, overlap_keys, files.get("eval", rep).source, d.allow_overlap)
        splits = {"train": train, "eval": evals}
        if d.test:
            splits["test"], files["test"] = load_glue(d.dir, d.test, layout, d, False)
            if d.test_mismatched:
                more, files["test_mismatched"] = load_glue(d.dir, d.test_mismatched, layout, d, False)
                splits["test"] = with_subsets(splits["test"], more)
        report = {"files": {s: r.as_dict() for s, r in files.items()},
                  "splits": {s: split_counts(layout, r) for s, r in splits.items()},
                  "eval_overlapping_train": overlap}
        return splits, report, {"glue_task": d.task}

    def main_metric(self, meta: dict, section: Any = None) -> str:
        return LAYOUTS[meta["glue_task"]].metric

    def featurize(self, records: list[dict], tokenizer: Any, cfg: GlueTokenizeConfig, split: str,
                  meta: dict) -> tuple[dict[str, list], dict]:
        layout = LAYOUTS[meta["glue_task"]]
        if split == "train" and cfg.swap_pairs:
            records = records + [{**r, "id": f"{r['id']}-swapped", "text_a": r["text_b"], "text_b": r["text_a"]}
                                 for r in records]
        a = [r["text_a"] for r in records]
        b = [r["text_b"] for r in records] if layout.text_b else None
        full = tokenizer(a, b)["input_ids"]
        enc = dict(tokenizer(a, b, truncation="longest_first", max_length=cfg.max_length))
        enc["length"] = [len(ids) for ids in enc["input_ids"]]
        enc["id"] = [r["id"] for r in records]
        if all(r["label"] is not None for r in records):
            enc["labels"] = [r["label"] for r in records]
        stats = {"rows": len(records), "mean_tokens": round(float(np.mean(enc["length"])), 2),
                 "max_tokens": max(enc["length"]), "truncated": sum(len(ids) > cfg.max_length for ids in full),
                 "unk_token_pct": check_vocabulary(enc["input_ids"], tokenizer, tokenizer.name_or_path,
                                                   f"{split} split")}
        return enc, stats

    def model_kwargs(self, meta: dict) -> dict:
        layout = LAYOUTS[meta["glue_task"]]
        if layout.labels is None:
            return {"num_labels": 1, "problem_type": "regression"}
        return {"num_labels": len(layout.labels), "id2label": dict(enumerate(layout.labels)),
                "label2id": {name: i for i, name in enumerate(layout.labels)}}

    def decode(self, rows: list[dict], features: Any, records: list[dict], cfg: Section, meta: dict) -> dict:
        logits = np.stack([r["logits"] for r in rows])
        regression = LAYOUTS[meta["glue_task"]].labels is None
        preds = logits[:, 0].tolist() if regression else logits.argmax(-1).tolist()
        return {"task": meta["glue_task"], "ids": [r["id"] for r in records], "predictions": preds}

    def score(self, predictions: dict, records: list[dict]) -> dict:
        layout = LAYOUTS[predictions["task"]]
        by_id = dict(zip(predictions["ids"], predictions["predictions"]))
        missing = [r["id"] for r in records if r["id"] not in by_id]
        if missing:
            raise DataError("predictions", missing[0], None, f"no prediction for {len(missing)} evaluation rows")
        subsets = [r["subset"] for r in records] if any("subset" in r for r in records) else None
        metrics = glue_metrics(layout, [by_id[r["id"]] for r in records], [r["label"] for r in records], subsets,
                               "matched")
        return {**metrics, "total": len(records)}

    def write_predictions(self, out_dir: Path, predictions: dict, records: list[dict], split: str,
                          meta: dict) -> None:
        layout = LAYOUTS[meta["glue_task"]]
        by_id = dict(zip(predictions["ids"], predictions["predictions"]))
        write_json(out_dir / "predictions.json", {"task": predictions["task"], "predictions": by_id})
        unnamed = "-m" if layout.name == "MNLI" else ""  # MNLI-m.tsv, a mismatched set given or not
        for subset in dict.fromkeys(r.get("subset") for r in records):
            name = layout.name + {None: unnamed, "matched": "-m", "mismatched": "-mm"}[subset]
            rows = [r for r in records if r.get("subset") == subset]
            write_text(out_dir / f"{name}.tsv", submission_tsv(layout, [by_id[r["id"]] for r in rows],
                                                               [r.get("index") for r in rows]))

    def read_predictions(self, pred_dir: Path, split: str) -> dict:
        path = Path(pred_dir) / "predictions.json"
        data = read_json(path)
        if not (isinstance(data, dict) and data.get("task") in LAYOUTS and isinstance(data.get("predictions"), dict)):
            raise DataError(str(path), None, None, 'expected {"task": <glue task>, "predictions": {id: prediction}}')
        for rid, p in data["predictions"].items():
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p):
                raise DataError(str(path), rid, "prediction", f"expected a finite number, got {p!r:.60}")
        return {"task": data["task"], "ids": list(data["predictions"]), "predictions": list(data["predictions"].values())}


def submission_tsv(layout: Layout, predictions: list, indexes: list[str | None]) -> str:
    """The GLUE server's format: ``index<TAB>prediction``, class names for the NLI tasks,
    0/1 for the binary ones, the score for STS-B; each row under its file's GLUE index (a
    dropped row leaves a gap, not a shift), or its position where the file has none."""
    if layout.labels is None:
        cells = [f"{min(max(p, 0.0), 5.0):.3f}" for p in predictions]
    else:
        cells = [layout.labels[p] for p in predictions]
    return "index\tprediction\n" + "".join(f"{i if x is None else x}\t{c}\n"
                                            for i, (x, c) in enumerate(zip(indexes, cells)))


TASK = GlueTask()
