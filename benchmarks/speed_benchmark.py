"""Speed benchmark (not a test): the straightforward recipe vs the project's defaults,
side by side on the same real SQuAD questions and the same model.

* straightforward: every window padded to max_length on disk, random batches, fp32,
  post-processing that loops over every (start, end) pair;
* defaults: windows padded per batch, length-grouped batches, precision auto (bf16 where
  the hardware has it), vectorised post-processing.

Each recipe runs in its own process (so peak memory is its own) for the same number of
optimizer steps, then predicts the held-out questions. Also: post-processing alone on
random logits for 10,000 questions, and (``--scaling``) training throughput by number of
questions and by max_length, with the epoch time it implies.

    python benchmarks/speed_benchmark.py                       # 400 questions, 30 steps
    python benchmarks/speed_benchmark.py --questions 1000 --steps 60 --scaling

Writes benchmarks/results/speed.json and speed.md (or --out-dir), with the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.machine import machine  # noqa: E402

SQUAD = REPO.parent / "shared" / "data" / "squad_v1.1" / "train-v1.1-subset-first44articles.json"
RECIPES = {
    "straightforward": {"pad_to_max_length": True, "group_by_length": False, "precision": "fp32", "naive": True},
    "defaults": {"pad_to_max_length": False, "group_by_length": True, "precision": "auto", "naive": False},
}


def run_recipe(args, name: str, max_length: int = 384, measure_predict: bool = True) -> dict:
    import datasets
    import torch
    from transformers import AutoModelForQuestionAnswering

    from benchmarks.common import section_params
    from ftpipe.config import ModelConfig
    from ftpipe.inference import forward_rows
    from ftpipe.models import load_model, load_tokenizer
    from ftpipe.records import split_records
    from ftpipe.tasks.qa import TASK as QA
    from ftpipe.tasks.qa.postprocess import postprocess, postprocess_naive
    from ftpipe.tasks.qa.scoring import squad_metrics
    from ftpipe.tasks.qa.squad import load_squad
    from ftpipe.tasks.qa.windows import to_columns, tokenize_eval, tokenize_train
    from ftpipe.training import fit

    r = RECIPES[name]
    stride = min(128, max_length // 3)
    examples, _ = load_squad(Path(args.data), max_examples=args.questions)
    train, evals = split_records(examples, 0.2, args.seed)
    tokenizer = load_tokenizer(args.model)
    t0 = time.perf_counter()
    train_cols = tokenize_train(to_columns(train), tokenizer, max_length, stride, r["pad_to_max_length"])
    eval_cols = tokenize_eval(to_columns(evals), tokenizer, max_length, stride, r["pad_to_max_length"])
    tokenize_s = time.perf_counter() - t0
    train_ds, eval_ds = datasets.Dataset.from_dict(train_cols), datasets.Dataset.from_dict(eval_cols)
    cfg = section_params("qa", [f"train.epochs=100", f"train.max_steps={args.steps}",
                                f"train.batch_size={args.batch_size}", f"train.lr.full={args.lr}",
                                f"train.precision={r['precision']}", f"train.group_by_length={r['group_by_length']}",
                                "train.log_every=10", "train.checkpoint_every=0", "train.warmup_ratio=0.1",
                                "qa.train={}"]).train
    model = load_model(ModelConfig(dir=args.model, pretrained=True), AutoModelForQuestionAnswering, args.seed)
    rows = train_ds.select_columns([c for c in train_ds.column_names if c not in ("length", "example_index")])
    result = fit(model, rows, QA.collator(tokenizer, train_ds.column_names), train_ds["length"], cfg, args.seed)
    padded_tokens = sum(len(x) for x in train_cols["input_ids"])
    out = {"recipe": name, "max_length": max_length, "questions": len(examples), "train_windows": len(train_ds),
           "tokenize_s_per_1000_questions": round(1000 * tokenize_s / len(examples), 3),
           "mean_real_tokens": round(sum(train_cols["length"]) / len(train_ds), 1),
           "mean_stored_tokens": round(padded_tokens / len(train_ds), 1),
           "steps": result.steps, "train_time_s": round(result.train_time_s, 2),
           "train_features_per_s": round(result.features_per_s, 3),
           "train_real_tokens_per_s": round(result.tokens_per_s, 1),
           "epoch_time_s_estimate": round(len(train_ds) / result.features_per_s, 1)}
    if measure_predict:
        pcfg = section_params("qa").task.predict
        t0 = time.perf_counter()
        rows = forward_rows(model, eval_ds, tokenizer.pad_token_id, 16, r["precision"], QA.outputs, QA.token_outputs)
        starts, ends = [x["start_logits"] for x in rows], [x["end_logits"] for x in rows]
        t1 = time.perf_counter()
        if r["naive"]:
            preds = postprocess_naive(evals, eval_ds["example_id"], eval_ds["offset_mapping"], starts, ends,
                                      max_answer_length=pcfg.max_answer_length)
        else:
            preds, _ = postprocess(evals, eval_ds["example_id"], eval_ds["offset_mapping"], starts, ends,
                                   n_best_size=pcfg.n_best_size, max_answer_length=pcfg.max_answer_length)
        t2 = time.perf_counter()
        m = squad_metrics(preds, evals)
        out.update({"eval_questions": len(evals), "predict_forward_s": round(t1 - t0, 3),
                    "postprocess_s": round(t2 - t1, 4),
                    "predict_examples_per_s": round(len(evals) / (t2 - t0), 2),
                    "exact_match": round(m["exact_match"], 2), "f1": round(m["f1"], 2)})
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["cuda_max_allocated_mib"] = (round(torch.cuda.max_memory_allocated() / 2**20, 1)
                                     if torch.cuda.is_available() else None)
    return out


def postprocess_10k(args) -> dict:
    """Vectorised post-processing alone for 10,000 questions (random logits, real windows)."""
    import numpy as np

    from ftpipe.models import load_tokenizer
    from ftpipe.tasks.qa.postprocess import postprocess
    from ftpipe.tasks.qa.squad import load_squad
    from ftpipe.tasks.qa.windows import to_columns, tokenize_eval

    examples, _ = load_squad(Path(args.data), max_examples=10_000)
    tokenizer = load_tokenizer(args.model)
    cols = tokenize_eval(to_columns(examples), tokenizer, 384, 128)
    rng = np.random.default_rng(0)
    starts = [rng.standard_normal(n).astype(np.float32) for n in cols["length"]]
    ends = [rng.standard_normal(n).astype(np.float32) for n in cols["length"]]
    t0 = time.perf_counter()
    postprocess(examples, cols["example_id"], cols["offset_mapping"], starts, ends, n_best_size=20,
                max_answer_length=30)
    return {"questions": len(examples), "windows": len(starts), "postprocess_s": round(time.perf_counter() - t0, 3)}


def child(args, *extra: str) -> dict:
    cmd = [sys.executable, __file__, "--data", args.data, "--questions", str(args.questions), "--steps",
           str(args.steps), "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--model", args.model,
           "--seed", str(args.seed), *extra]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def markdown(results: dict) -> str:
    a, b = results["recipes"]["straightforward"], results["recipes"]["defaults"]
    rows = [("tokenization s / 1,000 questions", "tokenize_s_per_1000_questions"),
            ("stored tokens per window (mean)", "mean_stored_tokens"),
            ("training features/s", "train_features_per_s"),
            ("training real tokens/s", "train_real_tokens_per_s"),
            ("prediction examples/s (forward + post-processing)", "predict_examples_per_s"),
            ("post-processing s (eval questions)", "postprocess_s"),
            ("peak RSS MiB", "peak_rss_mib"), ("EM after the same steps", "exact_match"),
            ("F1 after the same steps", "f1")]
    m = results["machine"]
    lines = [f"Machine: {m['device']} / {m['cpu']} ({m['cpu_count']} cores), torch {m['torch']}; "
             f"{a['questions']} questions, {a['steps']} steps of batch {results['batch_size']}.", "",
             "| | straightforward | defaults | ratio |", "|---|---|---|---|"]
    for label, key in rows:
        x, y = a.get(key), b.get(key)
        ratio = f"{y / x:.2f}x" if isinstance(x, (int, float)) and isinstance(y, (int, float)) and x else ""
        lines.append(f"| {label} | {x} | {y} | {ratio} |")
    pp = results.get("postprocess_10k")
    if pp:
        lines += ["", f"Post-processing alone, {pp['questions']:,} questions ({pp['windows']:,} windows): "
                      f"{pp['postprocess_s']} s."]
    if results.get("scaling"):
        lines += ["", "| questions | max_length | windows | features/s | epoch time (estimate) |", "|---|---|---|---|---|"]
        for s in results["scaling"]:
            lines.append(f"| {s['questions']} | {s['max_length']} | {s['train_windows']} | "
                         f"{s['train_features_per_s']} | {s['epoch_time_s_estimate']} s |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SQUAD))
    ap.add_argument("--questions", type=int, default=400)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--scaling", action="store_true", help="also throughput by questions and max_length")
    ap.add_argument("--out-dir", default=str(REPO / "benchmarks" / "results"))
    ap.add_argument("--recipe", choices=list(RECIPES), help=argparse.SUPPRESS)  # child process
    ap.add_argument("--max-length", type=int, default=384, help=argparse.SUPPRESS)
    ap.add_argument("--no-predict", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--postprocess-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.recipe:
        print(json.dumps(run_recipe(args, args.recipe, args.max_length, not args.no_predict)))
        return
    if args.postprocess_only:
        print(json.dumps(postprocess_10k(args)))
        return
    from ftpipe.io import write_json, write_text

    results = {"machine": machine(), "batch_size": args.batch_size, "recipes": {}}
    for name in RECIPES:
        results["recipes"][name] = child(args, "--recipe", name)
        print(json.dumps(results["recipes"][name]), flush=True)
    results["postprocess_10k"] = child(args, "--postprocess-only")
    if args.scaling:
        results["scaling"] = []
        for q, length in [(1000, 384), (2000, 384), (4000, 384), (8000, 384), (1000, 256), (1000, 512)]:
            sub = argparse.Namespace(**{**vars(args), "questions": q})
            results["scaling"].append(child(sub, "--recipe", "defaults", "--max-length", str(length), "--no-predict"))
            print(json.dumps(results["scaling"][-1]), flush=True)
    out = Path(args.out_dir)
    write_json(out / "speed.json", results)
    write_text(out / "speed.md", markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
