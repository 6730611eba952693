"""What every stage script shares: argument parsing, params, clear errors."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from .config import Params, ParamsError, load_params
from .models import ModelError
from .squad import DataError

# Stages never reach for the hub unless the user has network access and asks for a hub id;
# keep the libraries quiet and offline-friendly by default.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    return p


def run(main: Callable[[argparse.Namespace, Params], None], args: argparse.Namespace) -> None:
    """Load and validate params, run the stage; user errors print one clear line and exit 1."""
    try:
        params = load_params(args.params)
        main(args, params)
    except (DataError, ParamsError, ModelError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
