"""What every stage script shares: argument parsing, params, one-line errors."""

from __future__ import annotations

import argparse
import os
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
    """Load and validate params, run the stage; user errors print one clear line and exit 1."""
    section = getattr(args, "task", None)
    AUDIT.name = Path(sys.argv[0]).stem + (f"@{section}" if section else "")
    try:
        main(args, load_params(args.params, section))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
