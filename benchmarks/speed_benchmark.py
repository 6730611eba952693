"""Speed benchmark (not a test): QA training and prediction on real SQuAD questions in three
recipes, each in its own process, the same model, data, steps and optimiser settings
(batch 8, lr 2e-4, 10 % warmup, clipping 1.0, seed 42):

* ``straightforward``: every window padded to 384 on disk, random batches, fp32, the
  default (foreach) AdamW, post-processing over every (start, end) pair;
* ``competent``: a careful plain loop: padding per batch (to a multiple of 8 on a GPU),
  Hugging Face's LengthGroupedSampler, bf16 autocast where the CPU has native bf16 (the precision ours
  runs), the default AdamW, Hugging Face's utils_qa-style post-processing (top-20 starts x
  top-20 ends per window, in Python);
* ``ours``: the pipeline's code (ftpipe.training.fit and the qa task): fused AdamW, the
  measured precision, vectorised post-processing.

For each: training features/s and real tokens/s, model FLOP utilisation (the model's
FLOPs on real tokens per second over the machine's measured matmul peak in the precision
used, on the same core), prediction questions/s, EM/F1 after the same steps. ``--profile``
adds where a training step of ours spends its time (torch.profiler).

    python benchmarks/speed_benchmark.py --questions 2000 --steps 150 --profile

On a GPU the same script runs there (model and batches on the device, timers after a
synchronize, an 8192-wide matmul peak); ``--precision fp32`` runs competent and ours in
fp32 (TF32 off) instead of the precision ``auto`` resolves to; ``--model DIR`` takes
another encoder than the bundled one.

Writes benchmarks/results/speed.json and speed.md (or --out-dir), with the machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ftpipe.machine import machine  # noqa: E402

SQUAD = REPO.parent / "shared" / "data" / "squad_v1.1" / "train-v1.1-subset-first44articles.json"
RECIPES = ("straightforward", "competent", "ours")


# ---------------------------------------------------------------- FLOPs and the peak


def device():
    """The GPU where there is one (the same script measures both kinds of machine)."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()  # GPU work is asynchronous: wait before reading a clock


def matmul_peak(dtype_name: str, size: int | None = None, seconds: float = 1.5) -> float:
    """Best GFLOP/s of a size x size matmul in ``dtype_name`` (fp32 | tf32 | bf16) on this
    core or GPU (1024 on a CPU core, 8192 on a GPU: a size that fills it); fp32 on a GPU runs
    as TF32 where ``precision: auto`` switched TF32 on."""
    import torch

    dev = device()
    size = size or (8192 if dev.type == "cuda" else 1024)
    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    a, b = torch.randn(size, size, dtype=dtype, device=dev), torch.randn(size, size, dtype=dtype, device=dev)
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        sync()
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        sync()
        best = max(best, 4 * 2 * size ** 3 / (time.perf_counter() - t0) / 1e9)
    return best


def model_flops(config, lengths: list[int], training: bool) -> float:
    """FLOPs of an encoder on rows of these real lengths: 2 x matmul weights per token, plus
    attention's two seq x seq products; x3 for forward + backward."""
    d, layers, ffn = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    weights = layers * (4 * d * d + 2 * d * ffn)
    forward = sum(2 * weights * n + 4 * layers * d * n * n for n in lengths)
    return forward * (3 if training else 1)


# ---------------------------------------------------------------- data


def data(args):
    from ftpipe.models import load_tokenizer
    from ftpipe.records import split_records
    from ftpipe.tasks.qa.squad import load_squad
    from ftpipe.tasks.qa.windows import to_columns, tokenize_eval, tokenize_train

    examples, _ = load_squad(Path(args.data), max_examples=args.questions)
    train, evals = split_records(examples, 0.2, args.seed)
    tok = load_tokenizer(args.model)
    pad = args.recipe == "straightforward"
    t0 = time.perf_counter()
    train_cols = tokenize_train(to_columns(train), tok, 384, 128, pad)
    eval_cols = tokenize_eval(to_columns(evals), tok, 384, 128, pad)
    return tok, train_cols, eval_cols, evals, time.perf_counter() - t0


# ---------------------------------------------------------------- the plain loops


