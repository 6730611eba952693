"""ELECTRA pretraining (replaced-token detection), or masked LM, as a task of the pipeline.

prepare: text (:mod:`.corpus`) -> documents of sentences, a seeded held-out share of the
documents for evaluation. tokenize: ELECTRA's examples (:mod:`.packing`). train: the shared
loop on a generator + discriminator (:mod:`.electra`), evaluated on the held-out text
(generator MLM accuracy; discriminator accuracy, precision and recall on replaced tokens,
AUC), saved as ``discriminator/`` + ``generator/``: any fine-tuning task takes
``models/<section>/final/discriminator`` as its ``model.dir``, and DVC reruns it when a
pretraining param changes. No predict / evaluate stages: evaluation runs during training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from ...config import DataConfig, Fraction, ModelConfig, PositiveNumber, Section
from ...errors import ParamsError
from ...records import split_records
from ..base import Task
from . import electra
from .corpus import read_documents
from .packing import ExampleBuilder


class PretrainDataConfig(DataConfig):
    pass  # train: a text / SQuAD JSON / JSONL file (or hub split); eval null: held-out documents


class PretrainTokenizeConfig(Section):
    max_length: Annotated[int, Field(ge=16)]  # ELECTRA: 128
    short_seq_prob: Fraction  # an example's target length drawn from [5, max_length] instead (ELECTRA: 0.05)
    packing_seed: Annotated[int, Field(ge=0)]


class PretrainModelConfig(ModelConfig):
    # pretrained: true continues from dir (a saved pair, an ELECTRA discriminator, or any
    # encoder with a generator built beside it); false starts from scratch at `size`
    # (dir then only gives the tokenizer).
    objective: Literal["rtd", "mlm"]
    size: Literal["small", "tiny", "custom"]
    custom: dict | None  # ElectraConfig sizes when size: custom
    generator_size: Annotated[float, Field(gt=0, le=1)]  # of the discriminator's hidden size, heads, FFN
    mask_prob: Annotated[float, Field(gt=0, lt=1)]  # of the real tokens, selected
    mask_token_prob: Fraction  # of the selected: [MASK] (ELECTRA 0.85; BERT 0.8)
    random_token_prob: Fraction  # of the selected: a random token (ELECTRA 0; BERT 0.1)
    disc_weight: PositiveNumber  # loss = generator loss + disc_weight x discriminator loss (50)
    temperature: PositiveNumber  # of the generator's sampling


class PretrainPredictConfig(Section):
    pass


class PretrainTask(Task):
    name = "pretrain"
    data_config = PretrainDataConfig
    tokenize_config = PretrainTokenizeConfig
    model_config = PretrainModelConfig
    predict_config = PretrainPredictConfig
    auto_model = "ElectraForPreTraining"
    metric = "disc_auc"  # (gen_accuracy for objective: mlm, see main_metric)
    label_keys = ()
    token_outputs = ("selected", "gen_correct", "replaced", "disc_logits", "active")
    splits = ("train", "eval")
    methods = ("full",)

    def check_params(self, section: Any, source: str, name: str) -> None:
        m = section.model
        if m.mask_token_prob + m.random_token_prob > 1:
            raise ParamsError(f"{source}: {name}.model.random_token_prob: mask_token_prob + random_token_prob "
                              "must be <= 1")
        if (m.size == "custom") != (m.custom is not None):
            raise ParamsError(f"{source}: {name}.model.custom: a mapping of sizes exactly when size is custom")
        small = electra.SIZES["small"]  # also ElectraConfig's defaults, for the sizes custom leaves out
        for key, value in (m.custom or {}).items():
            if key not in small:
                raise ParamsError(f"{source}: {name}.model.custom.{key}: unknown size; allowed: {' | '.join(small)}")
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParamsError(f"{source}: {name}.model.custom.{key}: expected an integer >= 1, got {value!r}")
        sizes = {**small, **(m.custom or {})}
        if sizes["hidden_size"] % sizes["num_attention_heads"]:
            raise ParamsError(f"{source}: {name}.model.custom.hidden_size: {sizes['hidden_size']} is not a multiple "
                              f"of num_attention_heads ({sizes['num_attention_heads']})")

    def main_metric(self, meta: dict, section: Any = None) -> str:
        return "gen_accuracy" if section is not None and section.model.objective == "mlm" else "disc_auc"

    def prepare(self, d: PretrainDataConfig) -> tuple[dict[str, list[dict]], dict, dict]:
        docs, train_report = read_documents(d.dir, d.train)
        docs = docs[:d.max_examples] if d.max_examples else docs
        records = [{"id": f"doc {i}", "sentences": s} for i, s in enumerate(docs)]
        files = {"train": train_report}
        if d.eval:
            evals, files["eval"] = read_documents(d.dir, d.eval)
            splits = {"train": records, "eval": [{"id": f"eval doc {i}", "sentences": s} for i, s in enumerate(evals)]}
        else:
            train, held_out = split_records(records, d.eval_size, d.split_seed, unit="documents")
            splits = {"train": train, "eval": held_out}
        report = {"source": train_report.source, "files": {s: r.as_dict() for s, r in files.items()},
                  "splits": {s: {"documents": len(r), "sentences": sum(len(x["sentences"]) for x in r)}
                             for s, r in splits.items()}}
        return splits, report, {}

    def featurize(self, records: list[dict], tokenizer: Any, cfg: PretrainTokenizeConfig, split: str,
                  meta: dict) -> tuple[dict[str, list], dict]:
        builder = ExampleBuilder(cfg.max_length, cfg.short_seq_prob, cfg.packing_seed + (split == "eval"),
                                 tokenizer.cls_token_id, tokenizer.sep_token_id)
        examples, sentences, tokens = [], 0, 0
        for r in records:
            ids = tokenizer(r["sentences"], add_special_tokens=False)["input_ids"]
            sentences, tokens = sentences + len(ids), tokens + sum(len(x) for x in ids)
            examples += builder.add_document([x for x in ids if x])
        cols = {k: [e[k] for e in examples] for k in ("input_ids", "token_type_ids", "attention_mask", "length")}
        stats = {"documents": len(records), "sentences": sentences, "tokens": tokens, "examples": len(examples),
                 "mean_length": round(float(np.mean(cols["length"])), 2) if examples else 0.0,
                 "two_segments": sum(1 in t for t in cols["token_type_ids"])}
        return cols, stats

    def build_model(self, section: Any, seed: int, trust_remote_code: bool, meta: dict, tokenizer: Any = None):
        from ...models import resolve_model_path

        path = resolve_model_path(section.model.dir) if section.model.pretrained else None
        return electra.build(section.model, path, tokenizer, seed, trust_remote_code)

    def save(self, model: Any, tokenizer: Any, out_dir: Path) -> None:
        electra.save(model, tokenizer, out_dir)

    def outputs(self, model_output: Any) -> dict[str, Any]:
        rows = model_output.rows
        return {k: rows[k] for k in self.token_outputs if k in rows}

    def decode(self, rows: list[dict], features: Any, records: list[dict], cfg: Section, meta: dict) -> dict:
        return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]} if rows else {}

    def score(self, predictions: dict, records: list[dict]) -> dict:
        return electra_metrics(predictions)


def electra_metrics(p: dict) -> dict:
    """Held-out scores: the generator's accuracy on the selected tokens; the
    discriminator's accuracy over every real token, precision / recall of 'replaced', AUC."""
    sel = p["selected"] > 0.5
    out = {"gen_accuracy": float(p["gen_correct"][sel].mean()) if sel.any() else 0.0,
           "selected_pct": float(100 * sel.mean())}
    if "replaced" not in p:
        return out
    active = p["active"] > 0.5
    y, logit = p["replaced"][active] > 0.5, p["disc_logits"][active]
    guess = logit > 0
    tp = float((guess & y).sum())
    out.update({"replaced_pct": float(100 * y.mean()), "disc_accuracy": float((guess == y).mean()),
                "disc_precision": tp / float(guess.sum()) if guess.any() else 0.0,
                "disc_recall": tp / float(y.sum()) if y.any() else 0.0})
    if y.any() and not y.all():
        from sklearn.metrics import roc_auc_score

        out["disc_auc"] = float(roc_auc_score(y, logit))
    else:
        out["disc_auc"] = 0.5
    return out


TASK = PretrainTask()
