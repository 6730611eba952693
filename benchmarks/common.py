"""What the benchmarks share: a task section of params.yaml with overrides (DVC's ``-S``
syntax), and one fine-tuning run through the task interface, outside DVC, with its
figures (metric per epoch, time, throughput, memory) and the machine it ran on."""

from __future__ import annotations

import copy
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

from ftpipe.machine import machine  # noqa: E402


def set_key(data: dict, key: str, value: Any) -> None:
    node = data
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def section_params(section: str, overrides: list[str] = (), base: Path = REPO / "params.yaml"):
    """params.yaml with ``key=value`` overrides (values read as YAML), validated like the
    pipeline's; the encoder is the bundled model unless an override names another dir."""
    from ftpipe.config import load_params

    data = copy.deepcopy(yaml.safe_load(base.read_text()))
    set_key(data, f"{section}.model.dir", "bundled")
    for item in overrides:
        key, _, value = item.partition("=")
        set_key(data, key, yaml.safe_load(value))
    tmp = Path(tempfile.mkdtemp()) / "params.yaml"
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_params(tmp, section)


def featurize_all(task: Any, splits: dict, tokenizer: Any, params: Any, meta: dict) -> tuple[dict, dict, float]:
    import datasets

    t0 = time.perf_counter()
    features, stats = {}, {}
    for split in task.splits_of(meta):
        if split in splits:
            cols, stats[split] = task.featurize(splits[split], tokenizer, params.task.tokenize, split, meta)
            features[split] = datasets.Dataset.from_dict(cols)
    return features, stats, time.perf_counter() - t0


def finetune(params: Any, splits: dict, meta: dict, log_dir: str | None = None) -> tuple[dict, Any]:
    """Train on ``splits['train']``, evaluate every epoch on ``splits['eval']``, then score
    the final model on every labelled split; returns the figures and the model."""
    import torch

    from ftpipe.config import learning_rate, to_dict
    from ftpipe.models import count_parameters, load_tokenizer
    from ftpipe.precision import precision_name
    from ftpipe.training import NOT_MODEL_INPUTS, Evaluation, fit
    from ftpipe.verbs import task_of
    from ftpipe.verbs.predict import predict_rows
    from ftpipe.verbs.train import build_model, evaluator

    task = task_of(params)
    tokenizer = load_tokenizer(params.task.model.dir)
    features, stats, tokenize_s = featurize_all(task, splits, tokenizer, params, meta)
    model = build_model(task, params, meta, tokenizer)
    counts = count_parameters(model)
    train_ds = features["train"]
    rows = train_ds.select_columns([c for c in train_ds.column_names if c not in NOT_MODEL_INPUTS])
    evaluation = Evaluation(evaluator(task, features["eval"], splits["eval"], tokenizer.pad_token_id, params, meta),
                            task.main_metric(meta, params.task), task.greater_is_better)
    result = fit(model, rows, task.collator(tokenizer, train_ds.column_names), train_ds["length"], params.train,
                 params.seed, evaluation, log_dir)
    final = {}
    for split, ds in features.items():
        if split == "train":
            continue
        t0 = time.perf_counter()
        predictions = predict_rows(task, model, ds, splits[split], tokenizer.pad_token_id, params, meta)
        seconds = time.perf_counter() - t0
        scores = task.score(predictions, splits[split]) if task.has_labels(splits[split]) else {"unlabelled": True}
        final[split] = {**scores, "predict_s": round(seconds, 2),
                        "predict_examples_per_s": round(len(splits[split]) / seconds, 2)}
    return {
        **machine(), "precision": precision_name(params.train.precision),
        "section": params.section, "task": params.task.task, "seed": params.seed,
        "train": {**to_dict(params.train), "learning_rate": learning_rate(params.train)},
        "tokenize": to_dict(params.task.tokenize), "examples": {s: len(r) for s, r in splits.items()},
        "features": stats, "tokenize_s": round(tokenize_s, 2), **counts,
        "per_epoch": result.epochs, "final": final, "steps": result.steps,
        "train_time_s": round(result.train_time_s, 1), "train_features_per_s": round(result.features_per_s, 2),
        "train_tokens_per_s": round(result.tokens_per_s, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cuda_max_allocated_mib": (round(torch.cuda.max_memory_allocated() / 2**20, 1)
                                   if torch.cuda.is_available() else None),
    }, model