def padded_batch(cols: dict, rows, keys: list[str], recipe: str, dev) -> dict:
    """Rows ``rows`` of ``cols`` as tensors on ``dev``, padded with 0 to the longest row; the
    competent loop rounds that up to a multiple of 8 on a GPU (``pad_to_multiple_of=8``, as
    Hugging Face's examples do): fewer distinct shapes for the GPU's kernels to be picked
    for, and tensor-core-friendly sizes."""
    import torch

    width = max(len(cols["input_ids"][i]) for i in rows)
    if recipe == "competent" and dev.type == "cuda":
        width = -(-width // 8) * 8
    return {k: torch.tensor([cols[k][i] + [0] * (width - len(cols[k][i])) for i in rows]).to(dev) for k in keys}


def plain_train(args, model, tok, cols) -> tuple[float, int, int, list]:
    """straightforward / competent: the loop a user writes, with the same settings."""
    import torch
    from transformers import get_linear_schedule_with_warmup
    from transformers.trainer_pt_utils import LengthGroupedSampler

    keys = ["input_ids", "attention_mask", "token_type_ids"]
    n = len(cols["input_ids"])
    g = torch.Generator().manual_seed(args.seed)
    if args.recipe == "competent":
        order = list(LengthGroupedSampler(8, lengths=cols["length"], generator=g))
    else:
        order = torch.randperm(n, generator=g).tolist()
    dev = device()
    model.to(dev)  # before the optimizer takes the parameters
    opt = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, int(0.1 * args.steps), args.steps)
    bf16 = args.recipe == "competent" and args.bf16
    model.train()  # from_pretrained returns eval mode: dropout must be on, as in ours
    lengths, t0 = [], time.perf_counter()
    for step in range(args.steps):
        idx = [order[(step * 8 + i) % n] for i in range(8)]
        batch = padded_batch(cols, idx, keys, args.recipe, dev)
        labels = {k: torch.tensor([cols[k][i] for i in idx]).to(dev) for k in ("start_positions", "end_positions")}
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch, **labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(), sched.step(), opt.zero_grad()
        lengths += [cols["length"][i] for i in idx]
    sync()
    return time.perf_counter() - t0, args.steps * 8, sum(lengths), lengths


def hf_postprocess(examples, cols, starts, ends, n_best=20, max_len=30) -> dict:
    """Hugging Face's utils_qa loop: per window the top-20 starts x top-20 ends, in Python."""
    import numpy as np

    by_example: dict[str, list[int]] = {}
    for i, ex in enumerate(cols["example_id"]):
        by_example.setdefault(ex, []).append(i)
    preds = {}
    for ex in examples:
        best, text = -1e9, ""
        for f in by_example.get(ex["id"], []):
            off, s, e = cols["offset_mapping"][f], starts[f], ends[f]
            for si in np.argsort(s)[-1:-n_best - 1:-1]:
                for ei in np.argsort(e)[-1:-n_best - 1:-1]:
                    if si >= len(off) or ei >= len(off) or off[si][0] < 0 or off[ei][0] < 0:
                        continue
                    if ei < si or ei - si + 1 > max_len:
                        continue
                    if s[si] + e[ei] > best:
                        best, text = s[si] + e[ei], ex["context"][off[si][0]:off[ei][1]]
        preds[ex["id"]] = text
    return preds


def plain_predict(args, model, tok, cols) -> tuple[list, list, float]:
    import torch

    keys = ["input_ids", "attention_mask", "token_type_ids"]
    starts, ends = [], []
    bf16 = args.recipe == "competent" and args.bf16
    dev = device()
    t0 = time.perf_counter()
    model.to(dev).eval()
    with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
        for b in range(0, len(cols["input_ids"]), 16):
            rows = range(b, min(b + 16, len(cols["input_ids"])))
            batch = padded_batch(cols, rows, keys, args.recipe, dev)
            out = model(**batch)
            start_logits, end_logits = out.start_logits.float().cpu(), out.end_logits.float().cpu()
            for j, i in enumerate(rows):
                n = cols["length"][i]
                starts.append(start_logits[j, :n].numpy())
                ends.append(end_logits[j, :n].numpy())
    return starts, ends, time.perf_counter() - t0


# ---------------------------------------------------------------- ours


def ours_train(args, model, tok, cols):
    import datasets

    from benchmarks.common import section_params
    from ftpipe.tasks.qa import TASK as QA
    from ftpipe.training import fit

    cfg = section_params("qa", [f"qa.model.dir={args.model}", "qa.train.batch_size=8", "qa.train.lr.full=2e-4",
                                "qa.train.epochs=100",
                                f"qa.train.max_steps={args.steps}", "qa.train.log_every=10",
                                "qa.train.checkpoint_every=0", "qa.train.warmup_ratio=0.1",
                                f"qa.train.precision={args.precision}", *args.set]).train
    ds = datasets.Dataset.from_dict(cols)
    rows = ds.select_columns(["input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions"])
    collate, lengths = QA.collator(tok, ds.column_names), []

    def recording(batch):  # the real length of every row trained on (for the FLOP count)
        out = collate(batch)
        lengths.extend(out["attention_mask"].sum(-1).tolist())
        return out

    result = fit(model, rows, recording, ds["length"], cfg, args.seed)
    return result.train_time_s, result.steps * 8, sum(lengths), lengths


