"""The ADL course format: QA records that also carry their candidate paragraphs.

A directory holding ``context.json`` (a list of paragraph strings) and split files such as
``train.json`` / ``valid.json`` / ``test.json``, each a list of ``{"id", "question",
"paragraphs": [indices into context.json], "relevant": index, "answer": {"text",
"start"}}``. A record gives the canonical QA record (see :mod:`.squad`; its context is the
relevant paragraph) plus ``{"candidates": [paragraph text, ...], "label": index of the
gold paragraph}``. ``test.json`` has no ``relevant`` / ``answer``: its records carry
``label: null`` and no context or answers. Files may start with a BOM.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import DataError
from ...io import read_json
from ...records import LoadReport, Policy, check_text, collect, question_field, record_id
from .squad import count_answers, validate_record


def is_adl_dir(source: str) -> bool:
    return Path(source).is_dir() and (Path(source) / "context.json").is_file()


def _load_context(path: Path) -> list[str]:
    paragraphs = read_json(path)
    if not isinstance(paragraphs, list):
        raise DataError(str(path), None, None, "expected a JSON list of paragraph strings")
    for i, p in enumerate(paragraphs):
        if not isinstance(p, str) or not p.strip():
            raise DataError(str(path), f"[{i}]", None, f"expected a non-empty paragraph string, got {p!r:.60}")
        check_text(p, str(path), f"[{i}]", None)  # a distractor is written out as much as a gold paragraph
    return paragraphs


def load_adl(directory: str | Path, filename: str, mode: str = "error",
             max_examples: int | None = None) -> tuple[list[dict], LoadReport]:
    """Read one split file of an ADL-format directory into canonical records with candidates."""
    directory = Path(directory)
    context = _load_context(directory / "context.json")
    path = directory / filename
    src = str(path)
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(src, None, None, "expected a JSON list of question records")
    report = LoadReport(source=src, unit="questions")
    records = collect(_adl_rows(data, context, src, mode, report), src, report, max_examples)
    count_answers(records, report)
    return records, report


def _candidates(rec: dict, context: list[str], src: str, rid: str) -> list[int]:
    idx = rec.get("paragraphs")
    if not isinstance(idx, list) or len(idx) < 2:
        raise DataError(src, rid, "paragraphs", "expected a list of at least 2 paragraph indices")
    for j, i in enumerate(idx):
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(context):
            raise DataError(src, rid, f"paragraphs[{j}]",
                            f"expected an index into context.json (0..{len(context) - 1}), got {i!r}")
    if len(set(idx)) != len(idx):
        raise DataError(src, rid, "paragraphs", f"duplicate paragraph indices {idx}")
    return idx


def _labelled(rec: dict, idx: list[int], context: list[str], src: str, rid: str, policy: Policy,
              report: LoadReport) -> dict | None:
    relevant = rec.get("relevant")
    if isinstance(relevant, bool) or not isinstance(relevant, int) or relevant not in idx:
        raise DataError(src, rid, "relevant", f"expected one of the record's paragraphs {idx}, got {relevant!r}")
    answer = rec.get("answer")
    if not isinstance(answer, dict) or "text" not in answer or "start" not in answer:
        raise DataError(src, rid, "answer", "expected an object with 'text' and 'start'")
    qa = {"id": rec.get("id"), "question": rec.get("question"), "context": context[relevant], "title": "",
          "answers": {"text": [answer["text"]], "answer_start": [answer["start"]]}}
    row = validate_record(rid, qa, src, False, policy, report)
    if row is not None:
        row.update({"candidates": [context[i] for i in idx], "label": idx.index(relevant)})
    return row


def _adl_rows(data: list, context: list[str], src: str, mode: str, report: LoadReport):
    policy = Policy(mode, src)
    for n, rec in enumerate(data):
        report.records.read += 1
        if not isinstance(rec, dict):
            raise DataError(src, f"[{n}]", None, "a record must be an object")
        rid = str(rec["id"]) if isinstance(rec.get("id"), (str, int)) else f"[{n}]"
        idx = _candidates(rec, context, src, rid)
        if "relevant" in rec or "answer" in rec:
            yield rid, _labelled(rec, idx, context, src, rid, policy, report)
        else:
            yield rid, _unlabelled(rid, rec, src, policy, report, [context[i] for i in idx])


def _unlabelled(rid: str, rec: dict, src: str, policy: Policy, report: LoadReport,
                candidates: list[str]) -> dict | None:
    qid, question = record_id(rec, src, rid), question_field(rec, src, rid, policy, report.records)
    if question is None:
        return None
    return {"id": qid, "title": "", "question": question, "candidates": candidates, "label": None}
