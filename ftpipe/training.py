"""The training loop shared by every task model (QA span head, multiple choice).

An explicit loop (no ``Trainer``) so each step is visible: AdamW without weight decay on
biases and LayerNorm, linear schedule with warmup, gradient accumulation and clipping,
mixed precision and multi-GPU through ``accelerate`` (``accelerate launch`` scales the
same code), batches of windows of similar length padded per batch, loss and throughput
logged every ``log_every`` optimizer steps, an evaluation every epoch, and resumable
checkpoints: a run killed mid-epoch continues from its last checkpoint with the same
data order, RNG state and logs, and ends with the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from .config import TrainConfig, to_dict
from .io import atomic_dir, write_json

# ---------------------------------------------------------------- batching


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Seeded batches of similar-length windows.

    Shuffle all indices, cut them into mega-batches of ``50 * batch_size``, sort each by
    length, cut into batches and shuffle the batches. Padding per batch then costs little,
    while batches stay random across epochs. ``group_by_length=False`` gives plain random
    batches.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, group_by_length: bool = True,
                 mega: int = 50):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.group = group_by_length
        self.mega = mega
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.lengths))
        if self.group:
            size = self.mega * self.batch_size
            chunks = [order[i:i + size] for i in range(0, len(order), size)]
            order = np.concatenate([c[np.argsort(-self.lengths[c], kind="stable")] for c in chunks])
        batches = [order[i:i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)]
        if self.group:
            perm = rng.permutation(len(batches))
            batches = [batches[i] for i in perm]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)


class PadCollator:
    """Pad each batch to its longest row (not to max_length); nested lists (multiple
    choice: one row per candidate) are padded on their last axis too."""

    def __init__(self, pad_token_id: int, keys: Sequence[str], label_keys: Sequence[str] = ()):
        self.pad = {"input_ids": pad_token_id}
        self.keys = list(keys)
        self.label_keys = list(label_keys)

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        out = {}
        for k in self.keys:
            seqs = [r[k] for r in rows]
            nested = isinstance(seqs[0][0], list)
            flat = [s for group in seqs for s in group] if nested else seqs
            width = max(len(s) for s in flat)
            value = self.pad.get(k, 0)
            t = torch.tensor([list(s) + [value] * (width - len(s)) for s in flat], dtype=torch.long)
            out[k] = t.view(len(rows), -1, width) if nested else t
        for k in self.label_keys:
            out[k] = torch.tensor([r[k] for r in rows])
        return out


# ---------------------------------------------------------------- optimisation


_LAYER_INDEX = re.compile(r"\.(?:layer|layers|h|block|blocks)\.(\d+)\.")


def layer_depth(name: str, num_layers: int) -> int:
    """Depth of a parameter for layer-wise lr decay: 0 embeddings, i + 1 encoder layer i,
    ``num_layers + 1`` everything above the encoder (pooler, task head)."""
    m = _LAYER_INDEX.search(name)
    if m:
        if int(m.group(1)) >= num_layers:
            raise ValueError(f"train.layer_decay: parameter {name} names a layer beyond the model's "
                             f"{num_layers} (config.num_hidden_layers)")
        return int(m.group(1)) + 1
    return 0 if "embeddings" in name else num_layers + 1


def param_groups(model: torch.nn.Module, weight_decay: float, lr: float, layer_decay: float = 1.0) -> list[dict]:
    """AdamW groups: no weight decay on biases and norms; with ``layer_decay`` < 1 each
    layer's lr is ``lr * layer_decay ** (depth of the head - depth of the layer)``.

    Layer-wise lr decay (ELECTRA, Clark et al. 2020) keeps the general lower layers close
    to their pretrained values while the task head and the top layers move at the full lr.
    """
    num_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    if layer_decay != 1.0 and not num_layers:
        raise ValueError("train.layer_decay < 1 needs a model whose config has num_hidden_layers")
    groups: dict[tuple[int, bool], list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        depth = layer_depth(name, num_layers) if layer_decay != 1.0 else 0
        # No decay on biases and normalisation weights (LayerNorm / RMSNorm, any naming).
        no_decay = p.ndim < 2 or "norm" in name.lower()
        groups.setdefault((depth, no_decay), []).append(p)
    top = (num_layers or 0) + 1 if layer_decay != 1.0 else 0
    return [{"params": ps, "weight_decay": 0.0 if no_decay else weight_decay,
             "lr": lr * layer_decay ** (top - depth)}
            for (depth, no_decay), ps in sorted(groups.items())]


def resolve_precision(precision: str) -> str:
    """accelerate's mixed_precision value for ``train.precision``."""
    if precision == "fp32":
        return "no"
    if precision != "auto":
        return precision
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    # CPU: bf16 autocast only pays with native bf16 (AVX512-BF16 or AMX). On an AVX2-only
    # CPU it is emulated: measured 25x slower than fp32 on the 2-core dev machine (README).
    return "bf16" if cpu_has_native_bf16() else "no"


