"""SQuAD v1.1 / v2.0 JSON and JSONL -> canonical QA records, validated as they are read.

Canonical record (the layout of Hugging Face's ``squad`` dataset)::

    {"id": str, "title": str, "context": str, "question": str,
     "answers": {"text": [str, ...], "answer_start": [int, ...]}}

An unanswerable SQuAD v2.0 question has empty ``text`` / ``answer_start`` lists. JSONL
holds flat records whose ``answers`` are either in the canonical layout or SQuAD's list
of ``{"text", "answer_start"}``.

Every problem raises :class:`DataError` naming the file, the record (id, or line for
JSONL) and the field. Misplaced answers follow ``data.bad_records``; whatever is
repaired or skipped is counted in the :class:`LoadReport`, never dropped silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ...errors import DataError
from ...io import iter_jsonl, read_json
from ...records import LoadReport, collect


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
    for n, rec in iter_jsonl(path):
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


def iter_records(rows: Iterable[tuple[str, dict]], src: str, version_2: bool, policy: str,
                 report: LoadReport) -> Iterable[tuple[str, dict | None]]:
    for rid, rec in rows:
        report.read += 1
        yield rid, validate_record(rid, rec, src, version_2, policy, report)


def load_squad(path: str | Path, version_2: bool = False, policy: str = "error",
               max_examples: int | None = None) -> tuple[list[dict], LoadReport]:
    """Read, validate and normalise a SQuAD JSON or JSONL file into canonical records."""
    path = Path(path)
    src = str(path)
    rows = _iter_jsonl(path) if path.suffix == ".jsonl" else _iter_squad_json(path, read_json(path))
    report = LoadReport(source=src)
    return collect(iter_records(rows, src, version_2, policy, report), src, report, max_examples), report
