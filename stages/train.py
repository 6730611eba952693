"""train: fine-tune the QA model on the training windows -> models/qa/{final,best}.

Reads params: seed, model, train, predict (per-epoch EM/F1 uses the same post-processing
as the predict stage), data.version_2_with_negative. Logs per-step loss and per-epoch
EM/F1 to metrics/train/{steps,epochs}.tsv and a summary to metrics/train.json.
"""

import shutil
from pathlib import Path

from ftpipe import cli
from ftpipe.config import to_dict
from ftpipe.io import atomic_dir, read_jsonl, write_json
from ftpipe.models import apply_method, count_parameters, load_model, load_tokenizer, save_model
from ftpipe.qa import evaluator, load_features, train_collator
from ftpipe.training import fit


def main(args, params):
    from transformers import AutoModelForQuestionAnswering

    tokenizer = load_tokenizer(params.model)
    train_ds = load_features(f"{args.features}/train")
    eval_ds = load_features(f"{args.features}/eval")
    eval_examples = read_jsonl(f"{args.prepared}/eval.jsonl")
    model = load_model(params.model, AutoModelForQuestionAnswering, params.seed)
    model = apply_method(model, params.train)
    counts = count_parameters(model)
    print(f"[train] method={params.train.method} lr={params.train.learning_rate:g} "
          f"params: {counts['trainable_params']:,} trainable of {counts['total_params']:,} "
          f"({counts['trainable_pct']:.2f}%)")

    ckpt_root = Path(args.checkpoints)
    best_dir = ckpt_root / "best"  # survives a killed run, like the resumable state

    def on_best(m, best):
        with atomic_dir(best_dir) as tmp:
            save_model(m, tokenizer, tmp)

    train_rows = train_ds.select_columns([c for c in train_ds.column_names if c not in ("length", "example_index")])
    result = fit(
        model, train_rows, train_collator(tokenizer, train_ds.column_names), train_ds["length"], params.train,
        params.seed,
        evaluate=evaluator(eval_ds, eval_examples, tokenizer.pad_token_id, params.predict,
                           params.data.version_2_with_negative, params.predict.precision),
        log_dir=args.logs, checkpoint_dir=ckpt_root / "state",
        key_parts=[to_dict(params.model), to_dict(params.predict)], best_metric="f1", on_best=on_best)

    with atomic_dir(args.out) as tmp:
        save_model(model, tokenizer, tmp / "final")
        if best_dir.exists():
            shutil.copytree(best_dir, tmp / "best")
    shutil.rmtree(ckpt_root, ignore_errors=True)
    last = result.history.epochs[-1]
    write_json(args.metrics, {
        "method": params.train.method, **counts,
        "epochs": len(result.history.epochs), "steps": result.steps,
        "train_time_s": round(result.train_time_s, 2),
        "features_per_s": round(result.features_per_s, 3), "tokens_per_s": round(result.tokens_per_s, 1),
        "final_train_loss": last["train_loss"],
        "best_epoch": result.best["epoch"] if result.best else None,
        "best_f1": result.best["f1"] if result.best else None,
    })


if __name__ == "__main__":
    p = cli.parser(__doc__)
    p.add_argument("--features", default="data/features")
    p.add_argument("--prepared", default="data/prepared")
    p.add_argument("--out", default="models/qa")
    p.add_argument("--metrics", default="metrics/train.json")
    p.add_argument("--logs", default="metrics/train")
    p.add_argument("--checkpoints", default="checkpoints/qa")
    cli.run(main, p.parse_args())
