"""CoNLL column files: one token per line, columns separated by white space, a blank line
between sentences, ``-DOCSTART-`` lines skipped (CoNLL-2000: ``word POS chunk``;
CoNLL-2003: ``word POS chunk NER``, where blank lines surround each ``-DOCSTART-``). A
``-DOCSTART-`` right after a token line, with no blank line between, ends a sentence that
the file never ended: bad (``docstart_inside_sentence``), and under ``repair`` the
sentence ends there (a document's start is a sentence's end), counted. A sentence becomes::

    {"id": "line <n>", "words": [...], "columns": [[cell, ...] per token], "tags": [...]}

``tags`` is None for an unlabelled file. A line with another number of columns than the
file's first token line, a tag that is not ``O`` / ``<prefix>-<type>``, or (with a fixed
label set) a tag outside it makes the sentence bad: an error naming file, line and field,
or under ``skip`` / ``repair`` the sentence is dropped and counted.
"""

from __future__ import annotations

import re

from ...errors import DataError
from ...records import Policy, Tally, check_text

TAG = re.compile(r"^(O|[BIE]-\S+)$")
HUB_FIELDS = ["tokens", "pos_tags", "chunk_tags", "ner_tags"]  # the hub's conll2000/2003 columns


def blocks(text: str) -> list[tuple[int, list[str], int | None]]:
    """(first line number, token lines, the line of a ``-DOCSTART-`` that cut it or None)
    per sentence."""
    out, current, start = [], [], 0
    for n, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):  # Unix, Windows and old Mac line ends
        docstart = bool(line.strip()) and line.split()[0] == "-DOCSTART-"
        if not line.strip() or docstart:
            if current:
                out.append((start, current, n if docstart else None))
            current = []
            continue
        if not current:
            start = n
        current.append(line)
    if current:
        out.append((start, current, None))
    return out


def check_tag(tag: str, labels: set[str] | None) -> str | None:
    """What is wrong with a tag, or None."""
    if not TAG.match(tag):
        return f"expected O or B-/I-/E-<type>, got {tag!r}"
    if labels is not None and tag not in labels:
        return f"not in the fixed label set data.labels ({len(labels)} tags), got {tag!r}"
    return None


def sentence(start: int, lines: list[str], src: str, tag_column: int | None, labels: set[str] | None,
             width: int, policy: Policy, tally: Tally) -> dict | None:
    rid = f"line {start}"
    columns = [line.split() for line in lines]
    for i, cells in enumerate(columns):
        if len(cells) != width:
            return policy.bad(f"line {start + i}", None, f"expected {width} columns, got {len(cells)}",
                              "wrong_column_count", tally)
        check_text(" ".join(cells), src, f"line {start + i}", None)
    tags = None
    if tag_column is not None:
        tags = [cells[tag_column] for cells in columns]
        for i, tag in enumerate(tags):
            problem = check_tag(tag, labels)
            if problem:
                return policy.bad(f"line {start + i}", f"column {tag_column}", problem, "bad_tag", tally)
    return {"id": rid, "words": [cells[0] for cells in columns], "columns": columns, "tags": tags}


def read_conll(text: str, src: str, tag_column: int | None, labels: list[str] | None, policy: Policy,
               tally: Tally) -> list[tuple[str, dict | None]]:
    """Every sentence of a column file; ``tag_column`` None: unlabelled (a test file)."""
    found = blocks(text)
    if not found:
        raise DataError(src, None, None, "no sentences (a CoNLL file: one token per line, blank lines between "
                                         "sentences)")
    width = len(found[0][1][0].split())
    if tag_column is not None and not 1 <= tag_column < width:
        raise DataError(src, f"line {found[0][0]}", None, f"data.tag_column {tag_column} is not a tag column of a "
                                                          f"file with {width} columns (0 is the word)")
    fixed = set(labels) if labels is not None else None
    out = []
    for start, lines, docstart in found:
        tally.read += 1
        if docstart is not None and policy.mode != "repair":
            policy.bad(f"line {start}", None, f"-DOCSTART- on line {docstart} inside the sentence (no blank line "
                                              f"before it)", "docstart_inside_sentence", tally)
            out.append((f"line {start}", None))
            continue
        rec = sentence(start, lines, src, tag_column, fixed, width, policy, tally)
        if docstart is not None and rec is not None:
            tally.repaired["docstart_inside_sentence"] += 1
        out.append((f"line {start}", rec))
    return out


def from_hub(rows, names: dict[str, list[str]], tag_column: int | None) -> list[tuple[str, dict]]:
    """The hub's conll2000 / conll2003 rows (class indices) as records."""
    out = []
    for i, row in enumerate(rows):
        fields = [f for f in HUB_FIELDS if f in row]
        columns = [[row["tokens"][t]] + [names[f][row[f][t]] for f in fields[1:]] for t in range(len(row["tokens"]))]
        tags = [c[tag_column] for c in columns] if tag_column is not None else None
        out.append((f"row {i}", {"id": f"row {i}", "words": list(row["tokens"]), "columns": columns, "tags": tags}))
    return out
