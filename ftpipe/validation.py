"""The validate stage: every section of params.yaml, and what can be checked against the
models before any work (a task's max_length against its encoder's positions)."""

from __future__ import annotations

from pathlib import Path

from .config import load_params, read_yaml, validate_all
from .io import write_text
from .models import BUNDLED, check_max_length, resolve_model_path

ENCODER_DIR = "models/encoder"


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
        tokenize, model = data[section]["tokenize"], data[section]["model"]
        where = model_dir_now(model["dir"], encoder)
        if where is not None and isinstance(tokenize.get("max_length"), int):
            check_max_length(section, tokenize["max_length"], where)
    write_text(out, "params.yaml: valid\n")  # constant while valid: triggers no reruns
    print(f"[validate] {params_path}: valid ({', '.join(sections)})")
    return sections
