"""What a run ran on, written beside its figures (every train summary, every benchmark), so
numbers are never orphaned and a metrics diff between machines explains itself.

The CPU model and the flags that decide the precision (AVX2-only boxes emulate bf16, ~25x
slower than fp32; AVX512-BF16 / AMX boxes run it natively), the torch thread count (part
of the result: it changes the order of floating-point sums), whether large CPU tensors
sit on transparent huge pages (speed only; see ftpipe/__init__.py), and the GPU if any.
"""

from __future__ import annotations

import os
import platform

FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_info() -> tuple[str, list[str]]:
    model, flags = platform.processor() or platform.machine(), []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    break
    except OSError:
        pass
    return model, [f for f in FLAGS if f in flags]


def huge_pages() -> str:
    """The kernel's THP mode and torch's use of it, e.g. ``madvise, torch on`` (torch takes
    only ``1`` as on)."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            mode = f.read().split("[", 1)[1].split("]", 1)[0]
    except (OSError, IndexError):
        mode = "unknown"
    return f"{mode}, torch {'on' if os.environ.get('THP_MEM_ALLOC_ENABLE') == '1' else 'off'}"


def machine() -> dict:
    import torch
    import transformers

    from .precision import cpu_has_native_bf16

    cpu, flags = cpu_info()
    return {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "cpu": cpu, "cpu_flags": flags, "native_bf16": cpu_has_native_bf16(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "huge_pages": huge_pages(), "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
