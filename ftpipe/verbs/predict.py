"""predict (the task's predictions for the eval and test splits) and the forward pass that
the per-epoch evaluation shares."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..config import RunParams
from ..inference import forward_rows
from ..io import atomic_dir, load_features, read_json, read_jsonl, write_json
from ..models import load_trained
from ..tasks.base import Task
from . import present_splits, task_of


def predict_rows(task: Task, model: Any, features: Any, records: list[dict], pad_token_id: int,
                 params: RunParams, meta: dict) -> Any:
    rows = forward_rows(model, features, pad_token_id, params.predict.batch_size, params.predict.precision,
                        task.outputs, task.token_outputs)
    return task.decode(rows, features, records, params.task.predict, meta)


def predict(params: RunParams, model_dir: str | Path, features: str | Path, prepared: str | Path,
            out: str | Path) -> None:
    task = task_of(params)
    model, tokenizer = load_trained(Path(model_dir) / params.predict.checkpoint, task.auto_model)
    meta = read_json(Path(prepared) / "meta.json")
    with atomic_dir(out) as tmp:
        for split in present_splits(task, prepared, meta):
            if split == "train":
                continue
            records = read_jsonl(Path(prepared) / f"{split}.jsonl")
            feats = load_features(Path(features) / split)
            t0 = time.perf_counter()
            predictions = predict_rows(task, model, feats, records, tokenizer.pad_token_id, params, meta)
            seconds = time.perf_counter() - t0
            (tmp / split).mkdir()
            task.write_predictions(tmp / split, predictions, records, split, meta)
            write_json(tmp / split / "timing.json", {"examples": len(records), "features": len(feats),
                                                     "seconds": round(seconds, 3)})
            print(f"[predict] {params.section} {split}: {len(records)} examples in {seconds:.1f}s")
