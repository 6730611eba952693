"""Benchmark on real SQuAD (not a test): train on the first N questions of the SQuAD v1.1
subset in ../shared/data with a seeded 80/20 split, report EM/F1 on the held-out part,
training features/s, prediction time and peak memory.

    python benchmarks/squad_benchmark.py                       # 10,000 questions, 2 epochs
    python benchmarks/squad_benchmark.py --questions 1000 --epochs 1

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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.machine import machine  # noqa: E402
from ftpipe.config import ModelConfig, PredictConfig, TokenizeConfig, TrainConfig, build  # noqa: E402
from ftpipe.io import write_json  # noqa: E402
from ftpipe.metrics import squad_metrics  # noqa: E402
from ftpipe.models import apply_method, count_parameters, load_model, load_tokenizer  # noqa: E402
from ftpipe.qa import evaluator, predict, train_collator  # noqa: E402
from ftpipe.squad import load_examples, split_examples  # noqa: E402
from ftpipe.training import fit  # noqa: E402
from ftpipe.windows import to_columns, tokenize_eval, tokenize_train  # noqa: E402

SQUAD = REPO.parent / "shared" / "data" / "squad_v1.1" / "train-v1.1-subset-first44articles.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SQUAD))
    ap.add_argument("--questions", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=None, help="default: the per-method default of train.lr")
    ap.add_argument("--method", default="full")
    ap.add_argument("--lora-r", type=int, default=8, help="LoRA rank (alpha stays params.yaml's 16)")
    ap.add_argument("--use-rslora", action="store_true", help="rank-stabilised scaling alpha/sqrt(r)")
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--precision", default="auto", help="auto | bf16 | fp16 | fp32")
    ap.add_argument("--out", default=None, help="JSON file (default benchmarks/results/...)")
    args = ap.parse_args()

    import datasets
    import torch
    from transformers import AutoModelForQuestionAnswering

    examples, _ = load_examples(args.data, max_examples=args.questions)
    train, evals = split_examples(examples, 0.2, args.seed)
    tok_cfg = TokenizeConfig()
    tokenizer = load_tokenizer(ModelConfig(name=args.model))
    t0 = time.perf_counter()
    train_ds = datasets.Dataset.from_dict(tokenize_train(to_columns(train), tokenizer, tok_cfg.max_length, tok_cfg.stride))
    eval_ds = datasets.Dataset.from_dict(tokenize_eval(to_columns(evals), tokenizer, tok_cfg.max_length, tok_cfg.stride))
    tokenize_s = time.perf_counter() - t0

    cfg = build(TrainConfig, {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                              "method": args.method, "lora": {"r": args.lora_r, "use_rslora": args.use_rslora}, "max_steps": args.max_steps,
                              "log_every": 20,
                              "precision": args.precision,
                              "checkpoint_every": 0})
    pcfg = PredictConfig()
    model = apply_method(load_model(ModelConfig(name=args.model), AutoModelForQuestionAnswering, args.seed), cfg)
    counts = count_parameters(model)
    rows = train_ds.select_columns([c for c in train_ds.column_names if c not in ("length", "example_index")])
    with tempfile.TemporaryDirectory() as tmp:
        result = fit(model, rows, train_collator(tokenizer, train_ds.column_names), train_ds["length"], cfg,
                     args.seed, evaluate=evaluator(eval_ds, evals, tokenizer.pad_token_id, pcfg, False, args.precision),
                     log_dir=tmp)
    preds, _, timing = predict(model, eval_ds, evals, tokenizer.pad_token_id, pcfg, False, args.precision)
    m = squad_metrics(preds, evals)
    out = {
        **machine(), "precision": args.precision,
        "data": Path(args.data).name, "train_questions": len(train), "eval_questions": len(evals),
        "train_windows": len(train_ds), "eval_windows": len(eval_ds), "epochs": args.epochs,
        "batch_size": args.batch_size, "lr": cfg.learning_rate, "method": args.method,
        "lora_r": args.lora_r if args.method == "lora" else None,
        "use_rslora": args.use_rslora, **counts,
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
    default = REPO / "benchmarks" / "results" / (f"squad_{args.questions}q_{args.epochs}ep_{args.method}"
                         f"{f'_r{args.lora_r}' if args.method == 'lora' else ''}_b{args.batch_size}.json")
    write_json(args.out or default, out)


if __name__ == "__main__":
    main()
