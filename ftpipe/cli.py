"""What every stage script shares: argument parsing, params, one-line errors."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Callable

from .config import AUDIT, RunParams, load_params
from .errors import UserError

# Stages never reach for the hub unless the user has network access and asks for a hub id;
# keep the libraries quiet and offline-friendly by default.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def parser(description: str, task: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    if task:
        p.add_argument("--task", required=True, help="the params.yaml section of the task run (e.g. qa, cola)")
    return p


def run(main: Callable[[argparse.Namespace, RunParams], None], args: argparse.Namespace) -> None:
    """Load and validate params, run the stage. Bad input (data, params, model) prints one
    line naming the file, record and field and exits 1; anything else prints one line too
    (exit 2). FTPIPE_DEBUG=1 shows the traceback instead."""
    section = getattr(args, "task", None)
    AUDIT.name = Path(sys.argv[0]).stem + (f"@{section}" if section else "")
    # SIGTERM (a CI timeout, `kill`, a scheduler) as an exception, like Ctrl-C's SIGINT, so
    # the stage's cleanup runs: temporary outputs removed, nothing half-written left.
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        main(args, load_params(args.params, section))
    except UserError as e:
        if os.environ.get("FTPIPE_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except BaseException as e:  # a failure nobody named yet: still one line, the traceback on request
        # (BaseException: a Rust library's panic is one, pyo3's PanicException; not an exit or Ctrl-C)
        if os.environ.get("FTPIPE_DEBUG") or isinstance(e, (SystemExit, KeyboardInterrupt, GeneratorExit)):
            raise
        where = _innermost_frame(e)
        print(f"error: {type(e).__name__}: {e} (at {where}; set FTPIPE_DEBUG=1 for the traceback)",
              file=sys.stderr)
        sys.exit(2)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminated(signum: int, frame) -> None:
    print("error: terminated (SIGTERM)", file=sys.stderr)
    raise SystemExit(128 + signum)


def _innermost_frame(e: BaseException) -> str:
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f"{Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}" if tb else "?"
