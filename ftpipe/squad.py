"""Load extractive-QA data into one canonical table, validating as we go.

Canonical record (the layout of Hugging Face's ``squad`` dataset)::

    {"id": str, "title": str, "context": str, "question": str,
     "answers": {"text": [str, ...], "answer_start": [int, ...]}}

An unanswerable SQuAD v2.0 question has empty ``text`` / ``answer_start`` lists.

Sources: SQuAD v1.1 / v2.0 JSON (``{"data": [{"title", "paragraphs": [{"context",
"qas": [...]}]}]}``), JSONL of flat records (``answers`` either in the canonical layout or
as SQuAD's list of ``{"text", "answer_start"}``), ``hub:<name>`` through
``datasets.load_dataset`` for users with network access, or a directory in the ADL
multiple-choice format (see :mod:`ftpipe.paragraphs`; its records also carry candidates).

Every problem raises :class:`DataError` naming the file, the record (id, or line for
JSONL) and the field. Misplaced answers follow ``data.misplaced_answers``; whatever is
repaired or skipped is counted in the :class:`LoadReport`, never dropped silently.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np


class DataError(ValueError):
    """A data file or record is malformed; the message names file, record and field."""

    def __init__(self, source: str, record: str | None, field_: str | None, message: str):
        where = source
        if record is not None:
            where += f": record {record}"
        if field_ is not None:
            where += f": field '{field_}'"
        super().__init__(f"{where}: {message}")


@dataclass
class LoadReport:
    """What happened to each record read (written as a DVC metric)."""

    source: str
    read: int = 0
    kept: int = 0
    repaired: int = 0
    skipped: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "read": self.read,
            "kept": self.kept,
            "repaired": self.repaired,
            "skipped": sum(self.skipped.values()),
            "skipped_by_reason": dict(sorted(self.skipped.items())),
        }


HUB_PREFIX = "hub:"


def read_json_file(path: Path) -> Any:
    """Parse a UTF-8 JSON file (a leading BOM is accepted) with errors that name the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(str(path), None, None, "file not found") from None
    except IsADirectoryError:
        raise DataError(str(path), None, None, "is a directory, expected a JSON file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(str(path), None, None, f"not UTF-8 (invalid byte at offset {e.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(str(path), None, None, f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None


def _iter_squad_json(path: Path, data: Any) -> Iterable[tuple[str, dict]]:
    src = str(path)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(src, None, "data", 'expected a SQuAD object {"data": [articles...]} at the top level')
    for a, article in enumerate(data["data"]):
        if not isinstance(article, dict):
            raise DataError(src, f"data[{a}]", None, "an article must be an object")
        title = article.get("title", "")
        paragraphs = article.get("paragraphs")
        if not isinstance(paragraphs, list):
            raise DataError(src, f"data[{a}]", "paragraphs", "expected a list of paragraphs")
        for p, para in enumerate(paragraphs):
            where = f"data[{a}].paragraphs[{p}]"
            if not isinstance(para, dict):
                raise DataError(src, where, None, "a paragraph must be an object")
            if not isinstance(para.get("qas"), list):
                raise DataError(src, where, "qas", "expected a list of questions")
            for q, qa in enumerate(para["qas"]):
                if not isinstance(qa, dict):
                    raise DataError(src, f"{where}.qas[{q}]", None, "a question must be an object")
                rec = dict(qa)
                rec["context"] = para.get("context")
                rec["title"] = title
                yield (str(qa["id"]) if isinstance(qa.get("id"), (str, int)) else f"{where}.qas[{q}]"), rec


def _iter_jsonl(path: Path) -> Iterable[tuple[str, dict]]:
    src = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(src, None, None, "file not found") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(src, None, None, f"not UTF-8 (invalid byte at offset {e.start})") from None
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(src, f"line {n}", None, f"not valid JSON ({e.msg})") from None
        if not isinstance(rec, dict):
            raise DataError(src, f"line {n}", None, "expected a JSON object per line")
        rid = rec.get("id")
        yield (f"{rid} (line {n})" if isinstance(rid, (str, int)) else f"line {n}"), rec


def _answers_of(rec: dict, src: str, rid: str) -> tuple[list, list]:
    answers = rec.get("answers")
    if answers is None:
        raise DataError(src, rid, "answers", "missing")
    if isinstance(answers, dict):  # canonical / Hugging Face layout
        texts, starts = answers.get("text"), answers.get("answer_start")
        if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
            raise DataError(src, rid, "answers", "expected lists 'text' and 'answer_start' of equal length")
        return list(texts), list(starts)
    if isinstance(answers, list):  # SQuAD layout
        texts, starts = [], []
        for i, ans in enumerate(answers):
            if not isinstance(ans, dict) or "text" not in ans or "answer_start" not in ans:
                raise DataError(src, rid, f"answers[{i}]", "expected an object with 'text' and 'answer_start'")
            texts.append(ans["text"])
            starts.append(ans["answer_start"])
        return texts, starts
    raise DataError(src, rid, "answers", f"expected a list or an object, got {type(answers).__name__}")


def validate_record(
    rid: str, rec: dict, src: str, version_2: bool, misplaced: str, report: LoadReport
) -> dict | None:
    for name in ("context", "question"):
        value = rec.get(name)
        if value is None:
            raise DataError(src, rid, name, "missing")
        if not isinstance(value, str):
            raise DataError(src, rid, name, f"expected a string, got {type(value).__name__}")
        if not value.strip():
            raise DataError(src, rid, name, "empty")
    qid = rec.get("id")
    if qid is None:
        raise DataError(src, rid, "id", "missing")
    if not isinstance(qid, (str, int)) or isinstance(qid, bool) or str(qid) == "":
        raise DataError(src, rid, "id", f"expected a non-empty string, got {qid!r}")
    context = rec["context"]
    texts, starts = _answers_of(rec, src, rid)
    impossible = rec.get("is_impossible", False)
    if not isinstance(impossible, bool):
        raise DataError(src, rid, "is_impossible", f"expected true or false, got {impossible!r}")
    if impossible and texts:
        raise DataError(src, rid, "is_impossible", "is true but answers are given")
    if not texts:
        if not version_2:
            raise DataError(src, rid, "answers", "no answer given; set data.version_2_with_negative: true "
                                                 "for SQuAD v2.0 data with unanswerable questions")
        if "is_impossible" in rec and not impossible:
            raise DataError(src, rid, "answers", "is_impossible is false but no answer is given")
    fixed_starts = []
    repaired = False
    for i, (text, start) in enumerate(zip(texts, starts)):
        fname = f"answers[{i}]"
        if not isinstance(text, str) or not text.strip():
            raise DataError(src, rid, f"{fname}.text", f"expected a non-empty string, got {text!r}")
        if isinstance(start, bool) or not isinstance(start, int):
            raise DataError(src, rid, f"{fname}.answer_start", f"expected an integer, got {start!r}")
        if 0 <= start and context[start:start + len(text)] == text:
            fixed_starts.append(start)
            continue
        count = context.count(text)
        problem = (f"answer text {text!r} is not at answer_start {start}"
                   + (f" (it occurs {count} time(s) elsewhere in the context)" if count else " and not in the context"))
        if misplaced == "error":
            raise DataError(src, rid, f"{fname}.answer_start",
                            problem + "; set data.misplaced_answers to skip or repair to continue")
        if misplaced == "repair" and count == 1:
            fixed_starts.append(context.index(text))
            repaired = True
            continue
        if misplaced == "repair":
            raise DataError(src, rid, f"{fname}.answer_start", problem + "; cannot repair: no unique match")
        report.skipped["misplaced_answer"] += 1
        return None
    if repaired:
        report.repaired += 1
    return {
        "id": str(qid),
        "title": str(rec.get("title", "")),
        "context": context,
        "question": rec["question"],
        "answers": {"text": list(texts), "answer_start": fixed_starts},
    }


def load_examples(
    source: str,
    split: str = "train",
    version_2: bool = False,
    misplaced: str = "error",
    max_examples: int | None = None,
) -> tuple[list[dict], LoadReport]:
    """Read, validate and normalise a QA source into canonical records."""
    from .paragraphs import is_adl_dir, load_adl

    if is_adl_dir(source):
        return load_adl(source, split, misplaced, max_examples)
    if source.startswith(HUB_PREFIX):
        name = source[len(HUB_PREFIX):]
        src = f"{source} [{split}]"
        records = _iter_hub(name, split)
    else:
        path = Path(source)
        src = str(path)
        if path.suffix == ".jsonl":
            records = _iter_jsonl(path)
        else:
            records = _iter_squad_json(path, read_json_file(path))
    report = LoadReport(source=src)

    def rows():
        for rid, rec in records:
            report.read += 1
            yield rid, validate_record(rid, rec, src, version_2, misplaced, report)

    return collect(rows(), src, report, max_examples), report


def collect(rows: Iterable[tuple[str, dict | None]], src: str, report: LoadReport,
            max_examples: int | None) -> list[dict]:
    """Keep validated rows (None: skipped, already counted), refusing duplicate ids, up to
    ``max_examples``; shared by every loader."""
    out: list[dict] = []
    seen: dict[str, str] = {}
    for rid, row in rows:
        if row is None:
            continue
        if row["id"] in seen:
            raise DataError(src, rid, "id", f"duplicate id {row['id']!r} (first seen at record {seen[row['id']]})")
        seen[row["id"]] = rid
        out.append(row)
        if max_examples is not None and len(out) >= max_examples:
            break
    if not out:
        raise DataError(src, None, None, "no usable records")
    report.kept = len(out)
    return out


def _iter_hub(name: str, split: str) -> Iterable[tuple[str, dict]]:
    """Hugging Face hub datasets (users with network); records already canonical."""
    import datasets

    try:
        ds = datasets.load_dataset(name, split=split)
    except Exception as e:  # network, unknown name or split: say what to do instead
        raise DataError(f"{HUB_PREFIX}{name}", None, None,
                        f"could not load split {split!r} from the Hugging Face hub ({type(e).__name__}: {e}); "
                        "offline, point data.source at a local SQuAD JSON/JSONL file") from None
    for i, rec in enumerate(ds):
        yield str(rec.get("id", i)), rec


def split_examples(
    examples: list[dict], test_size: float, seed: int, by: str = "question"
) -> tuple[list[dict], list[dict]]:
    """Seeded train/eval split, by question (like ``Dataset.train_test_split``) or by article."""
    rng = np.random.default_rng(seed)
    if by == "question":
        order = rng.permutation(len(examples))
        n_eval = int(round(len(examples) * test_size))
        if n_eval == 0 or n_eval == len(examples):
            raise ValueError(f"test_size {test_size} leaves an empty side for {len(examples)} questions")
        eval_idx = set(order[:n_eval].tolist())
        train = [e for i, e in enumerate(examples) if i not in eval_idx]
        evals = [e for i, e in enumerate(examples) if i in eval_idx]
        return train, evals
    titles = list(dict.fromkeys(e["title"] for e in examples))
    order = rng.permutation(len(titles))
    n_eval = int(round(len(titles) * test_size))
    if n_eval == 0 or n_eval == len(titles):
        raise ValueError(f"test_size {test_size} leaves an empty side for {len(titles)} articles")
    eval_titles = {titles[i] for i in order[:n_eval].tolist()}
    return ([e for e in examples if e["title"] not in eval_titles],
            [e for e in examples if e["title"] in eval_titles])
