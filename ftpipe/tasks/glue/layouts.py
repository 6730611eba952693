"""The eight GLUE tasks as GLUE distributes them: file layouts, label sets, hub fields.

Each task's TSV files are read by column name where the file has a header (CoLA's train
and dev have none: four columns by position). Fields are split on tabs only: sentences
keep their quotes (GLUE's quoting is not CSV quoting). A record becomes::

    {"id": str, "index": str | None, "text_a": str, "text_b": str | None, "label": int | float | None}

``index`` is the row's GLUE index (the file's ``index`` / ``id`` column; the hub's
``idx``), which the submission file names; ``id`` is the index too, or ``line <n>`` in a
file without one, and the task makes it unique across MNLI's matched and mismatched sets.
``label`` is the class index (the position in ``labels``), the score for STS-B
(regression), or None for an unlabelled test row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...errors import DataError
from ...records import Policy, check_text, visible


@dataclass(frozen=True)
class Layout:
    name: str  # GLUE's name: the submission file is <name>.tsv
    text_a: str  # column of the first sentence
    text_b: str | None  # column of the second sentence (None: single-sentence task)
    label: str  # column of the label
    labels: tuple[str, ...] | None  # class names in the order of the model's outputs; None: regression
    metric: str  # the metric that picks the best epoch
    id_column: str = "index"  # the GLUE index (every test file; some train and dev files lack it)
    header: bool = True  # False: CoLA's train/dev (4 columns: source, label, mark, sentence)
    symmetric: bool = False  # the pair's order carries no meaning (ELECTRA's double_unordered)
    hub: tuple[str, str | None, str] = ("sentence", None, "label")  # nyu-mll/glue fields


LAYOUTS = {
    "cola": Layout("CoLA", "sentence", None, "label", ("0", "1"), "mcc", header=False),
    "sst2": Layout("SST-2", "sentence", None, "label", ("0", "1"), "accuracy"),
    "mrpc": Layout("MRPC", "#1 String", "#2 String", "Quality", ("0", "1"), "f1", symmetric=True,
                   hub=("sentence1", "sentence2", "label")),
    "qqp": Layout("QQP", "question1", "question2", "is_duplicate", ("0", "1"), "f1", id_column="id",
                  hub=("question1", "question2", "label")),
    "stsb": Layout("STS-B", "sentence1", "sentence2", "score", None, "pearson", symmetric=True,
                   hub=("sentence1", "sentence2", "label")),
    "mnli": Layout("MNLI", "sentence1", "sentence2", "gold_label", ("entailment", "neutral", "contradiction"),
                   "accuracy", hub=("premise", "hypothesis", "label")),
    "qnli": Layout("QNLI", "question", "sentence", "label", ("entailment", "not_entailment"), "accuracy",
                   hub=("question", "sentence", "label")),
    "rte": Layout("RTE", "sentence1", "sentence2", "label", ("entailment", "not_entailment"), "accuracy",
                  hub=("sentence1", "sentence2", "label")),
}

COLA_COLUMNS = ["source", "label", "mark", "sentence"]


def parse_label(layout: Layout, value: str) -> int | float:
    """A label cell -> class index or score; ValueError says what is allowed."""
    if layout.labels is None:
        score = float(value)
        if not math.isfinite(score) or not 0.0 <= score <= 5.0:
            raise ValueError(f"expected a score in [0, 5], got {value!r}")
        return score
    if value not in layout.labels:
        raise ValueError(f"expected one of {', '.join(layout.labels)}, got {value!r}")
    return layout.labels.index(value)


def _field(row: dict, column: str | None, src: str, rid: str, policy: Policy, tally) -> str | None:
    value = row.get(column)
    if value is None or not visible(value):
        policy.bad(rid, column, "empty sentence", "empty_sentence", tally)
        return None
    return check_text(value, src, rid, column)


def to_record(layout: Layout, row: dict, rid: str, src: str, labelled: bool, policy: Policy, tally) -> dict | None:
    """A parsed row (column -> cell) -> canonical record, or None when dropped (counted)."""
    text_a = _field(row, layout.text_a, src, rid, policy, tally)
    text_b = _field(row, layout.text_b, src, rid, policy, tally) if text_a is not None and layout.text_b else None
    if text_a is None or (layout.text_b and text_b is None):
        return None
    label = None
    if labelled:
        try:
            label = parse_label(layout, row.get(layout.label, ""))
        except ValueError as e:
            return policy.bad(rid, layout.label, str(e), "bad_label", tally)
    index = row.get(layout.id_column)
    index = None if index in (None, "") else str(index)
    return {"id": index or rid, "index": index, "text_a": text_a, "text_b": text_b, "label": label}


def has_header(layout: Layout, labelled: bool) -> bool:
    return layout.header or not labelled  # CoLA's test.tsv has a header ("index sentence")


def read_rows(text: str, src: str, layout: Layout, labelled: bool, policy: Policy, tally
              ) -> list[tuple[str, dict]]:
    """Tab-separated rows -> (record name, column -> cell); rows of the wrong width are bad."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    while lines and lines[-1] == "":  # CoLA's dev has no trailing newline, the others do
        lines.pop()
    header = has_header(layout, labelled)
    if header and not lines:
        raise DataError(src, None, None, "empty file (expected a header row)")
    columns = lines[0].split("\t") if header else COLA_COLUMNS
    width = len(columns)
    body = lines[1:] if header else lines
    out = []
    for n, line in enumerate(body, start=2 if header else 1):
        cells = line.split("\t")
        tally.read += 1
        if len(cells) != width:
            policy.bad(f"line {n}", None, f"expected {width} tab-separated columns, got {len(cells)}",
                       "wrong_column_count", tally)
            continue
        out.append((f"line {n}", dict(zip(columns, cells))))
    return out


def header_columns(text: str, layout: Layout, src: str, labelled: bool) -> None:
    """The columns the task needs are in the header (a wrong file for the task, else)."""
    if not has_header(layout, labelled):
        return
    header = text.split("\n", 1)[0].rstrip("\r").split("\t")
    need = [c for c in (layout.text_a, layout.text_b, layout.label if labelled else None) if c]
    missing = [c for c in need if c not in header]
    if missing:
        raise DataError(src, "line 1", missing[0], f"column missing from the header {header} "
                                                    f"(the {layout.name} layout needs {need})")
