"""Chained multiple-choice -> QA benchmark on real data (not a test).

Takes the first N questions of a SQuAD-format file (DRCD for Chinese, the SQuAD v1.1
subset for English, both in ../shared/data), a seeded 80/20 split by question, candidate
paragraphs per question as the pipeline derives them (gold + distractors, same article
first), trains the multiple-choice and the QA model with params.yaml's mc and qa
settings, then reports MC accuracy, QA EM/F1 on the gold paragraph, end-to-end EM/F1 of
the chain and the error breakdown, with the time taken and the machine.

    python benchmarks/chain_benchmark.py --data ../shared/data/drcd/DRCD_dev.json
    python benchmarks/chain_benchmark.py --questions 400 --epochs 2 --random-init

Writes benchmarks/results/chain_<data>_<N>q_<pretrained|random>.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO, SHARED, featurize_all, finetune, section_params  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED / "squad_v1.1" / "train-v1.1-subset-first44articles.json"))
    ap.add_argument("--questions", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=2, help="for both models; the rest of each model's training "
                    "settings comes from params.yaml (mc.train and qa.train over train)")
    ap.add_argument("--candidates", type=int, default=4)
    ap.add_argument("--mc-max-length", type=int, default=256)
    ap.add_argument("--random-init", action="store_true", help="both models from random weights")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from ftpipe.chain import answer_chosen, chain_metrics, choose, mc_scores
    from ftpipe.io import write_json, write_jsonl
    from ftpipe.models import load_tokenizer
    from ftpipe.tasks.mc import TASK as MC
    from ftpipe.tasks.qa import TASK as QA

    t_start = time.perf_counter()
    data = Path(args.data)
    common = [f"seed={args.seed}", "train.log_every=20", "train.checkpoint_every=0"]
    qa = section_params("qa", common + [
        f"qa.data.dir={data.parent}", f"qa.data.train={data.name}", f"qa.data.max_examples={args.questions}",
        f"qa.data.split_seed={args.seed}", f"qa.train.epochs={args.epochs}",
        f"qa.model.pretrained={not args.random_init}"])
    qa_splits, _, qa_meta = QA.prepare(qa.task.data)
    with tempfile.TemporaryDirectory() as tmp:
        for split, records in qa_splits.items():
            write_jsonl(Path(tmp) / f"{split}.jsonl", records)
        mc = section_params("mc", common + [
            f"mc.data.dir={tmp}", f"mc.data.candidates={args.candidates}", f"mc.data.split_seed={args.seed}",
            f"mc.tokenize.max_length={args.mc_max_length}", f"mc.train.epochs={args.epochs}",
            f"mc.model.pretrained={not args.random_init}"])
        mc_splits, _, _ = MC.prepare(mc.task.data)
    mc_figures, mc_model = finetune(mc, mc_splits, {})
    qa_figures, qa_model = finetune(qa, qa_splits, qa_meta)

    t0 = time.perf_counter()
    tokenizer = load_tokenizer(qa.task.model.dir)
    evals = mc_splits["eval"]
    features, _, _ = featurize_all(MC, {"eval": evals}, tokenizer, mc, {})
    logits = mc_scores(mc_model, features["eval"], tokenizer.pad_token_id, mc.predict.batch_size,
                       mc.predict.precision)
    picks = choose(logits)
    answers = answer_chosen(qa_model, tokenizer, evals, picks, qa.task.tokenize, qa.task.predict,
                            qa.predict.batch_size, qa.predict.precision, qa_meta)["answers"]
    chain_s = time.perf_counter() - t0
    chain = chain_metrics(evals, {r["id"]: c for r, c in zip(evals, picks)}, answers)
    out = {
        "data": data.name, "pretrained": not args.random_init, "candidates": args.candidates,
        "mc_max_length": args.mc_max_length, "epochs": args.epochs,
        "mc_accuracy": chain["mc_accuracy"], "qa_gold": qa_figures["final"]["eval"],
        "end_to_end_exact_match": chain["end_to_end_exact_match"], "end_to_end_f1": chain["end_to_end_f1"],
        "breakdown": chain["breakdown"], "chain_predict_s": round(chain_s, 2),
        "total_s": round(time.perf_counter() - t_start, 1), "mc": mc_figures, "qa": qa_figures,
    }
    print(json.dumps(out, indent=2, ensure_ascii=False))
    tag = "random" if args.random_init else "pretrained"
    write_json(args.out or REPO / "benchmarks" / "results" / f"chain_{data.stem}_{args.questions}q_{tag}.json", out)


if __name__ == "__main__":
    main()
