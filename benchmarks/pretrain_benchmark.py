"""ELECTRA pretraining on real text (not a test): the SQuAD v1.1 subset's contexts in
../shared/data (2,430 paragraphs; a seeded share of the documents held out).

    # (a) throughput by model size: 100 steps each
    python benchmarks/pretrain_benchmark.py throughput --sizes tiny,small
    # (b) one objective for a wall-clock budget (e.g. RTD vs MLM, 20 minutes on one core each)
    python benchmarks/pretrain_benchmark.py budget --objective rtd --minutes 20 --out-dir models/bench/rtd
    # ... then each discriminator (and the same architecture randomly initialised) fine-tuned
    python benchmarks/pretrain_benchmark.py downstream --models rtd=models/bench/rtd/final/discriminator \
        --random-like models/bench/rtd/final/discriminator --tasks qa,cola,stsb --seeds 1,2,3
    # (c) continued RTD pretraining of the bundled MiniLM
    python benchmarks/pretrain_benchmark.py budget --continue-from bundled --minutes 30 --out-dir models/bench/minilm
    # ... another seed of it at the same schedule (steps, not minutes: contention cannot change
    # it; 2098 is the step count the 30-minute run above planned on the AMX box)
    python benchmarks/pretrain_benchmark.py budget --continue-from bundled --max-steps 2098 -S seed=1 ...
    # ... the same schedule on more and more varied text: every English training split in
    # ../shared/data (mixed_text(): SQuAD, CoNLL-2000's WSJ, CoLA's and STS-B's sentences)
    python benchmarks/pretrain_benchmark.py budget --continue-from bundled --max-steps 2098 --text mixed ...

The pretrain section of params.yaml supplies every other setting (-S overrides it). The
saved discriminator (<out-dir>/final/discriminator) is what the fine-tuning benchmarks take
as their model (benchmarks/finetune.py ... -S <section>.model.dir=<it>).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO, SHARED, featurize_all, section_params  # noqa: E402
from ftpipe.io import read_json, write_json, write_text  # noqa: E402
from ftpipe.machine import machine  # noqa: E402
from ftpipe.precision import precision_name  # noqa: E402

SQUAD = SHARED / "squad_v1.1"
SQUAD_FILE = "train-v1.1-subset-first44articles.json"
MIXED_DIR = Path(tempfile.gettempdir()) / "ftpipe_bench_text"  # derived from ../shared/data, never the repo
MIXED_FILE = "mixed_train_text.txt"


def _blocks(sentences: list[str], per_doc: int) -> list[str]:
    return ["\n".join(sentences[i:i + per_doc]) for i in range(0, len(sentences), per_doc)]


def _train_sentences(section: str) -> list[str]:
    """The training file of a GLUE or tagging section, read by the task's own loader (its
    checks and bad-record policy), as sentences: GLUE's texts, CoNLL's words rejoined."""
    from ftpipe.tasks.glue import load_glue
    from ftpipe.tasks.glue.layouts import LAYOUTS
    from ftpipe.tasks.tagging import load_tagged

    d = section_params(section, DOWNSTREAM[section]).task.data
    if section == "chunking":
        records, _ = load_tagged(d.dir, d.train, d, labelled=False)
        return [" ".join(r["words"]).replace(" n't", "n't") for r in records]
    records, _ = load_glue(d.dir, d.train, LAYOUTS[d.task], d, labelled=True)  # train files: labelled layout
    return [r["text_a"] for r in records] + [r["text_b"] for r in records if r["text_b"]]  # the order measured


def mixed_text() -> tuple[Path, str]:
    """--text mixed: the training splits only (so no dev or test set of ../shared/data is
    seen in pretraining) of every English source there, one .txt (documents between blank
    lines, a sentence a line): the SQuAD subset's paragraphs, CoNLL-2000's WSJ sentences
    (6 consecutive ones a document), CoLA's and STS-B's training sentences without their
    labels (12 a document; task-adaptive pretraining as in Gururangan et al. 2020)."""
    squad = read_json(SQUAD / SQUAD_FILE)
    docs = list(dict.fromkeys(p["context"] for a in squad["data"] for p in a["paragraphs"]))
    conll, cola = _train_sentences("chunking"), _train_sentences("cola")
    stsb = list(dict.fromkeys(_train_sentences("stsb")))
    docs += _blocks(conll, 6) + _blocks(cola, 12) + _blocks(stsb, 12)
    MIXED_DIR.mkdir(parents=True, exist_ok=True)
    write_text(MIXED_DIR / MIXED_FILE, "\n\n".join(docs) + "\n")  # atomic: two seeds' runs may start together
    print(json.dumps({"mixed_text": str(MIXED_DIR / MIXED_FILE), "documents": len(docs), "conll_sentences": len(conll),
                      "cola_sentences": len(cola), "stsb_sentences": len(stsb)}), flush=True)
    return MIXED_DIR, MIXED_FILE


def setup(overrides: list[str], text: str = "squad"):
    from ftpipe.models import load_tokenizer
    from ftpipe.verbs import task_of

    directory, name = mixed_text() if text == "mixed" else (SQUAD, SQUAD_FILE)
    params = section_params("pretrain", [f"pretrain.data.dir={directory}", f"pretrain.data.train={name}",
                                         "pretrain.data.eval_size=0.05", "pretrain.train.checkpoint_every=0",
                                         *overrides])
    task = task_of(params)
    splits, report, meta = task.prepare(params.task.data)
    tokenizer = load_tokenizer(params.task.model.dir)
    features, stats, tokenize_s = featurize_all(task, splits, tokenizer, params, meta)
    return params, task, splits, meta, tokenizer, features, {**stats, "tokenize_s": round(tokenize_s, 1)}


def run(params, task, splits, meta, tokenizer, features, time_limit_s: float | None, log_dir=None):
    from ftpipe.models import count_parameters
    from ftpipe.training import NOT_MODEL_INPUTS, Evaluation, fit
    from ftpipe.verbs.train import build_model, evaluator

    model = build_model(task, params, meta, tokenizer)
    ds = features["train"]
    rows = ds.select_columns([c for c in ds.column_names if c not in NOT_MODEL_INPUTS])
    evaluation = Evaluation(evaluator(task, features["eval"], splits["eval"], tokenizer.pad_token_id, params, meta),
                            task.main_metric(meta, params.task))
    result = fit(model, rows, task.collator(tokenizer, ds.column_names), ds["length"], params.train, params.seed,
                 evaluation, log_dir, time_limit_s=time_limit_s)
    return model, result, count_parameters(model)


def throughput(args) -> dict:
    out = {**machine(), "sizes": {}}
    for size in args.sizes.split(","):
        params, task, splits, meta, tok, feats, stats = setup(
            [f"pretrain.model.size={size}", f"pretrain.train.max_steps={args.steps}", "pretrain.train.epochs=100",
             "pretrain.train.eval_every=0", *args.set])
        feats["eval"] = feats["eval"].select(range(min(64, len(feats["eval"]))))
        splits["eval"] = splits["eval"][:64]
        _, result, counts = run(params, task, splits, meta, tok, feats, None)
        out["sizes"][size] = {**counts, "steps": result.steps, "train_time_s": round(result.train_time_s, 1),
                              "examples_per_s": round(result.features_per_s, 2),
                              "tokens_per_s": round(result.tokens_per_s, 1), "data": stats}
        print(json.dumps({size: out["sizes"][size]}), flush=True)
    return out


def budget(args) -> dict:
    overrides = [f"pretrain.model.objective={args.objective}", "pretrain.train.epochs=1000", *args.set]
    if args.objective == "mlm":  # BERT's masking
        overrides += ["pretrain.model.mask_token_prob=0.8", "pretrain.model.random_token_prob=0.1"]
    if args.continue_from:
        overrides += [f"pretrain.model.dir={args.continue_from}", "pretrain.model.pretrained=true"]
    params, task, splits, meta, tok, feats, stats = setup(overrides, args.text)
    t0 = time.perf_counter()
    # --max-steps: a fixed length (e.g. another seed of an earlier budget run), no timing
    s_per_step, max_steps = ((None, args.max_steps) if args.max_steps
                             else steps_for_budget(args, params, task, splits, meta, tok, feats))
    params.train = params.train.model_copy(update={"max_steps": max_steps})
    limit_s = args.minutes * 60 * 1.05 if s_per_step else None  # the wall-clock backstop of a timed budget
    model, result, counts = run(params, task, splits, meta, tok, feats, limit_s)
    task.save(model, tok, Path(args.out_dir) / "final")
    return {**machine(), "objective": args.objective, "text": args.text, "continue_from": args.continue_from,
            "minutes": args.minutes, "seed": params.seed, "precision": precision_name(params.train.precision),
            **counts, "data": stats,
            "calibration_s_per_step": round(s_per_step, 4) if s_per_step else None, "max_steps": max_steps,
            "steps": result.steps, "train_time_s": round(result.train_time_s, 1),
            "examples_per_s": round(result.features_per_s, 2), "tokens_per_s": round(result.tokens_per_s, 1),
            "per_epoch": result.epochs, "evals": result.log.evals, "total_s": round(time.perf_counter() - t0, 1),
            "saved": str(Path(args.out_dir) / "final")}


def steps_for_budget(args, params, task, splits, meta, tok, feats) -> tuple[float, int]:
    """(seconds per step, steps in args.minutes). The lr schedule (warmup, decay to 0) needs
    the run's length in steps: a short timed run of the same model gives the step rate, the
    budget becomes max_steps, and the wall-clock limit stays as a backstop. Without this,
    epochs=1000 would stretch the warmup over the whole budget."""
    calib = copy.copy(params)
    calib.train = params.train.model_copy(update={"max_steps": args.calibrate_steps, "eval_every": 0})
    _, probe, _ = run(calib, task, splits, meta, tok, feats, None)
    s_per_step = probe.train_time_s / probe.steps
    max_steps = max(1, int(args.minutes * 60 / s_per_step))
    print(json.dumps({"calibration_s_per_step": round(s_per_step, 4), "max_steps": max_steps}), flush=True)
    return s_per_step, max_steps


# Downstream tasks of (b): the embedded QA sample, real CoLA and STS-B (full training sets,
# dev sets scored), params.yaml's sections otherwise.
DOWNSTREAM = {
    "qa": [],
    "cola": [f"cola.data.dir={SHARED / 'glue' / 'CoLA'}", "cola.data.test=null", "cola.data.allow_overlap=true"],
    "stsb": [f"stsb.data.dir={SHARED / 'glue' / 'STS-B'}", "stsb.data.test=null", "stsb.data.allow_overlap=true"],
    "chunking": [f"chunking.data.dir={SHARED / 'conll2000'}"],
}


def downstream(args) -> dict:
    """Every (task, initialisation, seed): params.yaml's section with the model swapped and
    the same lr / epochs for every initialisation; the main dev metric, pooled over seeds."""
    import statistics

    from benchmarks.common import finetune
    from ftpipe.verbs import task_of

    inits = {name: [f"model.dir={d}", "model.pretrained=true"]
             for name, d in (item.split("=", 1) for item in args.models.split(","))}
    if args.random_like:
        inits["random"] = [f"model.dir={args.random_like}", "model.pretrained=false"]
    out = {**machine(), "lr": args.lr, "epochs": args.epochs, "runs": [], "summary": {}}
    for section in args.tasks.split(","):
        base = [*DOWNSTREAM[section], f"{section}.train.epochs={args.epochs}",
                f"{section}.train.lr.full={args.lr}", *args.set]
        splits = meta = task = metric = None
        for name, init in inits.items():
            scores = []
            for seed in (int(x) for x in args.seeds.split(",")):
                params = section_params(section, [*base, *(f"{section}.{o}" for o in init), f"seed={seed}"])
                if splits is None:  # the data do not depend on the model: prepared once per task
                    task = task_of(params)
                    splits, _, meta = task.prepare(params.task.data)
                    metric = task.main_metric(meta, params.task)
                figures, _ = finetune(params, splits, meta)
                score = figures["final"]["eval"][metric]
                scores.append(score)
                row = {"task": section, "init": name, "seed": seed, "metric": metric, "score": score,
                       "precision": figures["precision"], "train_time_s": figures["train_time_s"],
                       "per_epoch": figures["per_epoch"]}
                out["runs"].append(row)
                print(json.dumps({k: row[k] for k in ("task", "init", "seed", "metric", "score", "train_time_s")}),
                      flush=True)
            out["summary"].setdefault(section, {})[name] = {
                "metric": metric, "median": statistics.median(scores), "min": min(scores), "max": max(scores)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["throughput", "budget", "downstream"])
    ap.add_argument("--sizes", default="tiny,small")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--objective", choices=["rtd", "mlm"], default="rtd")
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--text", choices=["squad", "mixed"], default="squad",
                    help="budget: the SQuAD subset's contexts, or every English training split (mixed_text)")
    ap.add_argument("--max-steps", type=int, default=None, help="budget: this many steps, no timing")
    ap.add_argument("--calibrate-steps", type=int, default=30, help="budget: steps timed to set max_steps")
    ap.add_argument("--continue-from", default=None, help="a model dir or 'bundled' (pretrained: true)")
    ap.add_argument("--out-dir", default=str(REPO / "models" / "bench" / "pretrain"))
    ap.add_argument("--models", default="", help="downstream: name=discriminator_dir,...")
    ap.add_argument("--random-like", default=None, help="downstream: also this architecture, random weights")
    ap.add_argument("--tasks", default="qa,cola,stsb")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--lr", type=float, default=3e-4, help="downstream: ELECTRA-Small's fine-tuning lr")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = {"throughput": throughput, "budget": budget, "downstream": downstream}[args.mode](args)
    out["overrides"] = args.set
    print(json.dumps(out, indent=2))

    name = {"throughput": "pretrain_throughput.json", "downstream": "pretrain_downstream.json",
            "budget": f"pretrain_{args.objective}_{'continued' if args.continue_from else 'scratch'}_{args.minutes:g}min.json"
            }[args.mode]
    write_json(args.out or REPO / "benchmarks" / "results" / name, out)


if __name__ == "__main__":
    main()
