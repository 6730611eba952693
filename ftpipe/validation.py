"""The validate stage: every section of params.yaml, and what can be checked against the
models before any work (a task's max_length against its encoder's positions)."""

from __future__ import annotations

from pathlib import Path

from .config import load_params, read_yaml, validate_all
from .errors import DataError, ParamsError
from .hub import is_hub_dir
from .io import write_text
from .models import BUNDLED, check_max_length, resolve_model_path
from .records import data_file

ENCODER_DIR = "models/encoder"
DATA_FILES = ("train", "eval", "test", "eval_mismatched", "test_mismatched")  # data keys naming files


def check_data_paths(params_path: str | Path, section: str, data: dict) -> None:
    """The files a section names in its local data directory exist: a typo in ``-S
    qa.data.train=...`` fails here, before DVC removes the task's outputs. A directory
    that is not there is left to the prepare stage: it may be another stage's output (the
    chained path's data/prepared/qa), or a path relative to the repository that a queued
    experiment's copy does not resolve, in a section the experiment does not run."""
    directory = data.get("dir")
    if not isinstance(directory, str) or not Path(directory).is_dir() or is_hub_dir(directory):
        return  # a hub directory names splits, not files
    for key in DATA_FILES:
        if isinstance(name := data.get(key), str):
            try:
                data_file(directory, name)  # what prepare reads, with its hints (a hub split name)
            except DataError as e:
                raise ParamsError(f"{params_path}: {section}.data.{key}: {e}") from None


def model_dir_now(model_dir: str, encoder_name: str) -> str | None:
    """Where a task's model is before the pipeline runs: the directory itself, or, for the
    fetched encoder not fetched yet, the local model it will be copied from."""
    if Path(model_dir, "config.json").is_file():
        return model_dir
    if model_dir == ENCODER_DIR and (encoder_name == BUNDLED or Path(encoder_name).is_dir()):
        return resolve_model_path(encoder_name)
    return None  # a hub id or a stage's future output: checked by the tokenize stage


def validate(params_path: str | Path, out: str | Path) -> list[str]:
    sections = validate_all(params_path)
    data = read_yaml(params_path)
    encoder = load_params(params_path).encoder.name
    for section in sections:
        check_data_paths(params_path, section, data[section]["data"])
        tokenize, model = data[section]["tokenize"], data[section]["model"]
        where = model_dir_now(model["dir"], encoder)
        if where is not None and isinstance(tokenize.get("max_length"), int):
            check_max_length(section, tokenize["max_length"], where)
    write_text(out, "params.yaml: valid\n")  # constant while valid: triggers no reruns
    print(f"[validate] {params_path}: valid ({', '.join(sections)})")
    return sections
