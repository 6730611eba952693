"""Paragraph selection data: candidate paragraphs per question, for the chained
multiple-choice -> QA path.

Two sources give the same canonical record: a QA record (see :mod:`ftpipe.squad`) plus

    {"candidates": [paragraph text, ...], "label": index of the gold paragraph}

* **The ADL course format**, a directory holding ``context.json`` (a list of paragraph
  strings) and ``train.json`` / ``valid.json`` / ``test.json``, each a list of
  ``{"id", "question", "paragraphs": [indices into context.json], "relevant": index,
  "answer": {"text", "start"}}``. ``test.json`` has no ``relevant`` / ``answer``: its
  records carry ``label: null`` and no context or answers. Files may start with a BOM.
* **Any SQuAD-format data** (English SQuAD, Chinese DRCD): :func:`derive_candidates`
  takes the gold paragraph plus ``k - 1`` distractors drawn, with a seed, from the other
  paragraphs of the same article (from other articles when it has too few), shuffled.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from .squad import DataError, LoadReport, collect, read_json_file, validate_record

# ADL split names, and the names this project uses for them elsewhere (data.split, data.eval_split).
ADL_SPLITS = {"train": "train.json", "valid": "valid.json", "validation": "valid.json", "test": "test.json"}


def is_adl_dir(source: str) -> bool:
    return Path(source).is_dir() and (Path(source) / "context.json").is_file()


def _load_context(path: Path) -> list[str]:
    paragraphs = read_json_file(path)
    if not isinstance(paragraphs, list):
        raise DataError(str(path), None, None, "expected a JSON list of paragraph strings")
    for i, p in enumerate(paragraphs):
        if not isinstance(p, str) or not p.strip():
            raise DataError(str(path), f"[{i}]", None, f"expected a non-empty paragraph string, got {p!r:.60}")
    return paragraphs


def load_adl(directory: str | Path, split: str, misplaced: str = "error",
             max_examples: int | None = None) -> tuple[list[dict], LoadReport]:
    """Read one split of an ADL-format directory into canonical records with candidates."""
    directory = Path(directory)
    if split not in ADL_SPLITS:
        raise DataError(str(directory), None, None,
                        f"unknown split {split!r} for the ADL format; expected one of {', '.join(ADL_SPLITS)}")
    context = _load_context(directory / "context.json")
    path = directory / ADL_SPLITS[split]
    src = str(path)
    data = read_json_file(path)
    if not isinstance(data, list):
        raise DataError(src, None, None, "expected a JSON list of question records")
    report = LoadReport(source=src)
    rows = _adl_rows(data, context, src, misplaced, report)
    return collect(rows, src, report, max_examples), report


def _adl_rows(data: list, context: list[str], src: str, misplaced: str, report: LoadReport):
    for n, rec in enumerate(data):
        report.read += 1
        if not isinstance(rec, dict):
            raise DataError(src, f"[{n}]", None, "a record must be an object")
        rid = str(rec["id"]) if isinstance(rec.get("id"), (str, int)) else f"[{n}]"
        idx = rec.get("paragraphs")
        if not isinstance(idx, list) or len(idx) < 2:
            raise DataError(src, rid, "paragraphs", "expected a list of at least 2 paragraph indices")
        for j, i in enumerate(idx):
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(context):
                raise DataError(src, rid, f"paragraphs[{j}]",
                                f"expected an index into context.json (0..{len(context) - 1}), got {i!r}")
        if len(set(idx)) != len(idx):
            raise DataError(src, rid, "paragraphs", f"duplicate paragraph indices {idx}")
        candidates = [context[i] for i in idx]
        labelled = "relevant" in rec or "answer" in rec
        if not labelled:
            row = _validate_unlabelled(rid, rec, src)
            row.update({"candidates": candidates, "label": None})
        else:
            relevant = rec.get("relevant")
            if relevant not in idx or isinstance(relevant, bool):
                raise DataError(src, rid, "relevant", f"expected one of the record's paragraphs {idx}, got {relevant!r}")
            answer = rec.get("answer")
            if not isinstance(answer, dict) or "text" not in answer or "start" not in answer:
                raise DataError(src, rid, "answer", "expected an object with 'text' and 'start'")
            qa = {"id": rec.get("id"), "question": rec.get("question"), "context": context[relevant], "title": "",
                  "answers": {"text": [answer["text"]], "answer_start": [answer["start"]]}}
            row = validate_record(rid, qa, src, False, misplaced, report)
            if row is not None:
                row.update({"candidates": candidates, "label": idx.index(relevant)})
        yield rid, row


def _validate_unlabelled(rid: str, rec: dict, src: str) -> dict:
    qid, question = rec.get("id"), rec.get("question")
    if isinstance(qid, bool) or not isinstance(qid, (str, int)) or str(qid) == "":
        raise DataError(src, rid, "id", f"expected a non-empty string, got {qid!r}")
    if not isinstance(question, str) or not question.strip():
        raise DataError(src, rid, "question", f"expected a non-empty string, got {question!r}")
    return {"id": str(qid), "title": "", "question": question}


def derive_candidates(records: list[dict], pool: list[dict], k: int, seed: int) -> list[dict]:
    """Give each record without candidates ``k`` paragraphs: its own plus ``k - 1``
    distractors, seeded per question id (so a record gets the same candidates whatever
    else is in the file), same article first, shuffled. ``pool`` holds the records whose
    paragraphs may serve as distractors (train and eval together). Records that already
    carry candidates (the ADL format) keep them."""
    by_article: dict[str, list[str]] = {}
    for r in pool:
        paragraphs = by_article.setdefault(r.get("title", ""), [])
        if r["context"] not in paragraphs:
            paragraphs.append(r["context"])
    everything = list(dict.fromkeys(p for ps in by_article.values() for p in ps))
    out = []
    for r in records:
        if r.get("candidates"):
            out.append(r)
            continue
        gold = r["context"]
        rng = random.Random(f"{seed}:{r['id']}")
        same = [p for p in by_article.get(r.get("title", ""), []) if p != gold]
        distractors = rng.sample(same, min(k - 1, len(same)))
        need = k - 1 - len(distractors)
        if need:
            taken = set(distractors) | {gold}
            others = [p for p in everything if p not in taken]
            if len(others) < need:
                raise DataError("candidates", r["id"], "context",
                                f"only {len(everything)} distinct paragraphs in the data; "
                                f"mc.candidates = {k} needs at least {k}")
            distractors += rng.sample(others, need)
        candidates = [gold] + distractors
        rng.shuffle(candidates)
        out.append({**r, "candidates": candidates, "label": candidates.index(gold)})
    return out


def with_chosen_context(records: list[dict], choices: list[int]) -> list[dict]:
    """QA records whose context is the paragraph the multiple-choice model picked."""
    return [{**r, "context": r["candidates"][c]} for r, c in zip(records, choices)]


def check_candidates(records: list[dict], source: str) -> None:
    """Every record has at least 2 distinct candidates and, when labelled, a valid label."""
    for r in records:
        cands: Any = r.get("candidates")
        if not isinstance(cands, list) or len(cands) < 2:
            raise DataError(source, r.get("id"), "candidates", "expected a list of at least 2 paragraphs")
        label = r.get("label")
        if label is not None and not (isinstance(label, int) and 0 <= label < len(cands)):
            raise DataError(source, r.get("id"), "label", f"expected an index into candidates, got {label!r}")
