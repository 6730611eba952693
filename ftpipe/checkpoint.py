"""Resumable training state: weights (safetensors), optimiser, schedule, RNG and the loop's
own counters, written atomically; loaded only with ``torch.load(weights_only=True)``.

Why not accelerate's ``save_state`` / ``load_state``: they restore the torch RNG when the
state is loaded, but resuming bit-identically needs it restored *after* the resumed
epoch's data loader has made its first draw (see :mod:`ftpipe.training`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from .io import atomic_dir, write_text


def run_key(*parts: Any) -> str:
    """Fingerprint of everything a checkpoint depends on: resuming a different run is refused."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def tree_digest(path: str | Path) -> str:
    """The md5 of a file or a directory's files (names and contents): what a run starts
    from (the encoder's weights, the features), for :func:`run_key`. Not a path on disk
    (a hub id): the name itself."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.is_file() else []
    if not files:
        return str(path)
    h = hashlib.md5()
    for f in files:
        content = hashlib.md5()
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):  # (hashlib.file_digest: Python 3.11+)
                content.update(block)
        h.update(f"{f.relative_to(path) if f != path else f.name}\0".encode() + content.digest())
    return h.hexdigest()


def save(ckpt_dir: Path, key: str, model: torch.nn.Module, optimizer: Any, scheduler: Any, state: dict) -> None:
    from safetensors.torch import save_model

    with atomic_dir(ckpt_dir) as tmp:
        save_model(model, str(tmp / "model.safetensors"))  # shared tensors (ELECTRA's embeddings) once
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
                   tmp / "optim.pt")
        # allow_nan: a diverged loss (NaN) is the run's state too, not a reason to fail the save
        write_text(tmp / "state.json", json.dumps({"key": key, **state}, allow_nan=True))


def load(ckpt_dir: Path, key: str, say: bool = True) -> dict | None:
    """The loop's saved state, or None when there is none or it belongs to another run."""
    state_file = ckpt_dir / "state.json"
    if not state_file.is_file():
        return None
    state = json.loads(state_file.read_text())
    if state.get("key") != key:
        if say:
            print(f"[train] ignoring checkpoint in {ckpt_dir}: it belongs to other params, weights or data")
        return None
    return state


def restore(ckpt_dir: Path, model: torch.nn.Module, optimizer: Any, scheduler: Any) -> dict:
    """Load weights, optimiser and schedule; return the saved RNG states (restored later)."""
    from safetensors.torch import load_model

    load_model(model, str(ckpt_dir / "model.safetensors"))
    extra = torch.load(ckpt_dir / "optim.pt", weights_only=True)
    optimizer.load_state_dict(extra["optimizer"])
    scheduler.load_state_dict(extra["scheduler"])
    return {"torch_rng": extra["torch_rng"], "cuda_rng": extra["cuda_rng"]}


def restore_rng(saved: dict) -> None:
    torch.set_rng_state(saved["torch_rng"])
    if saved["cuda_rng"]:
        torch.cuda.set_rng_state_all(saved["cuda_rng"])
