"""Hugging Face hub datasets, named by a directory that holds ``hub.yaml``.

Every data source is a directory DVC can track (``<section>.data.dir``); a hub dataset is
a directory holding a small descriptor, the way a ``.dvc`` import file names what it
imported::

    dataset: nyu-mll/glue     # hub id
    config: null              # configuration name (GLUE: the task, given by the task section)
    revision: null            # a commit or tag pins the data; null: the latest

The split names (``train[:10000]``, ``validation``) are the data section's ``train`` /
``eval`` / ``test`` keys. ``data/hub/`` holds descriptors for the datasets the tasks know.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from .errors import DataError

HUB_FILE = "hub.yaml"
HUB_HOST = ("huggingface.co", 443)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Can the hub be reached? The probe runs in a thread, so neither a dropped packet nor
    a hanging DNS lookup stalls a stage for more than ``timeout`` seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection(HUB_HOST, timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


def go_offline_unless_reachable() -> bool:
    """Before a hub download: when the hub cannot be reached, put the Hugging Face libraries
    in offline mode (they then use their local cache, or fail at once, instead of retrying
    for a minute). Returns whether the hub is reachable."""
    if hub_reachable():
        return True
    os.environ["HF_HUB_OFFLINE"] = "1"
    for module, attr in (("huggingface_hub.constants", "HF_HUB_OFFLINE"), ("datasets.config", "HF_HUB_OFFLINE"),
                         ("transformers.utils.hub", "_is_offline_mode")):
        if module in sys.modules and hasattr(sys.modules[module], attr):
            setattr(sys.modules[module], attr, True)
    return False


OFFLINE_HINT = ("the Hugging Face hub cannot be reached (no network, or HF_HUB_OFFLINE is set) and it is not in "
                "the local cache")


def is_hub_dir(directory: str | Path) -> bool:
    return (Path(directory) / HUB_FILE).is_file()


def descriptor(directory: str | Path) -> dict:
    path = Path(directory) / HUB_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise DataError(str(path), None, None, f"cannot read the hub descriptor ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("dataset"), str):
        raise DataError(str(path), None, "dataset", "expected a mapping with the hub id under 'dataset'")
    unknown = set(data) - {"dataset", "config", "revision"}
    if unknown:
        raise DataError(str(path), None, sorted(unknown)[0], "unknown key; allowed: dataset, config, revision")
    return {"dataset": data["dataset"], "config": data.get("config"), "revision": data.get("revision")}


def load_split(directory: str | Path, split: str, config: str | None = None) -> Any:
    """A split of the hub dataset that ``directory/hub.yaml`` names (users with network)."""
    import datasets

    d = descriptor(directory)
    name = d["dataset"] + (f" ({config or d['config']})" if (config or d["config"]) else "")
    online = go_offline_unless_reachable()
    try:
        return datasets.load_dataset(d["dataset"], config or d["config"], split=split, revision=d["revision"])
    except Exception as e:  # network, unknown name or split: say what to do instead
        why = OFFLINE_HINT if not online else f"{type(e).__name__}: {e}"
        raise DataError(f"{Path(directory) / HUB_FILE}", None, None,
                        f"could not load split {split!r} of {name} from the Hugging Face hub ({why}); "
                        "point data.dir at a directory of local files instead") from None
