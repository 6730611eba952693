"""What every task's loader shares: the load report, duplicate-id checks, the seeded split.

A loader yields ``(record name, row or None)``: None means the row was dropped (and already
counted in the report under its reason). Nothing is dropped silently.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from .errors import DataError


@dataclass
class LoadReport:
    """What happened to each record read (written to metrics/<section>/data.json)."""

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
        raise DataError(src, None, None, "no usable records")
    report.kept = len(out)
    return out


def split_records(records: list[dict], eval_size: float, seed: int, group: str | None = None
                  ) -> tuple[list[dict], list[dict]]:
    """Seeded train/eval split of records (like ``Dataset.train_test_split``), or of the
    groups named by ``group`` (e.g. ``title``: no article on both sides)."""
    rng = np.random.default_rng(seed)
    if group is None:
        order = rng.permutation(len(records))
        n_eval = int(round(len(records) * eval_size))
        if n_eval == 0 or n_eval == len(records):
            raise ValueError(f"test_size {eval_size} leaves an empty side for {len(records)} questions")
        eval_idx = set(order[:n_eval].tolist())
        return ([r for i, r in enumerate(records) if i not in eval_idx],
                [r for i, r in enumerate(records) if i in eval_idx])
    keys = list(dict.fromkeys(r[group] for r in records))
    order = rng.permutation(len(keys))
    n_eval = int(round(len(keys) * eval_size))
    if n_eval == 0 or n_eval == len(keys):
        raise ValueError(f"test_size {eval_size} leaves an empty side for {len(keys)} articles")
    eval_keys = {keys[i] for i in order[:n_eval].tolist()}
    return [r for r in records if r[group] not in eval_keys], [r for r in records if r[group] in eval_keys]
