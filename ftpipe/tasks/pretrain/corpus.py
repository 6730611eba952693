"""Pretraining text -> documents of sentences.

Sources, by what ``data.dir`` / the file name hold:

* a plain-text file (``.txt``): documents separated by blank lines;
* a SQuAD-format JSON file: every distinct context is a document (so the embedded sample
  and the shared SQuAD subset serve offline);
* a JSONL file of ``{"text": ...}`` records, one document each;
* a hub dataset (``data/hub/wikitext``, ``openwebtext``: a directory holding hub.yaml),
  its ``text`` field, blank rows separating documents as in wikitext.

Sentences are cut at ``. ! ?`` followed by white space (and at line ends), the unit
ELECTRA's example builder packs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from ...errors import DataError
from ...hub import is_hub_dir, load_split
from ...io import read_json, read_text
from ...records import LoadReport, check_text, data_file, jsonl_rows, text_field

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    return [s.strip() for line in text.splitlines() for s in _SENTENCE_END.split(line) if s.strip()]


def _text_documents(text: str) -> Iterable[tuple[str, str, str]]:
    blocks = (block for block in re.split(r"\n\s*\n", text) if block.strip())
    return ((f"document {i}", "text", block) for i, block in enumerate(blocks))


def _squad_documents(data: dict, src: str) -> Iterable[tuple[str, str, str]]:
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(src, None, "data", 'expected a SQuAD object {"data": [articles...]}')
    seen = set()
    for a, article in enumerate(data["data"]):
        if not isinstance(article, dict):
            raise DataError(src, f"data[{a}]", None, f"expected an article object, got {type(article).__name__}")
        paragraphs = article.get("paragraphs", [])
        if not isinstance(paragraphs, list):
            raise DataError(src, f"data[{a}]", "paragraphs", "expected a list")
        for p, para in enumerate(paragraphs):
            context = para.get("context") if isinstance(para, dict) else None
            if not isinstance(context, str):
                raise DataError(src, f"data[{a}].paragraphs[{p}]", "context", "expected a string")
            if context not in seen:
                seen.add(context)
                yield f"data[{a}].paragraphs[{p}]", "context", context


def _jsonl_documents(path: Path, src: str) -> Iterable[tuple[str, str, str]]:
    return ((rid, "text", text_field(rec, "text", src, rid)) for rid, rec in jsonl_rows(path))


def read_documents(directory: str, name: str) -> tuple[list[list[str]], LoadReport]:
    """Documents (lists of sentences) and the file's report: documents read, kept, and
    dropped for holding no sentence (an empty JSONL text, an empty SQuAD context)."""
    if is_hub_dir(directory):
        rows = load_split(directory, name)
        text = "\n".join(r["text"] if r["text"].strip() else "\n" for r in rows)
        src, docs = f"{directory} [{name}]", _text_documents(text)
    else:
        path = data_file(directory, name)
        src = str(path)
        if path.suffix == ".json":
            docs = _squad_documents(read_json(path), src)
        elif path.suffix == ".jsonl":
            docs = _jsonl_documents(path, src)
        else:
            docs = _text_documents(read_text(path))
    report, out = LoadReport(source=src, unit="documents"), []
    for record, field_, text in docs:
        report.records.read += 1
        if doc := sentences(check_text(text, src, record, field_)):
            out.append(doc)
        else:
            report.records.dropped["no_sentence"] += 1
    if not out:
        raise DataError(src, None, None, f"no documents with text ({report.records.read} read)")
    report.records.kept = len(out)
    return out, report
