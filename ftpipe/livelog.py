"""Training logs through dvclive, so DVC lists and plots them.

Per logged optimizer step: ``train/loss``, ``train/lr``, ``train/features_per_s``,
``train/tokens_per_s``; per epoch: ``epoch``, ``train/epoch_loss`` and the task's
evaluation metrics as ``eval/<name>``; at the end, the run's summary (trainable
parameters, time, throughput, best epoch, the precision and machine that ran). dvclive
writes ``<dir>/metrics.json`` (latest values + summary: a DVC metrics file) and one TSV per
metric under ``<dir>/plots/metrics/`` (DVC plots) as training goes, so ``dvc exp show``
shows a run that is still training.

The rows are also kept in memory (:attr:`RunLog.steps`, :attr:`RunLog.epochs`): they are
part of a resumable checkpoint, and a resumed run replays them into a fresh log (DVC
removes a stage's outputs before it reruns it), so its files end up as an uninterrupted
run's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _live(log_dir: str | Path) -> Any:
    from dvclive import Live

    from .io import write_text

    class StageLive(Live):
        """dvclive without its own DVC integration (saving experiments, writing dvc.yaml):
        the logs are a stage's outputs, declared in dvc.yaml. That integration also fails
        in a git repository without commits (scmrepo's SCMError escapes it)."""

        def _init_dvc(self) -> None:
            pass

        def make_summary(self) -> None:
            """dvclive's, written atomically: it rewrites metrics.json at every logged
            step, and its own plain rewrite killed mid-way leaves an empty file."""
            from dvclive.plots.utils import NumpyEncoder

            if self._step is not None:
                self.summary["step"] = self.step
            write_text(self.metrics_file, json.dumps(self.summary, indent=4, cls=NumpyEncoder) + "\n")

    return StageLive(dir=str(log_dir), save_dvc_exp=False, dvcyaml=False, report=None)


class RunLog:
    def __init__(self, log_dir: str | Path | None, steps: list[dict] | None = None,
                 epochs: list[dict] | None = None, evals: list[dict] | None = None):
        self.steps: list[dict] = []
        self.epochs: list[dict] = []
        self.evals: list[dict] = []
        self.live = None
        if log_dir is not None:
            self.live = _live(log_dir)
        # A resumed run's rows, in the order the run logged them (at one step: the step's row,
        # an evaluation, the epoch's end), so its files are an uninterrupted run's byte for
        # byte; the summary file is written once, after them.
        self._replaying = True
        replay = [(r["step"], 0, r) for r in steps or []] + [(r["step"], 1, r) for r in evals or []] + \
            [(r["step"], 2, r) for r in epochs or []]
        for _, kind, row in sorted(replay, key=lambda x: (x[0], x[1])):
            if kind == 0:
                self.log_step(row)
            elif kind == 1:
                self.log_eval(row["step"], {k: v for k, v in row.items() if k != "step"})
            else:
                self.log_epoch(row)
        self._replaying = False
        if self.live is not None and replay:
            self.live.make_summary()

    def _log(self, step: int, values: dict[str, Any]) -> None:
        if self.live is None:
            return
        self.live.step = step
        for name, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.live.log_metric(name, value)
        if self._replaying:
            self.live.summary["step"] = self.live.step  # what make_summary records, in the same key order
        else:
            self.live.make_summary()

    def log_step(self, row: dict) -> None:
        """``row``: step, epoch, loss, lr, features_per_s, tokens_per_s."""
        self.steps.append(row)
        self._log(row["step"], {f"train/{k}": v for k, v in row.items() if k != "step"})

    def log_epoch(self, row: dict) -> None:
        """``row``: epoch, step, train_loss, eval_<metric>..."""
        self.epochs.append(row)
        values = {"epoch": row["epoch"], "train/epoch_loss": row["train_loss"]}
        values.update({f"eval/{k[5:]}": v for k, v in row.items() if k.startswith("eval_")})
        self._log(row["step"], values)

    def log_eval(self, step: int, metrics: dict) -> None:
        """An evaluation between epoch ends (``train.eval_every``)."""
        self.evals.append({"step": step, **metrics})
        self._log(step, {f"eval/{k}": v for k, v in metrics.items()})

    def finish(self, summary: dict) -> None:
        if self.live is None:
            return
        self.live.summary.update(summary)
        self.live.make_summary()
        self.live.end()
