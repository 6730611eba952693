"""Running the tools the studies and reports drive (dvc, git) from Python: one way, with
one error line on failure. Not a stage dependency: no pipeline stage shells out."""

from __future__ import annotations

import subprocess
from pathlib import Path


def run_command(cmd: list[str], check: bool = True, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run ``cmd`` with its output captured; with ``check`` a failure is one error line
    naming the command and the tail of its stderr."""
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if check and p.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed: {p.stderr.strip()[-2000:]}")
    return p
