"""The task registry: the one place a task name maps to its module.

A task is a package or module under ``ftpipe/tasks`` exposing ``TASK``, an instance of
:class:`ftpipe.tasks.base.Task`. Modules are imported on first use, so a stage run for one
task never imports another task's code (and DVC's ``deps`` of a stage list only its own
task's package). Adding a task is one entry here, its module, a params.yaml section and
its dvc.yaml entries (README, "Adding a task").
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import ParamsError

TASKS = {
    "qa": "ftpipe.tasks.qa",  # extractive QA, SQuAD v1.1/v2.0 and the ADL format
    "mc": "ftpipe.tasks.mc",  # multiple choice: which candidate paragraph answers a question
    "glue": "ftpipe.tasks.glue",  # GLUE sentence(-pair) classification and regression, 8 tasks by name
    "tagging": "ftpipe.tasks.tagging",  # sequence tagging (CoNLL-2000 chunking, NER), scored as conlleval
    "pretrain": "ftpipe.tasks.pretrain",  # ELECTRA pretraining (replaced-token detection) or masked LM
}


def get_task(name: str, where: str = "task") -> Any:
    """The ``TASK`` (a :class:`ftpipe.tasks.base.Task`) of the module registered as ``name``."""
    if not isinstance(name, str) or name not in TASKS:
        raise ParamsError(f"{where}: invalid value {name!r}; allowed: {' | '.join(TASKS)}")
    return importlib.import_module(TASKS[name]).TASK