def ours_predict(model, tok, cols, precision: str):
    import datasets

    from ftpipe.inference import forward_rows
    from ftpipe.tasks.qa import TASK as QA

    ds = datasets.Dataset.from_dict(cols)
    t0 = time.perf_counter()
    rows = forward_rows(model, ds, tok.pad_token_id, 16, precision, QA.outputs, QA.token_outputs)
    return [r["start_logits"] for r in rows], [r["end_logits"] for r in rows], time.perf_counter() - t0


def run_recipe(args) -> dict:
    import torch
    from transformers import AutoModelForQuestionAnswering

    from ftpipe.config import ModelConfig
    from ftpipe.models import load_model
    from ftpipe.precision import resolve_precision
    from ftpipe.tasks.qa.postprocess import postprocess, postprocess_naive
    from ftpipe.tasks.qa.scoring import squad_metrics

    args.bf16 = resolve_precision(args.precision) == "bf16"
    tok, train_cols, eval_cols, evals, tokenize_s = data(args)
    model = load_model(ModelConfig(dir=args.model, pretrained=True, dropout=None),
                       AutoModelForQuestionAnswering, args.seed)
    trainer = ours_train if args.recipe == "ours" else plain_train
    train_s, feats, _, lengths = trainer(args, model, tok, train_cols)
    if args.recipe == "ours":
        starts, ends, forward_s = ours_predict(model, tok, eval_cols, args.precision)
    else:
        starts, ends, forward_s = plain_predict(args, model, tok, eval_cols)
    t0 = time.perf_counter()
    if args.recipe == "ours":
        preds, _ = postprocess(evals, eval_cols["example_id"], eval_cols["offset_mapping"], starts, ends)
    elif args.recipe == "competent":
        preds = hf_postprocess(evals, eval_cols, starts, ends)
    else:
        preds = postprocess_naive(evals, eval_cols["example_id"], eval_cols["offset_mapping"], starts, ends)
    post_s = time.perf_counter() - t0
    m = squad_metrics(preds, evals)
    # fp32 matmuls on a GPU run as TF32 where `auto` switched it on (resolve_precision)
    tf32 = torch.cuda.is_available() and torch.backends.cuda.matmul.allow_tf32
    precision = "bf16" if (args.recipe != "straightforward" and args.bf16) else ("tf32" if tf32 else "fp32")
    flops = model_flops(model.config, lengths, training=True)
    peak = matmul_peak(precision)
    return {"recipe": args.recipe, "precision": precision, "steps": args.steps, "train_time_s": round(train_s, 2),
            "features_per_s": round(feats / train_s, 3), "real_tokens_per_s": round(sum(lengths) / train_s, 1),
            "model_gflop_per_s": round(flops / train_s / 1e9, 1), "peak_gflop_per_s": round(peak, 1),
            "mfu_pct": round(100 * flops / train_s / 1e9 / peak, 1), "tokenize_s": round(tokenize_s, 2),
            "eval_questions": len(evals), "predict_forward_s": round(forward_s, 2),
            "postprocess_s": round(post_s, 3), "predict_questions_per_s": round(len(evals) / (forward_s + post_s), 2),
            "exact_match": round(m["exact_match"], 2), "f1": round(m["f1"], 2),
            "mean_stored_tokens": round(sum(len(x) for x in train_cols["input_ids"]) / len(train_cols["input_ids"]), 1)}


# ---------------------------------------------------------------- where the time goes


CATEGORIES = (("matmul", ("mm", "addmm", "bmm", "linear", "matmul")), ("attention", ("attention", "sdpa")),
              ("layer norm", ("layer_norm",)),
              ("softmax / gelu / dropout", ("softmax", "gelu", "dropout", "bernoulli", "random_")),
              ("optimizer", ("adam", "foreach", "_fused")), ("embedding", ("embedding",)),
              ("loss", ("cross_entropy", "nll_loss", "log_softmax")))