def cpu_has_native_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and (
            torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


# ---------------------------------------------------------------- logs


@dataclass
class History:
    """Rows written to ``steps.tsv`` / ``epochs.tsv``; part of the checkpoint for resume."""

    steps: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)

    def write(self, log_dir: Path) -> None:
        from .io import write_tsv

        log_dir.mkdir(parents=True, exist_ok=True)
        for name, rows in (("steps.tsv", self.steps), ("epochs.tsv", self.epochs)):
            if rows:
                header = list(rows[0])
                write_tsv(log_dir / name, header, ([r[h] for h in header] for r in rows))


# ---------------------------------------------------------------- checkpoints


def run_key(*parts: Any) -> str:
    """Fingerprint of everything a checkpoint depends on: resuming a different run is refused."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _save_checkpoint(ckpt_dir: Path, key: str, model, optimizer, scheduler, state: dict) -> None:
    from safetensors.torch import save_file

    with atomic_dir(ckpt_dir) as tmp:
        weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        save_file(weights, str(tmp / "model.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
                   tmp / "optim.pt")
        write_json(tmp / "state.json", {"key": key, **state})


def _restore_rng(saved: dict) -> None:
    torch.set_rng_state(saved["torch_rng"])
    if saved["cuda_rng"]:
        torch.cuda.set_rng_state_all(saved["cuda_rng"])


def _load_checkpoint(ckpt_dir: Path, key: str) -> dict | None:
    state_file = ckpt_dir / "state.json"
    if not state_file.is_file():
        return None
    state = json.loads(state_file.read_text())
    if state.get("key") != key:
        print(f"[train] ignoring checkpoint in {ckpt_dir}: it belongs to other params or data")
        return None
    return state


# ---------------------------------------------------------------- loop


@dataclass
class FitResult:
    history: History
    best: dict | None
    train_time_s: float
    features_per_s: float
    tokens_per_s: float
    steps: int


def fit(
    model: torch.nn.Module,
    train_rows: Any,
    collate: Callable[[list[dict]], dict],
    lengths: Sequence[int],
    cfg: TrainConfig,
    seed: int,
    evaluate: Callable[[torch.nn.Module], dict] | None,
    log_dir: str | Path,
    checkpoint_dir: str | Path | None = None,  # resumable state lives here while training runs
    key_parts: Any = (),
    best_metric: str | None = None,
    on_best: Callable[[torch.nn.Module, dict], None] | None = None,
    accelerator: Any = None,
) -> FitResult:
    """Train ``model`` on ``train_rows`` (indexable rows of features) for ``cfg.epochs``.

    ``evaluate(model)`` returns a dict of metrics per epoch; the best by ``best_metric``
    is passed to ``on_best``. Logs go to ``log_dir`` (steps.tsv, epochs.tsv).
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup
    from tqdm.auto import tqdm

    log_dir = Path(log_dir)
    accelerator = accelerator or Accelerator(mixed_precision=resolve_precision(cfg.precision),
                                             gradient_accumulation_steps=cfg.grad_accum)
    set_seed(seed)
    sampler = LengthGroupedBatchSampler(lengths, cfg.batch_size, seed, cfg.group_by_length)
    loader = DataLoader(train_rows, batch_sampler=sampler, collate_fn=collate)
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay, cfg.learning_rate, cfg.layer_decay),
                                  lr=cfg.learning_rate)
    steps_per_epoch = math.ceil(len(sampler) / cfg.grad_accum)
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)

    key = run_key(to_dict(cfg), seed, len(lengths), int(np.sum(lengths)), key_parts)
    ckpt = Path(checkpoint_dir) if checkpoint_dir else None
    history, best = History(), None
    start_epoch, skip_batches, step = 0, 0, 0
    acc = {"loss_sum": 0.0, "loss_n": 0, "epoch_loss_sum": 0.0, "epoch_loss_n": 0}
    state = _load_checkpoint(ckpt, key) if ckpt else None
    resume_rng = None
    if state is not None:
        from safetensors.torch import load_file

        accelerator.unwrap_model(model).load_state_dict(load_file(str(ckpt / "model.safetensors")))
        extra = torch.load(ckpt / "optim.pt", weights_only=True)
        optimizer.load_state_dict(extra["optimizer"])
        scheduler.load_state_dict(extra["scheduler"])
        start_epoch, skip_batches, step = state["epoch"], state["batches_done"], state["step"]
        resume_rng = extra
        if skip_batches == 0:  # saved at an epoch end, before the next loader iteration began
            _restore_rng(extra)
            resume_rng = None
        history = History(state["history"]["steps"], state["history"]["epochs"])
        best, acc = state["best"], state["acc"]
        print(f"[train] resuming from {ckpt}: epoch {start_epoch + 1}, step {step}")

    def checkpoint(epoch: int, batches_done: int) -> None:
        if ckpt is None or not accelerator.is_main_process:
            return
        _save_checkpoint(ckpt, key, accelerator.unwrap_model(model), optimizer, scheduler,
                         {"epoch": epoch, "batches_done": batches_done, "step": step, "best": best, "acc": acc,
                          "history": {"steps": history.steps, "epochs": history.epochs}})

    model.train()
    t_train, feats_done, toks_done = 0.0, 0, 0
    window_t, window_feats, window_toks = time.perf_counter(), 0, 0
    done = False
    for epoch in range(start_epoch, cfg.epochs):
        epoch_loader = accelerator.skip_first_batches(loader, skip_batches) if skip_batches else loader
        # accelerate's loaders call set_epoch(their own iteration count) on the sampler;
        # align it with the real epoch, which differs after a resume.
        for obj in (loader, epoch_loader, sampler):
            if hasattr(obj, "set_epoch"):
                obj.set_epoch(epoch)
        batches = iter(epoch_loader)
        if resume_rng is not None:
            # Starting a loader iteration draws from the torch RNG (at the first batch);
            # restore the saved state after it, so dropout masks continue exactly where
            # the killed run stopped.
            batches = itertools.chain([next(batches)], batches)
            _restore_rng(resume_rng)
            resume_rng = None
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", initial=skip_batches,
                   total=len(loader), mininterval=2.0, disable=not accelerator.is_main_process)
        batches_done = skip_batches
        skip_batches = 0
        t0 = time.perf_counter()
        for batch in bar:
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            batches_done += 1
            n_feats = batch["input_ids"].shape[0]
            n_toks = int(batch["attention_mask"].sum())
            feats_done, toks_done = feats_done + n_feats, toks_done + n_toks
            window_feats, window_toks = window_feats + n_feats, window_toks + n_toks
            loss_v = float(loss.detach())
            for k in ("loss", "epoch_loss"):
                acc[f"{k}_sum"] += loss_v
                acc[f"{k}_n"] += 1
            if not accelerator.sync_gradients:
                continue
            step += 1
            if step % cfg.log_every == 0:
                dt = time.perf_counter() - window_t
                row = {"step": step, "epoch": round(epoch + batches_done / len(loader), 4),
                       "loss": acc["loss_sum"] / acc["loss_n"], "lr": scheduler.get_last_lr()[0],
                       "features_per_s": window_feats / dt, "tokens_per_s": window_toks / dt}
                history.steps.append(row)
                bar.set_postfix(loss=f"{row['loss']:.3f}", feat_s=f"{row['features_per_s']:.1f}")
                acc["loss_sum"], acc["loss_n"] = 0.0, 0
                window_t, window_feats, window_toks = time.perf_counter(), 0, 0
            if cfg.max_steps is not None and step >= cfg.max_steps:
                done = True
                break
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and batches_done < len(loader):
                checkpoint(epoch, batches_done)
        t_train += time.perf_counter() - t0
        row = {"epoch": epoch + 1, "step": step,
               "train_loss": acc["epoch_loss_sum"] / max(acc["epoch_loss_n"], 1)}
        acc["epoch_loss_sum"], acc["epoch_loss_n"] = 0.0, 0
        if evaluate is not None:
            model.eval()
            metrics = evaluate(accelerator.unwrap_model(model))
            model.train()
            row.update({f"eval_{k}": v for k, v in metrics.items()})
            if best_metric and (best is None or metrics[best_metric] > best[best_metric]):
                best = {"epoch": epoch + 1, **metrics}
                if on_best is not None and accelerator.is_main_process:
                    on_best(accelerator.unwrap_model(model), best)
        history.epochs.append(row)
        print(f"[train] epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                      for k, v in row.items()))
        if done:
            break
        checkpoint(epoch + 1, 0)
        # evaluation time is not training throughput: restart the throughput window
        window_t, window_feats, window_toks = time.perf_counter(), 0, 0
    if accelerator.is_main_process:
        history.write(log_dir)
        if ckpt is not None:
            shutil.rmtree(ckpt, ignore_errors=True)
    return FitResult(history=history, best=best, train_time_s=t_train,
                     features_per_s=feats_done / t_train if t_train else 0.0,
                     tokens_per_s=toks_done / t_train if t_train else 0.0, steps=step)


# ---------------------------------------------------------------- a whole train stage


NOT_MODEL_INPUTS = ("length", "example_index", "id")


def train_and_save(model: torch.nn.Module, tokenizer: Any, train_ds: Any, collate: Callable, cfg: TrainConfig,
                   seed: int, evaluate: Callable[[torch.nn.Module], dict], *, best_metric: str,
                   out_dir: str | Path, metrics_path: str | Path, log_dir: str | Path,
                   checkpoint_root: str | Path, key_parts: Any = ()) -> dict:
    """What every train stage does (QA and multiple choice): report trainable parameters,
    run :func:`fit` with resumable state under ``checkpoint_root``, keep the best model by
    ``best_metric``, then write ``out_dir/{final,best}`` (atomically) and a summary."""
    from .models import count_parameters, save_model

    counts = count_parameters(model)
    print(f"[train] method={cfg.method} lr={cfg.learning_rate:g} params: {counts['trainable_params']:,} "
          f"trainable of {counts['total_params']:,} ({counts['trainable_pct']:.2f}%)")
    ckpt_root = Path(checkpoint_root)
    best_dir = ckpt_root / "best"  # survives a killed run, like the resumable state

    def on_best(m: torch.nn.Module, best: dict) -> None:
        with atomic_dir(best_dir) as tmp:
            save_model(m, tokenizer, tmp)

    rows = train_ds.select_columns([c for c in train_ds.column_names if c not in NOT_MODEL_INPUTS])
    result = fit(model, rows, collate, train_ds["length"], cfg, seed, evaluate=evaluate, log_dir=log_dir,
                 checkpoint_dir=ckpt_root / "state", key_parts=key_parts, best_metric=best_metric,
                 on_best=on_best)
    with atomic_dir(out_dir) as tmp:
        save_model(model, tokenizer, tmp / "final")
        if best_dir.exists():
            shutil.copytree(best_dir, tmp / "best")
    shutil.rmtree(ckpt_root, ignore_errors=True)
    last = result.history.epochs[-1]
    summary = {
        "method": cfg.method, **counts,
        "epochs": len(result.history.epochs), "steps": result.steps,
        "train_time_s": round(result.train_time_s, 2),
        "features_per_s": round(result.features_per_s, 3), "tokens_per_s": round(result.tokens_per_s, 1),
        "final_train_loss": last["train_loss"],
        "best_epoch": result.best["epoch"] if result.best else None,
        f"best_{best_metric}": result.best[best_metric] if result.best else None,
    }
    write_json(metrics_path, summary)
    return summary
