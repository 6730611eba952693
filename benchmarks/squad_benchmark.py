"""Benchmark on real SQuAD (not a test): train on the first N questions of the SQuAD v1.1
subset in ../shared/data with a seeded 80/20 split, report EM/F1 on the held-out part,
training features/s, prediction time and peak memory.

    python benchmarks/squad_benchmark.py                       # 10,000 questions, 2 epochs
    python benchmarks/squad_benchmark.py --batch-size 32 --lr 3e-4
    python benchmarks/squad_benchmark.py --lr 3e-4 --layer-decay 0.8
    python benchmarks/squad_benchmark.py --questions 2000 --epochs 1 --method lora --lr 4e-4

Training, tokenization and prediction settings are params.yaml's (train, tokenize,
predict), so the figures describe the pipeline; the options override a few of them.

Figures are printed and written to benchmarks/results/ (or --out), with the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.machine import machine  # noqa: E402
from ftpipe.config import ModelConfig, build, load_params, to_dict  # noqa: E402
from ftpipe.io import write_json  # noqa: E402
from ftpipe.metrics import squad_metrics  # noqa: E402
from ftpipe.models import apply_method, count_parameters, load_model, load_tokenizer  # noqa: E402
from ftpipe.qa import evaluator, predict, train_collator  # noqa: E402
from ftpipe.squad import load_examples, split_examples  # noqa: E402
from ftpipe.training import fit  # noqa: E402
from ftpipe.windows import to_columns, tokenize_eval, tokenize_train  # noqa: E402

SQUAD = REPO.parent / "shared" / "data" / "squad_v1.1" / "train-v1.1-subset-first44articles.json"


def with_options(section: Any, key: str, **options: Any) -> Any:
    """params.yaml's ``section`` with the options that were given (not None), validated as params."""
    data = to_dict(section)
    data.update({k: v for k, v in options.items() if v is not None})
    return build(type(section), data, key, "params.yaml + options")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SQUAD))
    ap.add_argument("--questions", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=None, help="default: params.yaml train.batch_size")
    ap.add_argument("--lr", type=float, default=None, help="default: params.yaml train.lr")
    ap.add_argument("--max-length", type=int, default=None, help="default: params.yaml tokenize.max_length")
    ap.add_argument("--stride", type=int, default=None, help="default: params.yaml tokenize.stride")
    ap.add_argument("--layer-decay", type=float, default=None, help="default: params.yaml train.layer_decay")
    ap.add_argument("--method", default=None, help="default: params.yaml train.method")
    ap.add_argument("--lora-r", type=int, default=None, help="default: params.yaml train.lora.r")
    ap.add_argument("--use-rslora", action="store_true", help="rank-stabilised scaling alpha/sqrt(r)")
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--precision", default=None, help="auto | bf16 | fp16 | fp32 (default: params.yaml)")
    ap.add_argument("--out", default=None, help="JSON file (default benchmarks/results/...)")
    args = ap.parse_args()

    import datasets
    import torch
    from transformers import AutoModelForQuestionAnswering

    examples, _ = load_examples(args.data, max_examples=args.questions)
    train, evals = split_examples(examples, 0.2, args.seed)
    params = load_params(REPO / "params.yaml")  # the pipeline's own settings, so the figures describe them
    pcfg = params.predict
    tok_cfg = with_options(params.tokenize, "tokenize", max_length=args.max_length, stride=args.stride)
    eval_precision = args.precision or pcfg.precision
    tokenizer = load_tokenizer(ModelConfig(name=args.model))
    t0 = time.perf_counter()
    train_ds = datasets.Dataset.from_dict(tokenize_train(to_columns(train), tokenizer, tok_cfg.max_length, tok_cfg.stride))
    eval_ds = datasets.Dataset.from_dict(tokenize_eval(to_columns(evals), tokenizer, tok_cfg.max_length, tok_cfg.stride))
    tokenize_s = time.perf_counter() - t0

    lora = to_dict(params.train.lora)
    lora.update({k: v for k, v in {"r": args.lora_r, "use_rslora": args.use_rslora or None}.items() if v is not None})
    cfg = with_options(params.train, "train", epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       layer_decay=args.layer_decay, method=args.method, precision=args.precision,
                       max_steps=args.max_steps, lora=lora, log_every=20, checkpoint_every=0)
    model = apply_method(load_model(ModelConfig(name=args.model), AutoModelForQuestionAnswering, args.seed), cfg)
    counts = count_parameters(model)
    rows = train_ds.select_columns([c for c in train_ds.column_names if c not in ("length", "example_index")])
    with tempfile.TemporaryDirectory() as tmp:
        result = fit(model, rows, train_collator(tokenizer, train_ds.column_names), train_ds["length"], cfg,
                     args.seed, evaluate=evaluator(eval_ds, evals, tokenizer.pad_token_id, pcfg, False, eval_precision),
                     log_dir=tmp)
    preds, _, timing = predict(model, eval_ds, evals, tokenizer.pad_token_id, pcfg, False, eval_precision)
    m = squad_metrics(preds, evals)
    out = {
        **machine(), "precision": cfg.precision,
        "data": Path(args.data).name, "train_questions": len(train), "eval_questions": len(evals),
        "max_length": tok_cfg.max_length, "stride": tok_cfg.stride,
        "train_windows": len(train_ds), "eval_windows": len(eval_ds), "epochs": args.epochs,
        "batch_size": cfg.batch_size, "lr": cfg.learning_rate, "layer_decay": cfg.layer_decay,
        "seed": args.seed, "method": cfg.method,
        "lora_r": cfg.lora.r if cfg.method == "lora" else None,
        "use_rslora": cfg.lora.use_rslora if cfg.method == "lora" else None, **counts,
        "exact_match": round(m["exact_match"], 2), "f1": round(m["f1"], 2),
        "per_epoch": result.history.epochs,
        "tokenize_s": round(tokenize_s, 2), "train_time_s": round(result.train_time_s, 1),
        "train_features_per_s": round(result.features_per_s, 2), "train_tokens_per_s": round(result.tokens_per_s, 1),
        "predict_forward_s": round(timing["forward_s"], 2), "postprocess_s": round(timing["postprocess_s"], 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cuda_max_allocated_mib": (round(torch.cuda.max_memory_allocated() / 2**20, 1)
                                   if torch.cuda.is_available() else None),
    }
    print(json.dumps(out, indent=2))
    lora = f"_r{cfg.lora.r}{'_rslora' if cfg.lora.use_rslora else ''}" if cfg.method == "lora" else ""
    decay = f"_ld{cfg.layer_decay:g}" if cfg.layer_decay != 1.0 else ""
    window = f"_len{tok_cfg.max_length}_stride{tok_cfg.stride}" if tok_cfg != params.tokenize else ""
    default = REPO / "benchmarks" / "results" / (f"squad_{args.questions}q_{args.epochs}ep_{cfg.method}{lora}"
                                                  f"_b{cfg.batch_size}_lr{cfg.learning_rate:g}{decay}{window}_seed{args.seed}.json")
    write_json(args.out or default, out)


if __name__ == "__main__":
    main()
