"""GLUE on real CoLA / STS-B (../shared/data/glue), not a test. One run per call, in one of
three recipes, all on the bundled MiniLM with the same optimiser settings (AdamW, lr 1e-4
for full fine-tuning, weight decay 0.1, eps 1e-6, 200 warmup steps then linear decay,
clipping 1.0, batch 16, max_length 128, seed 42):

* ``straightforward``: the study's script: the whole dataset tokenized with padding=True
  (every row padded to the longest of the set), random batches, fp32;
* ``reference``: a plain competent loop: the tokenizer pads each random batch to its
  longest row, fp32 (the issue's reference);
* ``ours``: the pipeline's code and params (cola / stsb sections) with the same settings:
  length-grouped batches padded per batch, precision auto (bf16 where the CPU has it).

    python benchmarks/glue_benchmark.py --task cola --recipe reference --epochs 3
    python benchmarks/glue_benchmark.py --task stsb --recipe ours -S train.method=lora -S train.lora.r=8

Prints the figures (dev metric per epoch, time, examples/s, machine) and writes
benchmarks/results/glue_<task>_<recipe>_<tag>.json.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO, SHARED, finetune, section_params  # noqa: E402
from ftpipe.machine import machine  # noqa: E402

DIRS = {"cola": "CoLA", "stsb": "STS-B"}


def load(task: str, overrides: list[str] = ()) -> dict:
    """The real task's splits; ``-S <task>.data.*`` overrides (e.g. max_examples) apply here."""
    params = section_params(task, [f"{task}.data.dir={SHARED / 'glue' / DIRS[task]}", f"{task}.data.test=null",
                                   f"{task}.data.allow_overlap=true",
                                   *[o for o in overrides if o.startswith(f"{task}.data.")]])
    from ftpipe.verbs import task_of

    splits, report, meta = task_of(params).prepare(params.task.data)
    return {"splits": splits, "meta": meta, "report": report}


def plain_loop(task: str, epochs: int, seed: int, pad_whole_set: bool) -> dict:
    """The reference (or, with ``pad_whole_set``, the straightforward) recipe: no project code
    but the data loader and the metric."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    from ftpipe.models import resolve_model_path
    from ftpipe.tasks.glue import TASK as GLUE
    from ftpipe.tasks.glue.layouts import LAYOUTS

    data = load(task)
    train, dev, layout = data["splits"]["train"], data["splits"]["eval"], LAYOUTS[task]
    path = resolve_model_path("bundled")
    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(path, **GLUE.model_kwargs(data["meta"]))
    pairs = layout.text_b is not None

    def encode(rows, padding):
        a = [r["text_a"] for r in rows]
        b = [r["text_b"] for r in rows] if pairs else None
        return tok(a, b, truncation=True, max_length=128, padding=padding, return_tensors="pt")

    whole = encode(train, "longest") if pad_whole_set else None
    labels = torch.tensor([r["label"] for r in train])
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not (p.ndim < 2 or "LayerNorm" in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, eps=1e-6)
    steps_per_epoch = math.ceil(len(train) / 16)
    sched = get_linear_schedule_with_warmup(opt, 200, steps_per_epoch * epochs)
    gen = torch.Generator().manual_seed(seed)
    per_epoch, t_train, seen = [], 0.0, 0
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train), generator=gen).tolist()
        t0 = time.perf_counter()
        for i in range(0, len(order), 16):
            idx = order[i:i + 16]
            batch = ({k: v[idx] for k, v in whole.items()} if whole is not None
                     else dict(encode([train[j] for j in idx], "longest")))
            loss = model(**batch, labels=labels[idx]).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(), sched.step(), opt.zero_grad()
            seen += len(idx)
        t_train += time.perf_counter() - t0
        per_epoch.append({"epoch": epoch + 1, **plain_eval(model, encode, dev, data["meta"])})
        print(json.dumps(per_epoch[-1]), flush=True)
    return {"per_epoch": per_epoch, "train_time_s": round(t_train, 1), "train_examples_per_s": round(seen / t_train, 2),
            "examples": {"train": len(train), "eval": len(dev)},
            "padded_tokens_per_row": whole["input_ids"].shape[1] if whole is not None else None}


def plain_eval(model, encode, dev, meta) -> dict:
    import torch

    from ftpipe.tasks.glue import TASK as GLUE

    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(dev), 64):
            logits = model(**encode(dev[i:i + 64], "longest")).logits
            preds += logits[:, 0].tolist() if logits.shape[1] == 1 else logits.argmax(-1).tolist()
    return GLUE.score({"task": meta["glue_task"], "ids": [r["id"] for r in dev], "predictions": preds}, dev)


def ours(task: str, epochs: int, seed: int, overrides: list[str]) -> dict:
    data = load(task, overrides)
    params = section_params(task, [f"seed={seed}", f"{task}.train.epochs={epochs}", f"{task}.train.batch_size=16",
                                   f"{task}.train.warmup_steps=200", f"{task}.train.warmup_ratio=0",
                                   f"{task}.train.log_every=50", f"{task}.train.checkpoint_every=0",
                                   f"{task}.tokenize.max_length=128", *overrides])
    figures, _ = finetune(params, data["splits"], data["meta"])
    figures["train_examples_per_s"] = figures["train_features_per_s"]
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=list(DIRS), required=True)
    ap.add_argument("--recipe", choices=["straightforward", "reference", "ours"], required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE",
                    help="ours: override a params key (as dvc exp run -S)")
    ap.add_argument("--tag", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.recipe == "ours":
        out = ours(args.task, args.epochs, args.seed, args.set)
    else:
        out = {**machine(), "precision": "fp32",
               **plain_loop(args.task, args.epochs, args.seed, args.recipe == "straightforward")}
    out.update({"task": args.task, "recipe": args.recipe, "epochs": args.epochs, "seed": args.seed,
                "overrides": args.set, "total_s": round(time.perf_counter() - t0, 1)})
    print(json.dumps(out, indent=2))
    tag = args.tag or re.sub(r"[^A-Za-z0-9_.=-]+", "_", "_".join(s.split(".", 1)[-1] for s in args.set)) or "default"
    from ftpipe.io import write_json

    name = f"glue_{args.task}_{args.recipe}_{tag}_ep{args.epochs}_seed{args.seed}.json"
    write_json(args.out or REPO / "benchmarks" / "results" / name, out)


if __name__ == "__main__":
    main()
