"""prepare: read a task's data, validate, split, write the prepared records and the report."""

from __future__ import annotations

from pathlib import Path

from ..config import RunParams
from ..io import atomic_dir, write_json, write_jsonl
from . import task_of


def prepare(params: RunParams, out: str | Path, report_path: str | Path) -> dict:
    task = task_of(params)
    splits, report, meta = task.prepare(params.task.data)
    with atomic_dir(out) as tmp:
        for split, records in splits.items():
            write_jsonl(tmp / f"{split}.jsonl", records)
        write_json(tmp / "meta.json", meta)
    write_json(report_path, report)
    print(f"[prepare] {params.section}: " + " / ".join(f"{len(r)} {s}" for s, r in splits.items()) + f" -> {out}")
    return report
