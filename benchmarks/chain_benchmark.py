"""Chained multiple-choice -> QA benchmark on real data (not a test).

Takes the first N questions of a SQuAD-format file (DRCD for Chinese, the SQuAD v1.1
subset for English, both in ../shared/data), a seeded 80/20 split by question, 4
candidate paragraphs per question (gold + 3 seeded distractors, same article first),
trains the multiple-choice model and the QA model with the same loop as the pipeline,
then reports MC accuracy, QA EM/F1 on the gold paragraph, end-to-end EM/F1 of the chain
and the error breakdown, with the time taken and the machine.

    python benchmarks/chain_benchmark.py --data ../shared/data/drcd/DRCD_dev.json
    python benchmarks/chain_benchmark.py --questions 400 --epochs 2 --random-init

Writes benchmarks/results/chain_<data>_<N>q_<pretrained|random>.json (or --out).
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

SHARED = REPO.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED / "squad_v1.1" / "train-v1.1-subset-first44articles.json"))
    ap.add_argument("--questions", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=2, help="for both models; the rest of each model's training "
                    "settings comes from params.yaml (mc.train and train)")
    ap.add_argument("--candidates", type=int, default=4)
    ap.add_argument("--mc-max-length", type=int, default=256)
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--random-init", action="store_true", help="both models from random weights")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import datasets
    import torch
    from transformers import AutoModelForMultipleChoice, AutoModelForQuestionAnswering

    from ftpipe import choice, qa
    from ftpipe.chain import answer_chosen, chain_metrics, choose
    from ftpipe.config import ModelConfig, PredictConfig, TokenizeConfig, TrainConfig, build, load_params, to_dict
    from ftpipe.metrics import squad_metrics
    from ftpipe.models import apply_method, load_model, load_tokenizer
    from ftpipe.paragraphs import derive_candidates
    from ftpipe.squad import load_examples, split_examples
    from ftpipe.training import fit
    from ftpipe.windows import to_columns, tokenize_eval, tokenize_train

    t_start = time.perf_counter()
    examples, _ = load_examples(args.data, max_examples=args.questions)
    pool, _ = load_examples(args.data)  # distractors from the whole file, as tokenize_mc does with train+eval
    train, evals = split_examples(examples, 0.2, args.seed)
    train = derive_candidates(train, pool, args.candidates, args.seed)
    evals = derive_candidates(evals, pool, args.candidates, args.seed)
    mcfg = ModelConfig(name=args.model, pretrained=not args.random_init)
    tokenizer = load_tokenizer(mcfg)
    pcfg, tok = PredictConfig(), TokenizeConfig()
    params = load_params(REPO / "params.yaml")  # the pipeline's own settings, so the figures describe them
    common = {"epochs": args.epochs, "log_every": 20, "checkpoint_every": 0}

    def train_model(auto_class, ds, cfg, collate, evaluate, best):
        model = apply_method(load_model(mcfg, auto_class, args.seed), cfg)
        rows = ds.select_columns([c for c in ds.column_names if c not in ("length", "example_index", "id")])
        with tempfile.TemporaryDirectory() as tmp:
            res = fit(model, rows, collate, ds["length"], cfg, args.seed, evaluate=evaluate, log_dir=tmp,
                      best_metric=best)
        return model, res

    # multiple choice (the study: batch 2 x accumulation 4; params.yaml mc.train)
    mc_train = datasets.Dataset.from_dict(choice.tokenize_choices(train, tokenizer, args.mc_max_length))
    mc_eval = datasets.Dataset.from_dict(choice.tokenize_choices(evals, tokenizer, args.mc_max_length))
    mc_cfg = build(TrainConfig, {**to_dict(params.mc.train), **common})
    mc_model, mc_res = train_model(AutoModelForMultipleChoice, mc_train, mc_cfg,
                                   choice.train_collator(tokenizer, mc_train.column_names),
                                   choice.evaluator(mc_eval, tokenizer.pad_token_id, pcfg.batch_size, "auto"),
                                   "accuracy")
    # QA on the gold paragraphs
    qa_train = datasets.Dataset.from_dict(tokenize_train(to_columns(train), tokenizer, tok.max_length, tok.stride))
    qa_eval = datasets.Dataset.from_dict(tokenize_eval(to_columns(evals), tokenizer, tok.max_length, tok.stride))
    qa_cfg = build(TrainConfig, {**to_dict(params.train), **common})
    qa_model, qa_res = train_model(AutoModelForQuestionAnswering, qa_train, qa_cfg,
                                   qa.train_collator(tokenizer, qa_train.column_names),
                                   qa.evaluator(qa_eval, evals, tokenizer.pad_token_id, pcfg, False, "auto"), "f1")
    gold_preds, _, _ = qa.predict(qa_model, qa_eval, evals, tokenizer.pad_token_id, pcfg, False, "auto")
    # the chain
    t0 = time.perf_counter()
    logits = choice.choice_logits(mc_model, mc_eval, tokenizer.pad_token_id, pcfg.batch_size, "auto")
    picks = choose(logits)
    answers, _, _ = answer_chosen(qa_model, tokenizer, evals, picks, tok, pcfg, False)
    chain_s = time.perf_counter() - t0
    chain = chain_metrics(evals, {r["id"]: c for r, c in zip(evals, picks)}, answers)
    gold = squad_metrics(gold_preds, evals)
    out = {
        **machine(), "data": Path(args.data).name, "pretrained": not args.random_init,
        "train_questions": len(train), "eval_questions": len(evals), "candidates": args.candidates,
        "mc_max_length": args.mc_max_length,
        "epochs": args.epochs, "mc_train": to_dict(mc_cfg), "qa_train": to_dict(qa_cfg),
        "mc_accuracy": chain["mc_accuracy"],
        "qa_gold_exact_match": round(gold["exact_match"], 2), "qa_gold_f1": round(gold["f1"], 2),
        "end_to_end_exact_match": chain["end_to_end_exact_match"], "end_to_end_f1": chain["end_to_end_f1"],
        "breakdown": chain["breakdown"], "mc_per_epoch": mc_res.history.epochs,
        "qa_per_epoch": qa_res.history.epochs,
        "mc_train_time_s": round(mc_res.train_time_s, 1), "qa_train_time_s": round(qa_res.train_time_s, 1),
        "chain_predict_s": round(chain_s, 2), "total_s": round(time.perf_counter() - t_start, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cuda_max_allocated_mib": (round(torch.cuda.max_memory_allocated() / 2**20, 1)
                                   if torch.cuda.is_available() else None),
    }
    print(json.dumps(out, indent=2, ensure_ascii=False))
    from ftpipe.io import write_json

    tag = "random" if args.random_init else "pretrained"
    default = REPO / "benchmarks" / "results" / f"chain_{Path(args.data).stem}_{args.questions}q_{tag}.json"
    write_json(args.out or default, out)


if __name__ == "__main__":
    main()
