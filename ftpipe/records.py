"""What every task's loader shares: the load report, the bad-record policy, text checks,
duplicate ids, overlap between splits and the seeded split.

A loader yields ``(record name, row or None)``: None means the row was dropped, already
counted in the report under its reason. Nothing is dropped silently: the report of each
file says how many records (and parts of records, such as QA answers) were read, kept,
repaired and dropped, each by reason (``metrics/<task>/data.json``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .errors import DataError
from .io import iter_jsonl

# White space, and the zero-width characters real data hides around answers.
_INVISIBLE = r"[\s\u200b\u200c\u200d\u2060\ufeff]"
_EDGES = re.compile(rf"^{_INVISIBLE}+|{_INVISIBLE}+$")
_LEADING = re.compile(rf"^{_INVISIBLE}+")


def visible(text: str) -> str:
    """``text`` without white space and zero-width characters at either end."""
    return _EDGES.sub("", text)


def leading_invisible(text: str) -> int:
    m = _LEADING.match(text)
    return m.end() if m else 0


@dataclass
class Tally:
    """Counts of one kind of thing read (records, answers, tokens...)."""

    read: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    repaired: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        out = {"read": self.read, "kept": self.kept,
               "dropped": sum(self.dropped.values()), "dropped_by_reason": dict(sorted(self.dropped.items())),
               "repaired": sum(self.repaired.values()), "repaired_by_reason": dict(sorted(self.repaired.items()))}
        if unused := self.read - self.kept - out["dropped"]:  # a loader that reads the whole file first
            out["past_max_examples"] = unused
        return out


@dataclass
class LoadReport:
    """What happened to what one file held; ``unit`` names its records (questions, rows)."""

    source: str
    unit: str = "records"
    records: Tally = field(default_factory=Tally)
    parts: dict[str, Tally] = field(default_factory=dict)

    def part(self, name: str) -> Tally:
        return self.parts.setdefault(name, Tally())

    def as_dict(self) -> dict:
        return {"source": self.source, self.unit: self.records.as_dict(),
                **{name: t.as_dict() for name, t in self.parts.items()}}


class Policy:
    """``data.bad_records``: what a bad record (or a bad part of one) does.

    ``error`` stops with the file, record and field; ``skip`` drops it and counts the
    reason; ``repair`` fixes what can be fixed unambiguously (the loader does that) and
    drops, counting, what cannot.
    """

    def __init__(self, mode: str, source: str):
        self.mode, self.source = mode, source

    def bad(self, record: str, field_: str, message: str, reason: str, tally: Tally) -> None:
        if self.mode == "error":
            raise DataError(self.source, record, field_,
                            f"{message}; set data.bad_records to skip or repair to drop it (counted)")
        tally.dropped[reason] += 1


def check_text(value: str, source: str, record: str, field_: str) -> str:
    """A string that can be written as UTF-8 (no unpaired surrogate, as in '\\ud800')."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise DataError(source, record, field_, f"not valid Unicode text: unpaired surrogate "
                                                f"{value[e.start]!r} at character {e.start}") from None
    return value


def text_field(rec: dict, name: str, src: str, rid: str) -> str:
    """A record's required string field."""
    value = rec.get(name)
    if value is None:
        raise DataError(src, rid, name, "missing")
    if not isinstance(value, str):
        raise DataError(src, rid, name, f"expected a string, got {type(value).__name__}")
    return check_text(value, src, rid, name)


def question_field(rec: dict, src: str, rid: str, policy: Policy, tally: Tally) -> str | None:
    """A record's ``question`` (as :func:`text_field`); one with nothing visible in it follows
    ``bad_records`` (``empty_question``) and gives None."""
    question = text_field(rec, "question", src, rid)
    return question if visible(question) else policy.bad(rid, "question", "empty", "empty_question", tally)


def record_id(rec: dict, src: str, rid: str) -> str:
    """A record's ``id``: a non-empty string (an integer is read as one)."""
    qid = rec.get("id")
    if qid is None:
        raise DataError(src, rid, "id", "missing")
    if not isinstance(qid, (str, int)) or isinstance(qid, bool) or str(qid) == "":
        raise DataError(src, rid, "id", f"expected a non-empty string, got {qid!r}")
    return check_text(str(qid), src, rid, "id")


def jsonl_rows(path: Path) -> Iterable[tuple[str, dict]]:
    """(record name, object) per line: the record's id and line, for the errors."""
    for n, rec in iter_jsonl(path):
        rid = rec.get("id")
        yield (f"{rid} (line {n})" if isinstance(rid, (str, int)) else f"line {n}"), rec


def data_file(directory: str | Path, name: str) -> Path:
    """A file named by data.train / eval / test inside data.dir, with the mistakes spelt out."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(str(directory), None, None, "data.dir: not a directory")
    path = directory / name
    try:
        path.stat()
    except FileNotFoundError:
        hint = ""
        if "[" in name or ":" in name:
            hint = (f"; {name!r} looks like a hub split, but a hub dataset is a directory holding hub.yaml "
                    "(see data/hub/), and data.dir is a local directory")
        raise DataError(str(path), None, None, f"file not found{hint}") from None
    except OSError as e:  # a symlink loop, permissions
        raise DataError(str(path), None, None, f"cannot read ({e.strerror or e})") from None
    return path


def collect(rows: Iterable[tuple[str, dict | None]], src: str, report: LoadReport,
            max_examples: int | None) -> list[dict]:
    """Keep validated rows (None: dropped, already counted), refusing duplicate ids, up to
    ``max_examples``."""
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
        raise DataError(src, None, None, f"no usable {report.unit} ({report.records.read} read, all dropped: "
                                         f"{dict(report.records.dropped)})")
    report.records.kept = len(out)
    return out


def check_overlap(train: list[dict], evals: list[dict], keys: Callable[[dict], Iterable], source: str,
                  allow: bool) -> int:
    """Evaluation records sharing a key (an id, a question + context) with training records:
    an error naming the first ones, unless ``data.allow_overlap``; returns their number."""
    seen = {k for r in train for k in keys(r)}
    shared = [r["id"] for r in evals if any(k in seen for k in keys(r))]
    if shared and not allow:
        raise DataError(source, None, None,
                        f"{len(shared)} of {len(evals)} evaluation records also occur in the training data "
                        f"(same id or same input; first: {', '.join(map(repr, shared[:3]))}); the evaluation "
                        "would score training data. Set data.allow_overlap: true to allow it (counted)")
    return len(shared)


def split_records(records: list[dict], eval_size: float, seed: int, group: str | None = None,
                  unit: str = "records") -> tuple[list[dict], list[dict]]:
    """Seeded train/eval split of records (like ``Dataset.train_test_split``), or of the
    groups named by ``group`` (e.g. ``title``: no article on both sides)."""
    rng = np.random.default_rng(seed)
    keys = list(range(len(records))) if group is None else list(dict.fromkeys(r[group] for r in records))
    what = unit if group is None else f"groups ({group})"
    n_eval = int(round(len(keys) * eval_size))
    if n_eval == 0 or n_eval == len(keys):
        raise DataError("data.eval_size", None, None,
                        f"{eval_size} of {len(keys)} {what} leaves an empty side of the train/eval split; "
                        "change data.eval_size, give data.eval, or use more data")
    order = rng.permutation(len(keys))
    eval_keys = {keys[i] for i in order[:n_eval].tolist()}
    if group is None:
        return ([r for i, r in enumerate(records) if i not in eval_keys],
                [r for i, r in enumerate(records) if i in eval_keys])
    return [r for r in records if r[group] not in eval_keys], [r for r in records if r[group] in eval_keys]
