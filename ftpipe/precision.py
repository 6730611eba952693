"""Which precision runs: ``auto`` resolves per machine; autocast for inference.

On a GPU, ``auto`` is bf16 where the card has it (fp16 otherwise, TF32 on). On a CPU it is
chosen by measurement, not by a flag guess: bf16 autocast is ~1.5x faster than fp32 on an
AVX512-BF16 CPU and ~25x slower on an AVX2-only one (emulated), and the flags do not say
which side of the line a given CPU is on. A short calibration (a Linear forward and
backward in both precisions, alternating: under a second) runs once per CPU model, flags, torch
version and thread count, and is cached (``$XDG_CACHE_HOME/ftpipe/precision.json``); bf16
wins only when it is at least ``BF16_MARGIN`` faster, so timing noise on a borderline CPU
cannot flip the choice (and the metrics) from run to run. Every run records the precision
that ran in its summary.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import torch

from .io import write_text

BF16_MARGIN = 1.2  # bf16 must be this much faster than fp32 to be chosen
CALIBRATION_ROUNDS = 20  # ~0.25 s on the BF16 box; ~3 s where bf16 is emulated (once per machine)


def cache_path() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ftpipe" / "precision.json"


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
    return "bf16" if calibrated_cpu_choice() == "bf16" else "no"


def precision_name(precision: str) -> str:
    """The precision a ``precision`` param runs in, as summaries record it (fp32 | bf16 | fp16)."""
    mp = resolve_precision(precision)
    return "fp32" if mp == "no" else mp


def cpu_has_native_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and (
            torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def native_bf16_kernels() -> bool:
    """The CPU runs bf16 natively and torch's kernels are not capped below it."""
    return (cpu_has_native_bf16() and torch.backends.cpu.get_cpu_capability().startswith("AVX512")
            and "ONEDNN_MAX_CPU_ISA" not in os.environ)


def time_steps(rounds: int = CALIBRATION_ROUNDS) -> tuple[float, float]:
    """Best fp32 and bf16 times of a Linear forward + backward (the shape of a small
    encoder's FFN).

    Grad mode is forced on: the first ``precision: auto`` of a process may be resolved inside
    inference (``forward_rows`` runs under ``torch.inference_mode``), where the backward would
    fail with "element 0 of tensors does not require grad"."""
    with torch.inference_mode(False), torch.enable_grad():
        torch.manual_seed(0)
        layer = torch.nn.Linear(384, 1536)
        x = torch.randn(256, 384, requires_grad=True)
        return best_of_interleaved(lambda dtype: _step_time(layer, x, dtype), rounds)


def best_of_interleaved(step: Callable[[torch.dtype | None], float], rounds: int) -> tuple[float, float]:
    """Each precision's best time over ``rounds`` alternating calls of ``step`` (after a
    warm-up call of each). Alternating, a burst of other work on the box slows both
    precisions alike rather than only the one timed during it, and the minimum keeps each
    one's undisturbed time. On the BF16 box (2 torch threads, two one-thread matmul loops
    beside them), one precision after the other, best of 3 each, measured fp32 faster in 1
    of 20 calibrations (and bf16 only 1.29x faster on the idle box, near the margin);
    alternating over 20 rounds, in 1 of 70 (``measure`` measures that again; 1.69x at
    worst idle)."""
    best: dict[torch.dtype | None, float] = {None: float("inf"), torch.bfloat16: float("inf")}
    for dtype in best:
        step(dtype)
    for _ in range(rounds):
        for dtype in best:
            best[dtype] = min(best[dtype], step(dtype))
    return best[None], best[torch.bfloat16]


def _step_time(layer: torch.nn.Linear, x: torch.Tensor, dtype: torch.dtype | None) -> float:
    t0 = time.perf_counter()
    with torch.autocast("cpu", dtype=dtype) if dtype else nullcontext():
        y = layer(x)
    y.float().sum().backward()
    return time.perf_counter() - t0


def choose(fp32_s: float, bf16_s: float) -> str:
    return "bf16" if fp32_s / bf16_s >= BF16_MARGIN else "fp32"


def machine_key() -> str:
    """What the choice depends on. Besides the CPU: the kernels torch may use on it, which
    ATEN_CPU_CAPABILITY and ONEDNN_MAX_CPU_ISA can cap (capped at AVX2 on an AMX CPU, bf16
    is emulated and ~20x slower than fp32 there: a choice cached uncapped must not apply)."""
    from .machine import cpu_info

    cpu, flags = cpu_info()
    isa = f"{torch.backends.cpu.get_cpu_capability()}, onednn {os.environ.get('ONEDNN_MAX_CPU_ISA', 'all')}"
    return f"{cpu}|{','.join(flags)}|{isa}|torch {torch.__version__}|{torch.get_num_threads()} threads"


def calibrated_cpu_choice(timer: Callable[[], tuple[float, float]] = time_steps) -> str:
    """fp32 or bf16 on this CPU: measured once, then read from the cache."""
    path, key = cache_path(), machine_key()
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache and cache[key].get("choice") in ("fp32", "bf16"):
        return cache[key]["choice"]
    fp32_s, bf16_s = measure(timer)
    cache[key] = {"fp32_s": round(fp32_s, 5), "bf16_s": round(bf16_s, 5), "choice": choose(fp32_s, bf16_s)}
    if cache[key]["choice"] == "fp32" and native_bf16_kernels():
        print(f"WARNING: precision auto: bf16 measured {fp32_s / bf16_s:.2f}x as fast as fp32 on a CPU with "
              f"native bf16 (under the {BF16_MARGIN}x margin), so fp32 runs and is cached; if the box was busy, "
              f"delete {path} (or set precision) and run again", file=sys.stderr)
    try:
        write_text(path, json.dumps(cache, indent=1))  # whole: several processes may write it at once
    except OSError:
        pass  # a read-only home: calibrate again next time
    return cache[key]["choice"]


def measure(timer: Callable[[], tuple[float, float]], tries: int = 3) -> tuple[float, float]:
    """fp32 and bf16 step times; where the kernels run bf16 natively, an fp32 verdict is
    measured again (up to ``tries`` times). The two mistakes cost unequally: fp32 where
    bf16 is 1.8-3.4x faster (the BF16 and AMX boxes) slows every later run and is cached,
    bf16 where fp32 is a little faster costs little. On the busy BF16 box above, 60 of 60
    calibrations this way picked bf16; emulated bf16 (~20x slower) is measured once."""
    for _ in range(tries):
        fp32_s, bf16_s = timer()
        if choose(fp32_s, bf16_s) == "bf16" or not native_bf16_kernels():
            break
    return fp32_s, bf16_s


def autocast_for(precision: str, device: torch.device):
    mp = resolve_precision(precision)
    if mp == "no":
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16 if mp == "bf16" else torch.float16)
