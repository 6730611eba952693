"""evaluate: the eval split's predictions against its gold labels -> the task's metrics."""

from __future__ import annotations

from pathlib import Path

from ..config import RunParams
from ..io import read_jsonl, write_json
from . import task_of


def evaluate(params: RunParams, predictions: str | Path, prepared: str | Path, out: str | Path,
             detail: str | Path) -> dict:
    """The scalar metrics -> ``out`` (a DVC metrics file: a column each in `dvc exp show`);
    breakdowns (per chunk type, ...) -> ``detail``, beside it."""
    task = task_of(params)
    records = read_jsonl(Path(prepared) / "eval.jsonl")
    metrics = task.score(task.read_predictions(Path(predictions) / "eval", "eval"), records)
    scalars = {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items() if not isinstance(v, dict)}
    write_json(detail, {k: v for k, v in metrics.items() if isinstance(v, dict)})
    write_json(out, scalars)  # last: a metrics file on disk means the stage's outputs are all there
    print(f"[evaluate] {params.section}: {scalars}")
    return metrics
