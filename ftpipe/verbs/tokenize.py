"""tokenize: prepared records -> the task's features on disk, and their statistics."""

from __future__ import annotations

from pathlib import Path

from ..config import RunParams
from ..errors import DataError
from ..io import atomic_dir, read_json, read_jsonl, write_json
from ..models import check_max_length, load_tokenizer
from . import present_splits, task_of


def tokenize(params: RunParams, prepared: str | Path, out: str | Path, report_path: str | Path) -> dict:
    import datasets

    task = task_of(params)
    check_max_length(params.section, params.task.tokenize.max_length, params.task.model.dir)
    tokenizer = load_tokenizer(params.task.model.dir, params.encoder.trust_remote_code)
    meta = read_json(Path(prepared) / "meta.json")
    info = {}
    with atomic_dir(out) as tmp:
        for split in present_splits(task, prepared, meta):
            path = Path(prepared) / f"{split}.jsonl"
            records = read_jsonl(path)
            try:
                cols, info[split] = task.featurize(records, tokenizer, params.task.tokenize, split, meta)
            except DataError as e:  # featurize names the split's record; the file is known here
                raise (e.from_file(str(path)) if e.source == f"{split} split" else e) from None
            datasets.Dataset.from_dict(cols).save_to_disk(str(tmp / split))
            print(f"[tokenize] {params.section} {split}: {info[split]}")
    write_json(report_path, info)
    return info
