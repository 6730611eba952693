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

import json
import re
from pathlib import Path
from typing import Iterable

from ...errors import DataError
from ...hub import is_hub_dir, load_split
from ...io import iter_jsonl, read_text
from ...records import check_text, data_file

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    return [s.strip() for line in text.splitlines() for s in _SENTENCE_END.split(line) if s.strip()]


def _text_documents(text: str) -> Iterable[str]:
    return (block for block in re.split(r"\n\s*\n", text) if block.strip())


def _squad_documents(data: dict, src: str) -> Iterable[str]:
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(src, None, "data", 'expected a SQuAD object {"data": [articles...]}')
    seen = set()
    for a, article in enumerate(data["data"]):
        for p, para in enumerate((article or {}).get("paragraphs") or []):
            context = para.get("context") if isinstance(para, dict) else None
            if not isinstance(context, str):
                raise DataError(src, f"data[{a}].paragraphs[{p}]", "context", "expected a string")
            if context not in seen:
                seen.add(context)
                yield context


def read_documents(directory: str, name: str) -> tuple[list[list[str]], str]:
    """Documents (lists of sentences) and a name for the source."""
    if is_hub_dir(directory):
        rows = load_split(directory, name)
        text = "\n".join(r["text"] if r["text"].strip() else "\n" for r in rows)
        src, docs = f"{directory} [{name}]", _text_documents(text)
    else:
        path = data_file(directory, name)
        src = str(path)
        if path.suffix == ".json":
            try:
                docs = _squad_documents(json.loads(read_text(path)), src)
            except json.JSONDecodeError as e:
                raise DataError(src, None, None, f"not valid JSON (line {e.lineno}: {e.msg})") from None
        elif path.suffix == ".jsonl":
            docs = (_record_text(rec, src, n) for n, rec in iter_jsonl(path))
        else:
            docs = _text_documents(read_text(path))
    out = [sentences(check_text(d, src, None, None)) for d in docs]
    return [d for d in out if d], src


def _record_text(rec: dict, src: str, line: int) -> str:
    text = rec.get("text")
    if not isinstance(text, str):
        raise DataError(src, f"line {line}", "text", f"expected a string, got {text!r:.40}")
    return text
