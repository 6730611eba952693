"""Sequence tagging: CoNLL-2000 chunking, CoNLL-2003 NER, any CoNLL column file.

Data: column files (:mod:`.columns`; the tag in ``data.tag_column``), or ``data/hub/
conll2000`` / ``conll2003``. The label set is ``data.labels`` or the training data's tags,
saved with the model (``id2label``). Features: words are pre-split
(``is_split_into_words``); a word's tag goes on its first sub-token, the others are -100
in the loss (``tokenize.label_all_subtokens`` labels them too, B- as I-). A sentence longer
than ``max_length`` sub-tokens is split into consecutive pieces that each fit, never
truncated (counted: ``split_sentences``). Head: ``AutoModelForTokenClassification``.
Predictions: the input columns plus the predicted tag, CoNLL format (``predictions.txt``:
``conlleval`` itself can score it). Metrics: chunk precision / recall / F1 and token
accuracy as ``conlleval`` computes them (:mod:`.conlleval`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from ...batching import IGNORE_INDEX
from ...config import DataConfig, Name, Section
from ...errors import DataError
from ...hub import is_hub_dir, load_split
from ...io import read_json, read_text, write_json, write_text
from ...records import LoadReport, Policy, check_overlap, collect, data_file, split_records
from ...vocab import check_vocabulary
from ..base import Task
from .columns import from_hub, read_conll
from .conlleval import conlleval


class TaggingDataConfig(DataConfig):
    tag_column: Annotated[int, Field(ge=1)]  # CoNLL-2000 chunk: 2, CoNLL-2003 NER: 3 (0 is the word)
    labels: Annotated[list[Name], Field(min_length=1)] | None  # a fixed label set; null: the training data's tags


class TaggingTokenizeConfig(Section):
    max_length: Annotated[int, Field(ge=8)]
    label_all_subtokens: bool  # false: only a word's first sub-token is labelled


class TaggingPredictConfig(Section):
    pass


def load_tagged(directory: str, name: str, d: TaggingDataConfig, labelled: bool,
                max_examples: int | None = None) -> tuple[list[dict], LoadReport]:
    tag_column = d.tag_column if labelled else None
    if is_hub_dir(directory):
        src = f"{directory} [{name}]"
        ds = load_split(directory, name)
        names = {f: ds.features[f].feature.names for f in ds.features if f.endswith("_tags")}
        rows = from_hub(ds, names, tag_column)
    else:
        path = data_file(directory, name)
        src = str(path)
        rows = None
    report = LoadReport(source=src, unit="sentences")
    policy = Policy(d.bad_records, src)
    if rows is None:
        rows = read_conll(read_text(path), src, tag_column, d.labels, policy, report.records)
    else:
        report.records.read = len(rows)
    rows = [(rid, r if r is None or r["words"] else policy.bad(rid, "tokens", "empty sentence", "empty_sentence",
                                                                report.records)) for rid, r in rows]
    records = collect(rows, src, report, max_examples)
    report.part("tokens").read = report.part("tokens").kept = sum(len(r["words"]) for r in records)
    return records, report


def split_counts(records: list[dict]) -> dict:
    tags = [t for r in records if r["tags"] for t in r["tags"]]
    return {"sentences": len(records), "tokens": sum(len(r["words"]) for r in records),
            "chunk_starts": sum(t.startswith("B-") for t in tags), "unlabelled": sum(r["tags"] is None for r in records)}


def windows(word_pieces: list[int], room: int) -> list[tuple[int, int]]:
    """Consecutive word ranges [start, end) whose sub-tokens fit ``room``; a word longer
    than ``room`` on its own is a range of one (its sub-tokens are then cut: counted)."""
    out, start, used = [], 0, 0
    for i, n in enumerate(word_pieces):
        if used + n > room and i > start:
            out.append((start, i))
            start, used = i, 0
        used += n
    out.append((start, len(word_pieces)))
    return out


def pieces_per_word(tokenizer: Any, records: list[dict]) -> list[list[int]]:
    enc = tokenizer([r["words"] for r in records], is_split_into_words=True, add_special_tokens=False)
    out = []
    for i, r in enumerate(records):
        counts = [0] * len(r["words"])
        for w in enc.word_ids(i):
            counts[w] += 1
        out.append(counts)
    return out


def token_labels(word_ids: list[int | None], tags: list[str], label2id: dict, all_subtokens: bool) -> list[int]:
    """A word's tag on its first sub-token; -100 elsewhere (or, with ``all_subtokens``, the
    tag on every sub-token, B- continued as I-)."""
    out, prev = [], None
    for w in word_ids:
        if w is None:
            out.append(IGNORE_INDEX)
        elif w != prev:
            out.append(label2id[tags[w]] if tags[w] in label2id else IGNORE_INDEX)
        elif all_subtokens:
            tag = "I-" + tags[w][2:] if tags[w].startswith("B-") else tags[w]
            out.append(label2id.get(tag, label2id.get(tags[w], IGNORE_INDEX)))
        else:
            out.append(IGNORE_INDEX)
        prev = w
    return out


def _cuts_a_word(word_ids: list[int | None], pieces: list[int]) -> bool:
    """Whether a feature lost sub-tokens of one of its words (a word longer than a window)."""
    kept = Counter(word_ids)
    return any(kept[i] < n for i, n in enumerate(pieces))


class TaggingTask(Task):
    name = "tagging"
    data_config = TaggingDataConfig
    tokenize_config = TaggingTokenizeConfig
    predict_config = TaggingPredictConfig
    auto_model = "AutoModelForTokenClassification"
    metric = "f1"
    token_outputs = ("logits",)

    def has_labels(self, records: list[dict]) -> bool:
        return all(r.get("tags") is not None for r in records)

    def prepare(self, d: TaggingDataConfig) -> tuple[dict[str, list[dict]], dict, dict]:
        train, rep = load_tagged(d.dir, d.train, d, True, d.max_examples)
        files = {"train": rep}
        if d.eval:
            evals, files["eval"] = load_tagged(d.dir, d.eval, d, True)
        else:
            train, evals = split_records(train, d.eval_size, d.split_seed, unit="sentences")
        overlap = check_overlap(train, evals, lambda r: [tuple(r["words"])], files.get("eval", rep).source,
                                d.allow_overlap)
        splits = {"train": train, "eval": evals}
        if d.test:
            splits["test"], files["test"] = load_tagged(d.dir, d.test, d, True)
        labels = d.labels or sorted({t for r in train for t in r["tags"]})
        report = {"files": {s: r.as_dict() for s, r in files.items()},
                  "splits": {s: split_counts(r) for s, r in splits.items()}, "labels": labels,
                  "eval_overlapping_train": overlap}
        return splits, report, {"labels": labels}

    def featurize(self, records: list[dict], tokenizer: Any, cfg: TaggingTokenizeConfig, split: str,
                  meta: dict) -> tuple[dict[str, list], dict]:
        room = cfg.max_length - tokenizer.num_special_tokens_to_add(pair=False)
        label2id = {t: i for i, t in enumerate(meta["labels"])}
        spans = []  # (record, word start, word end, sub-tokens per word)
        for r, pieces in zip(records, pieces_per_word(tokenizer, records)):
            # a word the tokenizer drops (a lone zero-width character) still takes a place
            spans += [(r, a, b, pieces[a:b]) for a, b in windows([max(n, 1) for n in pieces], room)]
        enc = tokenizer([r["words"][a:b] for r, a, b, _ in spans], is_split_into_words=True, truncation=True,
                        max_length=cfg.max_length)
        cols = {k: list(v) for k, v in enc.items()}
        word_ids = [enc.word_ids(i) for i in range(len(spans))]
        if all(r["tags"] for r, *_ in spans):
            cols["labels"] = [token_labels(w, r["tags"][a:b], label2id, cfg.label_all_subtokens)
                              for w, (r, a, b, _) in zip(word_ids, spans)]
        cols.update({"length": [len(ids) for ids in enc["input_ids"]], "example_id": [r["id"] for r, *_ in spans],
                     "word_start": [a for _, a, *_ in spans],
                     "word_ids": [[-1 if w is None else w for w in ws] for ws in word_ids]})
        cut = sum(_cuts_a_word(ws, pieces) for ws, (*_, pieces) in zip(word_ids, spans))
        unseen = sum(t not in label2id for r in records for t in r["tags"] or [])
        stats = {"sentences": len(records), "features": len(spans), "split_sentences": len(spans) - len(records),
                 "features_with_cut_words": cut, "tags_not_in_label_set": unseen,
                 "mean_tokens": round(float(np.mean(cols["length"])), 2),
                 "max_tokens": max(cols["length"]),
                 "unk_token_pct": check_vocabulary(cols["input_ids"], tokenizer, tokenizer.name_or_path,
                                                   f"{split} split")}
        return cols, stats

    def model_kwargs(self, meta: dict) -> dict:
        labels = meta["labels"]
        return {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                "label2id": {t: i for i, t in enumerate(labels)}}

    def decode(self, rows: list[dict], features: Any, records: list[dict], cfg: Section, meta: dict) -> dict:
        labels = meta["labels"]
        tags = {r["id"]: ["O"] * len(r["words"]) for r in records}
        for row, ex, start, wids in zip(rows, features["example_id"], features["word_start"], features["word_ids"]):
            best = row["logits"].argmax(-1)
            seen = set()
            for pos, w in enumerate(wids[:len(best)]):
                if w >= 0 and w not in seen:  # a word's first sub-token speaks for it
                    seen.add(w)
                    tags[ex][start + w] = labels[int(best[pos])]
        return {"tags": tags}

    def score(self, predictions: dict, records: list[dict]) -> dict:
        labelled = [r for r in records if r["tags"]]
        src = predictions.get("source", "predictions")  # the file, when read back by evaluate
        missing = [r["id"] for r in labelled if r["id"] not in predictions["tags"]]
        if missing:
            raise DataError(src, missing[0], None, f"no prediction for {len(missing)} sentences")
        for r in labelled:
            if len(predictions["tags"][r["id"]]) != len(r["tags"]):
                raise DataError(src, r["id"], "tags", f"{len(predictions['tags'][r['id']])} tags predicted "
                                                      f"for a sentence of {len(r['tags'])} words")
        return conlleval([r["tags"] for r in labelled], [predictions["tags"][r["id"]] for r in labelled])

    def write_predictions(self, out_dir: Path, predictions: dict, records: list[dict], split: str,
                          meta: dict) -> None:
        """CoNLL format: each input line plus the predicted tag, a blank line after each sentence."""
        lines = []
        for r in records:
            lines += [" ".join(cells + [tag]) for cells, tag in zip(r["columns"], predictions["tags"][r["id"]])]
            lines.append("")
        write_text(out_dir / "predictions.txt", "\n".join(lines) + "\n")
        write_json(out_dir / "predictions.json", predictions, indent=None)

    def read_predictions(self, pred_dir: Path, split: str) -> dict:
        path = Path(pred_dir) / "predictions.json"
        data = read_json(path)
        if not (isinstance(data, dict) and isinstance(data.get("tags"), dict)):
            raise DataError(str(path), None, None, 'expected {"tags": {sentence id: [tag, ...]}}')
        for rid, tags in data["tags"].items():
            if not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
                raise DataError(str(path), rid, None, "expected a list of tags")
        return {**data, "source": str(path)}


TASK = TaggingTask()
