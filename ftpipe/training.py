"""The training loop shared by every task (QA, multiple choice, GLUE, tagging, pretraining).

An explicit loop (no ``Trainer``) so each step is visible: AdamW without weight decay on
biases and LayerNorm, linear schedule with warmup, gradient accumulation and clipping,
mixed precision and multi-GPU through ``accelerate`` (``accelerate launch`` scales the
same code), cheaper dropout on a CPU (:mod:`.dropout`, ``train.fast_dropout``), batches of
similar length padded per batch, loss and throughput logged every
``log_every`` optimizer steps (dvclive), an evaluation every epoch, and resumable
checkpoints: a run killed mid-epoch continues from its last checkpoint with the same data
order, RNG state and logs, and ends with the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import itertools
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from . import checkpoint
from .batching import LengthGroupedBatchSampler
from .config import TrainConfig, learning_rate, to_dict
from .dropout import fast_dropout
from .io import atomic_dir, recover_dir, remove_dir
from .livelog import RunLog
from .optim import optimizer_and_schedule
from .precision import precision_name, resolve_precision


@dataclass
class FitResult:
    log: RunLog
    best: dict | None
    train_time_s: float
    features_per_s: float
    tokens_per_s: float
    steps: int

    @property
    def epochs(self) -> list[dict]:
        return self.log.epochs


@dataclass
class Evaluation:
    """What the loop evaluates each epoch and how it picks the best epoch."""

    evaluate: Callable[[torch.nn.Module], dict]
    metric: str
    greater_is_better: bool = True
    on_best: Callable[[torch.nn.Module, dict], None] | None = None

    def better(self, metrics: dict, best: dict | None) -> bool:
        if best is None:
            return True
        return metrics[self.metric] > best[self.metric] if self.greater_is_better else \
            metrics[self.metric] < best[self.metric]


def make_accelerator(cfg: TrainConfig) -> Any:
    """The run's ``Accelerator``: its precision, gradient accumulation, and the processes
    ``accelerate launch`` started (created once, before anything asks which is the main one).
    With several processes the main one resolves ``precision`` and tells the others: on a
    CPU ``auto`` is a measurement, and processes measuring side by side could disagree."""
    from accelerate import Accelerator, PartialState
    from accelerate.utils import broadcast_object_list, parse_flag_from_env

    # Starts the process group under accelerate launch / torchrun, as the Accelerator would
    # (it reads ACCELERATE_USE_CPU itself; the PartialState it then shares does not).
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    choice = [resolve_precision(cfg.precision)]  # every process (a GPU's TF32 switch), the main one's kept
    if state.num_processes > 1:
        broadcast_object_list(choice)
    return Accelerator(mixed_precision=choice[0], gradient_accumulation_steps=cfg.grad_accum)


class Trainer:
    """One training run; :func:`fit` is the entry point."""

    def __init__(self, model: torch.nn.Module, rows: Any, collate: Callable, lengths: Sequence[int],
                 cfg: TrainConfig, seed: int, evaluation: Evaluation | None, log_dir: str | Path | None,
                 checkpoint_dir: str | Path | None, key_parts: Any, accelerator: Any = None,
                 time_limit_s: float | None = None):
        from accelerate.utils import set_seed

        self.cfg, self.evaluation, self.time_limit_s = cfg, evaluation, time_limit_s
        self.accelerator = accelerator or make_accelerator(cfg)
        set_seed(seed)
        self.main = self.accelerator.is_main_process  # the one process that logs and writes (accelerate launch)
        self.sampler = LengthGroupedBatchSampler(lengths, cfg.batch_size, seed, cfg.group_by_length,
                                                 short_batch_last=self.accelerator.num_processes > 1)
        loader = DataLoader(rows, batch_sampler=self.sampler, collate_fn=collate)
        steps_per_epoch = math.ceil(len(self.sampler) / cfg.grad_accum)
        self.total_steps = steps_per_epoch * cfg.epochs
        if cfg.max_steps is not None:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        optimizer, scheduler = optimizer_and_schedule(model, cfg, self.total_steps)
        self.model, self.optimizer, self.loader, self.scheduler = self.accelerator.prepare(
            model, optimizer, loader, scheduler)
        self.key = checkpoint.run_key(to_dict(cfg), seed, len(lengths), int(np.sum(lengths)), key_parts)
        self.ckpt = Path(checkpoint_dir) if checkpoint_dir else None
        self.log_dir = log_dir if self.main else None
        self.best: dict | None = None
        self.step = 0
        self.start_epoch, self.skip_batches = 0, 0
        self.saved_step = 0  # the step of the last resumable state (checkpoint_every counts from it)
        self.acc = {"loss_sum": 0.0, "loss_n": 0, "epoch_loss_sum": 0.0, "epoch_loss_n": 0}
        self.resume_rng: dict | None = None
        self.log = self._resume_or_start()
        self.t_train, self.t_eval, self.feats_done, self.toks_done = 0.0, 0.0, 0, 0
        self._window_reset()

    # ------------------------------------------------------------ state
    def _resume_or_start(self) -> RunLog:
        if self.ckpt and self.main:  # a save killed between its two renames left the last state aside
            recover_dir(self.ckpt)
        self.accelerator.wait_for_everyone()  # the others read the state the main process recovered
        state = checkpoint.load(self.ckpt, self.key, say=self.main) if self.ckpt else None
        if state is None:
            return RunLog(self.log_dir)
        saved_rng = checkpoint.restore(self.ckpt, self.accelerator.unwrap_model(self.model), self.optimizer,
                                       self.scheduler)
        self.start_epoch, self.skip_batches, self.step = state["epoch"], state["batches_done"], state["step"]
        self.saved_step = self.step
        self.best, self.acc = state["best"], state["acc"]
        if self.skip_batches == 0:  # saved at an epoch end, before the next loader iteration began
            checkpoint.restore_rng(saved_rng)
        else:
            self.resume_rng = saved_rng
        if self.main:
            print(f"[train] resuming from {self.ckpt}: epoch {self.start_epoch + 1}, step {self.step}")
        log = state["log"]
        return RunLog(self.log_dir, log["steps"], log["epochs"], log.get("evals"))

    def save_checkpoint(self, epoch: int, batches_done: int) -> None:
        self.saved_step = self.step  # on every process, so that all count from the same step
        if self.ckpt is None or not self.main:
            return
        checkpoint.save(self.ckpt, self.key, self.accelerator.unwrap_model(self.model), self.optimizer,
                        self.scheduler, {"epoch": epoch, "batches_done": batches_done, "step": self.step,
                                         "best": self.best, "acc": self.acc,
                                         "log": {"steps": self.log.steps, "epochs": self.log.epochs,
                                                 "evals": self.log.evals}})

    def _checkpoint_due(self) -> bool:
        """At most ``checkpoint_every`` optimizer steps are lost to a kill: the state is
        written once that many steps have passed since the last one, at the step or at an
        epoch end (0: at every epoch end). Each write is the whole model and optimiser
        (~270 MB for MiniLM), so short epochs do not each pay for one."""
        return self.step - self.saved_step >= self.cfg.checkpoint_every

    # ------------------------------------------------------------ one epoch
    def _batches(self, epoch: int):
        loader = self.accelerator.skip_first_batches(self.loader, self.skip_batches) if self.skip_batches \
            else self.loader
        # accelerate's loaders call set_epoch(their own iteration count) on the sampler;
        # align it with the real epoch, which differs after a resume.
        for obj in (self.loader, loader, self.sampler):
            if hasattr(obj, "set_epoch"):
                obj.set_epoch(epoch)
        batches = iter(loader)
        if self.resume_rng is not None:
            # Starting a loader iteration draws from the torch RNG (at the first batch);
            # restore the saved state after it, so dropout masks continue exactly where
            # the killed run stopped.
            batches = itertools.chain([next(batches)], batches)
            checkpoint.restore_rng(self.resume_rng)
            self.resume_rng = None
        return batches

    def run_epoch(self, epoch: int) -> bool:
        """Train one epoch; True when ``max_steps`` is reached."""
        from tqdm.auto import tqdm

        bar = tqdm(self._batches(epoch), desc=f"epoch {epoch + 1}/{self.cfg.epochs}", initial=self.skip_batches,
                   total=len(self.loader), mininterval=2.0, disable=not self.main)
        batches_done, self.skip_batches = self.skip_batches, 0
        t0, evals_before = time.perf_counter(), self.t_eval
        try:
            for batch in bar:
                synced = self._train_step(batch)
                batches_done += 1
                if not synced:
                    continue
                self.step += 1
                if self.step % self.cfg.log_every == 0:
                    self._log_window(epoch + batches_done / len(self.loader), bar)
                if self.cfg.eval_every and self.step % self.cfg.eval_every == 0 and batches_done < len(self.loader):
                    self.log.log_eval(self.step, self._evaluate())
                if self.cfg.max_steps is not None and self.step >= self.cfg.max_steps:
                    return True
                if self.time_limit_s is not None and (self.t_train + time.perf_counter() - t0
                                                      - (self.t_eval - evals_before)) >= self.time_limit_s:
                    return True  # a wall-clock budget (benchmarks: RTD vs MLM at equal time)
                if self.cfg.checkpoint_every and self._checkpoint_due() and batches_done < len(self.loader):
                    self.save_checkpoint(epoch, batches_done)
            return False
        finally:  # mid-epoch evaluations (eval_every) are not training time
            self.t_train += time.perf_counter() - t0 - (self.t_eval - evals_before)

    def _train_step(self, batch: dict) -> bool:
        acc = self.accelerator
        with acc.accumulate(self.model):
            out = self.model(**batch)
            loss = out.loss
            acc.backward(loss)
            if acc.sync_gradients:
                acc.clip_grad_norm_(self.model.parameters(), self.cfg.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad()
        n_feats = batch["input_ids"].shape[0]
        n_toks = int(batch["attention_mask"].sum()) if "attention_mask" in batch else batch["input_ids"].numel()
        self.feats_done, self.toks_done = self.feats_done + n_feats, self.toks_done + n_toks
        self.window_feats, self.window_toks = self.window_feats + n_feats, self.window_toks + n_toks
        loss_v = float(loss.detach())
        for k in ("loss", "epoch_loss"):
            self.acc[f"{k}_sum"] += loss_v
            self.acc[f"{k}_n"] += 1
        for name, value in (getattr(out, "parts", None) or {}).items():  # e.g. generator / discriminator loss
            self.acc[f"part:{name}"] = self.acc.get(f"part:{name}", 0.0) + float(value)
        return acc.sync_gradients

    # ------------------------------------------------------------ logs
    def _window_reset(self) -> None:
        self.window_t, self.window_feats, self.window_toks = time.perf_counter(), 0, 0

    def _log_window(self, epoch: float, bar: Any) -> None:
        dt = time.perf_counter() - self.window_t
        row = {"step": self.step, "epoch": round(epoch, 4), "loss": self.acc["loss_sum"] / self.acc["loss_n"],
               "lr": self.scheduler.get_last_lr()[0], "features_per_s": self.window_feats / dt,
               "tokens_per_s": self.window_toks / dt}
        for key in [k for k in self.acc if k.startswith("part:")]:
            row[key[5:]] = self.acc.pop(key) / self.acc["loss_n"]
        self.log.log_step(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}", feat_s=f"{row['features_per_s']:.1f}")
        self.acc["loss_sum"], self.acc["loss_n"] = 0.0, 0
        self._window_reset()

    def _evaluate(self) -> dict:
        t0 = time.perf_counter()
        self.model.eval()
        metrics = self.evaluation.evaluate(self.accelerator.unwrap_model(self.model))
        self.model.train()
        dt = time.perf_counter() - t0
        self.t_eval += dt
        self.window_t += dt  # evaluation time is not training throughput
        return metrics

    def end_epoch(self, epoch: int) -> None:
        row = {"epoch": epoch + 1, "step": self.step,
               "train_loss": self.acc["epoch_loss_sum"] / max(self.acc["epoch_loss_n"], 1)}
        self.acc["epoch_loss_sum"], self.acc["epoch_loss_n"] = 0.0, 0
        ev = self.evaluation
        if ev is not None:
            metrics = self._evaluate()
            row.update({f"eval_{k}": v for k, v in metrics.items()})
            if ev.better(metrics, self.best):
                self.best = {"epoch": epoch + 1, **metrics}
                if ev.on_best is not None and self.main:
                    ev.on_best(self.accelerator.unwrap_model(self.model), self.best)
        self.log.log_epoch(row)
        if self.main:
            print(f"[train] epoch {epoch + 1}: " + ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))

    # ------------------------------------------------------------ the run
    def run(self) -> FitResult:
        self.model.train()
        for epoch in range(self.start_epoch, self.cfg.epochs):
            done = self.run_epoch(epoch)
            self.end_epoch(epoch)
            if done or epoch + 1 == self.cfg.epochs:
                break  # nothing left to resume
            if self._checkpoint_due():
                self.save_checkpoint(epoch + 1, 0)
            self._window_reset()  # evaluation time is not training throughput
        t = self.t_train
        return FitResult(log=self.log, best=self.best, train_time_s=t, steps=self.step,
                         features_per_s=self.feats_done / t if t else 0.0,
                         tokens_per_s=self.toks_done / t if t else 0.0)


def fit(model: torch.nn.Module, train_rows: Any, collate: Callable[[list[dict]], dict], lengths: Sequence[int],
        cfg: TrainConfig, seed: int, evaluation: Evaluation | None = None, log_dir: str | Path | None = None,
        checkpoint_dir: str | Path | None = None, key_parts: Any = (), accelerator: Any = None,
        time_limit_s: float | None = None, keep_state: bool = False) -> FitResult:
    """Train ``model`` on ``train_rows`` (indexable rows of features) for ``cfg.epochs``.

    ``evaluation.evaluate(model)`` returns metrics per epoch; the best epoch by
    ``evaluation.metric`` goes to ``evaluation.on_best``. Logs go to ``log_dir`` (dvclive);
    resumable state to ``checkpoint_dir`` while the run lasts, removed at the end unless
    ``keep_state``: then the caller removes it once it has saved what it keeps, so a kill
    before that resumes instead of starting over. ``time_limit_s`` stops after that much
    training time (benchmarks at an equal wall-clock budget).
    """
    with fast_dropout(model, cfg.fast_dropout):
        trainer = Trainer(model, train_rows, collate, lengths, cfg, seed, evaluation, log_dir, checkpoint_dir,
                          key_parts, accelerator, time_limit_s)
        result = trainer.run()
    if trainer.ckpt is not None and not keep_state and trainer.main:
        remove_dir(trainer.ckpt)
    return result


# ---------------------------------------------------------------- a whole train stage


NOT_MODEL_INPUTS = ("length", "example_index", "id", "example_id", "offset_mapping", "word_ids", "word_start")


def train_and_save(model: torch.nn.Module, tokenizer: Any, train_ds: Any, collate: Callable, cfg: TrainConfig,
                   seed: int, evaluation: Evaluation, *, out_dir: str | Path, log_dir: str | Path,
                   checkpoint_root: str | Path, key_parts: Any = (), save: Callable | None = None,
                   extra_summary: dict | None = None) -> dict:
    """What every train stage does: report trainable parameters, run :func:`fit` with
    resumable state under ``checkpoint_root``, keep the best model by the evaluation's
    metric, then write ``out_dir/{final,best}`` (atomically) and the summary."""
    from .machine import machine
    from .models import count_parameters, save_model

    save = save or save_model
    counts = count_parameters(model)
    accelerator = make_accelerator(cfg)
    main = accelerator.is_main_process  # under accelerate launch every process runs this; one writes
    if main:
        print(f"[train] method={cfg.method} lr={learning_rate(cfg):g} params: {counts['trainable_params']:,} "
              f"trainable of {counts['total_params']:,} ({counts['trainable_pct']:.2f}%)")
    ckpt_root = Path(checkpoint_root)
    best_dir = ckpt_root / "best"  # survives a killed run, like the resumable state

    def on_best(m: torch.nn.Module, best: dict) -> None:
        with atomic_dir(best_dir) as tmp:
            save(m, tokenizer, tmp)

    evaluation.on_best = on_best
    rows = train_ds.select_columns([c for c in train_ds.column_names if c not in NOT_MODEL_INPUTS])
    result = fit(model, rows, collate, train_ds["length"], cfg, seed, evaluation, log_dir,
                 checkpoint_dir=ckpt_root / "state", key_parts=key_parts, accelerator=accelerator, keep_state=True)
    if not main:
        return {}
    with atomic_dir(out_dir) as tmp:
        save(model, tokenizer, tmp / "final")
        if best_dir.exists():
            shutil.copytree(best_dir, tmp / "best")
    summary = {
        "method": cfg.method, **counts, "epochs": len(result.epochs), "steps": result.steps,
        "train_time_s": round(result.train_time_s, 2),
        "features_per_s": round(result.features_per_s, 3), "tokens_per_s": round(result.tokens_per_s, 1),
        "final_train_loss": result.epochs[-1]["train_loss"],
        "metric": evaluation.metric, "best_epoch": result.best["epoch"] if result.best else None,
        f"best_{evaluation.metric}": result.best[evaluation.metric] if result.best else None,
        "precision": precision_name(cfg.precision),
        **{k: v for k, v in machine().items()
           if k in ("device", "cpu", "cpu_flags", "torch_threads", "huge_pages")},
        **(extra_summary or {}),
    }
    result.log.finish(summary)
    remove_dir(ckpt_root)  # only now: a kill before this resumes from the last state, not from step 0
    return summary
