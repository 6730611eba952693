"""What a benchmark ran on: written beside every figure, so numbers are never orphaned."""

from __future__ import annotations

import os
import platform


def machine() -> dict:
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "cpu": cpu, "cpu_count": os.cpu_count(), "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
