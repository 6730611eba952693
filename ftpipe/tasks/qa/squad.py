"""SQuAD v1.1 / v2.0 JSON and JSONL -> canonical QA records, validated as they are read.

Canonical record (the layout of Hugging Face's ``squad`` dataset)::

    {"id": str, "title": str, "context": str, "question": str,
     "answers": {"text": [str, ...], "answer_start": [int, ...]}}

An unanswerable SQuAD v2.0 question has empty ``text`` / ``answer_start`` lists. JSONL
holds flat records whose ``answers`` are either in the canonical layout or SQuAD's list
of ``{"text", "answer_start"}``.

Every problem raises :class:`DataError` naming the file, the record (id, or line for
JSONL) and the field. Bad answers and empty questions follow ``data.bad_records``, answer
by answer: a bad answer is repaired or dropped on its own, and a question goes only when
no valid answer remains. Answers are trimmed of white space (and zero-width characters)
at either end, ``answer_start`` moved with them. Whatever is repaired or dropped is
counted in the :class:`LoadReport`, never dropped silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ...errors import DataError
from ...io import read_json
from ...records import (LoadReport, Policy, Tally, check_text, collect, jsonl_rows, leading_invisible, question_field,
                        record_id, text_field, visible)


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
                at = f"{where}.qas[{q}]"  # where it is, as JSONL names its line: duplicates name both
                yield (f"{qa['id']} ({at})" if isinstance(qa.get("id"), (str, int)) else at), rec


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


def _check_unanswerable(rec: dict, texts: list, version_2: bool, src: str, rid: str) -> None:
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


def check_answer(i: int, text: Any, start: Any, context: str, rid: str, policy: Policy,
                 answers: Tally) -> tuple[str, int] | None:
    """One answer placed in its context: (text, start), trimmed of white space at either
    end and, under ``repair``, moved to its unique occurrence; None when dropped (counted)."""
    f = f"answers[{i}]"
    if not isinstance(text, str):
        return policy.bad(rid, f"{f}.text", f"expected a string, got {text!r}", "text_not_a_string", answers)
    check_text(text, policy.source, rid, f"{f}.text")
    if isinstance(start, bool) or not isinstance(start, int):
        return policy.bad(rid, f"{f}.answer_start", f"expected an integer, got {start!r}",
                          "start_not_an_integer", answers)
    shown = visible(text)
    if not shown:
        return policy.bad(rid, f"{f}.text", f"no visible character in {text!r}", "empty_answer", answers)
    at = start + leading_invisible(text)  # where the visible text starts, if the answer is in place
    if not (0 <= at and context[at:at + len(shown)] == shown):
        at = start
    if 0 <= at and context[at:at + len(shown)] == shown:
        if shown != text:  # " Alexandria" would label the word before it too
            answers.repaired["trimmed_white_space"] += 1
        return shown, at
    count = context.count(shown)
    problem = (f"answer text {shown!r} is not at answer_start {start}"
               + (f" (it occurs {count} time(s) elsewhere in the context)" if count else " and not in the context"))
    if policy.mode == "repair" and count == 1:
        answers.repaired["moved_to_its_unique_match"] += 1
        return shown, context.index(shown)
    reason = "misplaced" if policy.mode == "skip" else (
        "misplaced_not_in_context" if count == 0 else "misplaced_ambiguous")
    return policy.bad(rid, f"{f}.answer_start", problem, reason, answers)


def validate_record(rid: str, rec: dict, src: str, version_2: bool, policy: Policy,
                    report: LoadReport, test: bool = False) -> dict | None:
    """A canonical record, or None when the question is dropped (counted in ``report``). In
    a test split (``test``) a question without ``answers`` (or, in v1 data, with an empty
    list) is unlabelled: no ``answers`` key."""
    context = text_field(rec, "context", src, rid)
    qid = record_id(rec, src, rid)
    questions, answers = report.records, report.part("answers")
    if not visible(context):
        return policy.bad(rid, "context", "empty", "empty_context", questions)
    if (question := question_field(rec, src, rid, policy, questions)) is None:
        return None
    title = "" if rec.get("title") is None else text_field(rec, "title", src, rid)
    given = rec.get("answers")
    if test and "is_impossible" not in rec and (given is None or (given == [] and not version_2)):
        return {"id": qid, "title": title, "context": context, "question": question}
    texts, starts = _answers_of(rec, src, rid)
    _check_unanswerable(rec, texts, version_2, src, rid)
    answers.read += len(texts)
    kept = [a for i, (t, s) in enumerate(zip(texts, starts))
            if (a := check_answer(i, t, s, context, rid, policy, answers)) is not None]
    if texts and not kept:
        questions.dropped["no_valid_answer"] += 1
        return None
    return {
        "id": qid,
        "title": title,
        "context": context,
        "question": question,
        "answers": {"text": [t for t, _ in kept], "answer_start": [s for _, s in kept]},
    }


def iter_records(rows: Iterable[tuple[str, dict]], src: str, version_2: bool, mode: str,
                 report: LoadReport, test: bool = False) -> Iterable[tuple[str, dict | None]]:
    policy = Policy(mode, src)
    for rid, rec in rows:
        report.records.read += 1
        yield rid, validate_record(rid, rec, src, version_2, policy, report, test)


def count_answers(records: list[dict], report: LoadReport) -> None:
    """The answers of the questions kept (after ``max_examples``)."""
    report.part("answers").kept = sum(len(r["answers"]["text"]) for r in records if "answers" in r)


def load_squad(path: str | Path, version_2: bool = False, mode: str = "error",
               max_examples: int | None = None, test: bool = False) -> tuple[list[dict], LoadReport]:
    """Read, validate and normalise a SQuAD JSON or JSONL file into canonical records
    (``test``: questions without answers allowed, unlabelled)."""
    path = Path(path)
    src = str(path)
    rows = jsonl_rows(path) if path.suffix == ".jsonl" else _iter_squad_json(path, read_json(path))
    report = LoadReport(source=src, unit="questions")
    records = collect(iter_records(rows, src, version_2, mode, report, test), src, report, max_examples)
    count_answers(records, report)
    return records, report
