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

from pathlib import Path
from typing import Any

import yaml

from .errors import DataError

HUB_FILE = "hub.yaml"


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
    try:
        return datasets.load_dataset(d["dataset"], config or d["config"], split=split, revision=d["revision"])
    except Exception as e:  # network, unknown name or split: say what to do instead
        raise DataError(f"{Path(directory) / HUB_FILE}", None, None,
                        f"could not load split {split!r} of {name} from the Hugging Face hub "
                        f"({type(e).__name__}: {e}); offline, point data.dir at a local directory") from None