def profile(args) -> dict:
    """Self CPU time of a few training steps of ours, by kind of operation."""
    import torch
    from torch.profiler import ProfilerActivity, profile as torch_profile

    from benchmarks.common import section_params
    from ftpipe.config import ModelConfig
    from ftpipe.dropout import fast_dropout
    from ftpipe.models import load_model
    from ftpipe.optim import optimizer_and_schedule
    from ftpipe.precision import autocast_for
    from ftpipe.tasks.qa import TASK as QA

    if torch.cuda.is_available():
        raise SystemExit("--profile breaks down CPU time; on a GPU use torch.profiler with CUDA activity")
    args.recipe = "ours"
    tok, cols, _, _, _ = data(args)
    model = load_model(ModelConfig(dir=args.model, pretrained=True, dropout=None),
                       "AutoModelForQuestionAnswering", args.seed)
    cfg = section_params("qa", args.set).train
    opt, _ = optimizer_and_schedule(model, cfg, 100)
    model.train()
    collate = QA.collator(tok, ["input_ids", "attention_mask", "token_type_ids", "start_positions",
                                "end_positions"])
    rows = [{k: cols[k][i] for k in cols} for i in range(len(cols["input_ids"]))]
    batches = [rows[i:i + 8] for i in range(0, 8 * 8, 8)]

    def step(rows_):
        t0 = time.perf_counter()
        batch = collate(rows_)
        t_collate = time.perf_counter() - t0
        with autocast_for("auto", torch.device("cpu")):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(), opt.zero_grad()
        return t_collate

    with fast_dropout(model, cfg.fast_dropout):  # as fit runs it
        for b in batches[:3]:
            step(b)
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            collate_s = sum(step(b) for b in batches[3:])
    total = sum(e.self_cpu_time_total for e in prof.key_averages()) / 1e6
    shares = {name: 0.0 for name, _ in CATEGORIES}
    for e in prof.key_averages():
        key = e.key.lower()
        name = next((n for n, words in CATEGORIES if any(w in key for w in words)), "other")
        shares[name] = shares.get(name, 0.0) + e.self_cpu_time_total / 1e6
    shares["data (collate)"] = collate_s
    return {k: round(100 * v / (total + collate_s), 1) for k, v in sorted(shares.items(), key=lambda x: -x[1])}


def child(args, *extra: str) -> dict:
    cmd = [sys.executable, __file__, "--data", args.data, "--questions", str(args.questions), "--steps",
           str(args.steps), "--seed", str(args.seed), "--model", args.model, "--precision", args.precision,
           *(f"--set={kv}" for kv in args.set), *extra]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def markdown(results: dict) -> str:
    r = results["recipes"]
    rows = [("training features/s", "features_per_s"), ("training real tokens/s", "real_tokens_per_s"),
            ("model GFLOP/s", "model_gflop_per_s"), ("matmul peak GFLOP/s (precision used)", "peak_gflop_per_s"),
            ("MFU %", "mfu_pct"), ("prediction questions/s", "predict_questions_per_s"),
            ("post-processing s", "postprocess_s"), ("EM after the same steps", "exact_match"),
            ("F1 after the same steps", "f1"), ("precision", "precision")]
    m = results["machine"]
    lines = [f"Machine: {m['device']} / {m['cpu']} ({', '.join(m['cpu_flags'])}), {m['torch_threads']} thread(s), "
             f"torch {m['torch']}; {r['ours']['eval_questions']} eval questions, {r['ours']['steps']} steps of batch 8.",
             "", "| | straightforward | competent | ours | ours / competent | ours / straightforward |",
             "|---|---|---|---|---|---|"]
    for label, key in rows:
        a, b, c = (r[x].get(key) for x in RECIPES)
        ratio = [f"{c / y:.2f}x" if isinstance(y, (int, float)) and y and isinstance(c, (int, float))
                 and key not in ("exact_match", "f1", "precision") else "" for y in (b, a)]
        lines.append(f"| {label} | {a} | {b} | {c} | {ratio[0]} | {ratio[1]} |")
    if results.get("profile"):
        lines += ["", "Where a training step of ours spends its time (torch.profiler, self CPU %): "
                  + ", ".join(f"{k} {v}" for k, v in results["profile"].items())]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SQUAD))
    ap.add_argument("--questions", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--model", default="bundled", help="encoder: bundled, a local dir or a hub id")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                    help="competent and ours (straightforward runs fp32: TF32 on a GPU under auto)")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a params.yaml override for ours, e.g. qa.train.fast_dropout=false")
    ap.add_argument("--out-dir", default=str(REPO / "benchmarks" / "results"))
    ap.add_argument("--recipe", choices=RECIPES, help=argparse.SUPPRESS)  # child process
    ap.add_argument("--profile-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.recipe:
        print(json.dumps(run_recipe(args)))
        return
    if args.profile_only:
        print(json.dumps(profile(args)))
        return
    from ftpipe.io import write_json, write_text

    results = {"machine": machine(), "recipes": {}}
    for name in RECIPES:
        results["recipes"][name] = child(args, "--recipe", name)
        print(json.dumps(results["recipes"][name]), flush=True)
    if args.profile:
        results["profile"] = child(args, "--profile-only")
    out = Path(args.out_dir)
    write_json(out / "speed.json", results)
    write_text(out / "speed.md", markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
