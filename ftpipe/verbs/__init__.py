"""The verbs every task goes through, task-free: prepare, tokenize, train, predict, evaluate.

Each stage script in ``stages/`` parses its paths and calls its verb here with the run's
params (:class:`ftpipe.config.RunParams`); the task's module supplies what differs. One
module per verb, so a stage's DVC ``deps`` list only the code it runs. The layout they read
and write, for a task section ``<s>``::

    data/prepared/<s>/{train,eval,test}.jsonl, meta.json    prepare
    data/features/<s>/{train,eval,test}/  (datasets, Arrow) tokenize
    models/<s>/{final,best}/  (save_pretrained)             train
    predictions/<s>/{eval,test}/                            predict
    metrics/<s>/{data,features,eval}.json, metrics/<s>/train/ (dvclive)
"""

from __future__ import annotations

from pathlib import Path

from ..config import RunParams
from ..tasks import get_task
from ..tasks.base import Task


def task_of(params: RunParams) -> Task:
    return get_task(params.task.task, f"{params.section}.task")


def present_splits(task: Task, prepared: str | Path, meta: dict) -> list[str]:
    """The prepared splits the task tokenizes and predicts (:meth:`Task.splits_of`, given
    the prepared ``meta.json``)."""
    return [s for s in task.splits_of(meta) if (Path(prepared) / f"{s}.jsonl").is_file()]
