"""CoNLL-2000 chunking on the real files (../shared/data/conll2000), not a test. One run
per call, on the bundled MiniLM, trained on train.txt less a seeded 20 % dev split, scored
on that dev split and on test.txt with conlleval's rules:

* ``reference``: a plain token-classification fine-tune as a user writes it: the whole set
  tokenized with ``is_split_into_words`` and padded to its longest sentence (truncated at
  128 pieces), labels on each word's first piece through ``word_ids()``, random batches,
  fp32, AdamW (lr 1e-4, weight decay 0.01), 10 % warmup then linear decay, clipping 1.0;
* ``ours``: the pipeline's code and the ``chunking`` section of params.yaml (random batches
  each padded to its own longest row: the section turns length grouping off, which cost
  ~0.2 F1 here; precision auto, long sentences windowed), the same settings.

    python benchmarks/tagging_benchmark.py --recipe reference --epochs 2
    python benchmarks/tagging_benchmark.py --recipe ours --epochs 2 -S chunking.train.method=lora

Prints the figures (dev and test chunk F1, time, sentences/s, machine) and writes
benchmarks/results/tagging_<recipe>_<tag>_ep<N>_seed<S>.json.
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

BATCH, LR = 16, 1e-4


def load(overrides: list[str]) -> tuple:
    # CoNLL-2000 repeats some sentences: 16 of the 1,787 in the dev split also occur in train
    params = section_params("chunking", [f"chunking.data.dir={SHARED / 'conll2000'}",
                                         "chunking.data.allow_overlap=true", *overrides])
    from ftpipe.verbs import task_of

    splits, report, meta = task_of(params).prepare(params.task.data)
    return params, splits, report, meta


def plain_loop(epochs: int, seed: int, overrides: list[str]) -> dict:
    """The reference recipe: no project code but the data loader and the scorer (``overrides``:
    data keys only, e.g. chunking.data.max_examples for a smoke run)."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer, get_linear_schedule_with_warmup

    from ftpipe.models import resolve_model_path
    from ftpipe.tasks.tagging.conlleval import conlleval

    _, splits, _, meta = load(overrides)
    labels = meta["labels"]
    label2id = {t: i for i, t in enumerate(labels)}
    path = resolve_model_path("bundled")
    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(seed)
    model = AutoModelForTokenClassification.from_pretrained(path, num_labels=len(labels))

    def encode(records):
        enc = tok([r["words"] for r in records], is_split_into_words=True, truncation=True, max_length=128,
                  padding="longest", return_tensors="pt")
        word_ids = [enc.word_ids(i) for i in range(len(records))]
        return enc, word_ids

    train = splits["train"]
    enc, word_ids = encode(train)
    y = torch.full(enc["input_ids"].shape, -100)
    for i, (ids, r) in enumerate(zip(word_ids, train)):
        prev = None
        for j, w in enumerate(ids):
            if w is not None and w != prev:
                y[i, j] = label2id[r["tags"][w]]
            prev = w
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    total = math.ceil(len(train) / BATCH) * epochs
    sched = get_linear_schedule_with_warmup(opt, int(0.1 * total), total)
    gen = torch.Generator().manual_seed(seed)
    per_epoch, t_train, seen = [], 0.0, 0
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train), generator=gen)
        t0 = time.perf_counter()
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            loss = model(**{k: v[idx] for k, v in enc.items()}, labels=y[idx]).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(), sched.step(), opt.zero_grad()
            seen += len(idx)
        t_train += time.perf_counter() - t0
        per_epoch.append({"epoch": epoch + 1, "eval_f1": plain_eval(model, encode, splits["eval"], labels)["f1"]})
        print(json.dumps(per_epoch[-1]), flush=True)
    final = {}
    for split in ("eval", "test"):
        t0 = time.perf_counter()
        scores = plain_eval(model, encode, splits[split], labels)
        final[split] = {**scores, "predict_s": round(time.perf_counter() - t0, 2)}
    return {"per_epoch": per_epoch, "final": final, "train_time_s": round(t_train, 1),
            "train_sentences_per_s": round(seen / t_train, 2), "padded_tokens_per_row": enc["input_ids"].shape[1],
            "examples": {s: len(r) for s, r in splits.items()}}


def plain_eval(model, encode, records, labels) -> dict:
    import torch

    from ftpipe.tasks.tagging.conlleval import conlleval

    model.eval()
    gold, pred = [], []
    with torch.no_grad():
        for i in range(0, len(records), 64):
            chunk = records[i:i + 64]
            enc, word_ids = encode(chunk)
            best = model(**enc).logits.argmax(-1).tolist()
            for r, ids, row in zip(chunk, word_ids, best):
                tags, prev = ["O"] * len(r["words"]), None  # words cut off by truncation: "O"
                for j, w in enumerate(ids):
                    if w is not None and w != prev:
                        tags[w] = labels[row[j]]
                    prev = w
                gold.append(r["tags"]), pred.append(tags)
    model.train()
    scores = conlleval(gold, pred)
    return {k: v for k, v in scores.items() if not isinstance(v, dict)}


def ours(epochs: int, seed: int, overrides: list[str]) -> dict:
    params, splits, report, meta = load([f"seed={seed}", f"chunking.train.epochs={epochs}",
                                         f"chunking.train.batch_size={BATCH}", f"chunking.train.lr.full={LR}",
                                         "chunking.train.log_every=50", "chunking.train.checkpoint_every=0",
                                         *overrides])
    figures, _ = finetune(params, splits, meta)
    figures["train_sentences_per_s"] = figures["train_features_per_s"]  # windows: >= sentences
    figures["final"] = {s: {k: v for k, v in f.items() if not isinstance(v, dict)} for s, f in figures["final"].items()}
    return {**figures, "data_report": report}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", choices=["reference", "ours"], required=True)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a params key (as dvc exp run -S; reference: data keys only)")
    ap.add_argument("--tag", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.recipe == "ours":
        out = ours(args.epochs, args.seed, args.set)
    else:
        out = {**machine(), "precision": "fp32", **plain_loop(args.epochs, args.seed, args.set)}
    out.update({"recipe": args.recipe, "epochs": args.epochs, "seed": args.seed, "overrides": args.set,
                "total_s": round(time.perf_counter() - t0, 1)})
    print(json.dumps(out, indent=2))
    tag = args.tag or re.sub(r"[^A-Za-z0-9_.=-]+", "_", "_".join(s.split(".", 1)[-1] for s in args.set)) or "default"
    from ftpipe.io import write_json

    write_json(args.out or REPO / "benchmarks" / "results" / f"tagging_{args.recipe}_{tag}_ep{args.epochs}_seed{args.seed}.json",
               out)


if __name__ == "__main__":
    main()
