"""Which precision runs: ``auto`` resolves per machine; autocast for inference."""

from __future__ import annotations

from contextlib import nullcontext

import torch


def resolve_precision(precision: str) -> str:
    """accelerate's mixed_precision value (no | bf16 | fp16) for a ``precision`` param."""
    if precision == "fp32":
        return "no"
    if precision != "auto":
        return precision
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    # CPU: bf16 autocast only pays with native bf16 (AVX512-BF16 or AMX). On an AVX2-only
    # CPU it is emulated: measured 25x slower than fp32 on a 2-core dev machine (README).
    return "bf16" if cpu_has_native_bf16() else "no"


def cpu_has_native_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and (
            torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_for(precision: str, device: torch.device):
    mp = resolve_precision(precision)
    if mp == "no":
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16 if mp == "bf16" else torch.float16)
