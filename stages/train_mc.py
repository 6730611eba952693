"""train_mc: fine-tune the multiple-choice (paragraph selection) model -> models/mc/{final,best}.

Reads params: seed, mc.model, mc.train, predict.batch_size / predict.precision (per-epoch
evaluation). Logs to metrics/mc_train/{steps,epochs}.tsv and metrics/mc_train.json. The
same training loop as the QA model: accumulation, checkpoints, resume, best by accuracy.
"""

from ftpipe import cli
from ftpipe.choice import evaluator, train_collator
from ftpipe.config import to_dict
from ftpipe.models import apply_method, load_model, load_tokenizer
from ftpipe.qa import load_features
from ftpipe.training import train_and_save


def main(args, params):
    from transformers import AutoModelForMultipleChoice

    mc = params.mc
    tokenizer = load_tokenizer(mc.model)
    train_ds = load_features(f"{args.features}/train")
    eval_ds = load_features(f"{args.features}/eval")
    model = apply_method(load_model(mc.model, AutoModelForMultipleChoice, params.seed), mc.train)
    train_and_save(
        model, tokenizer, train_ds, train_collator(tokenizer, train_ds.column_names), mc.train, params.seed,
        evaluator(eval_ds, tokenizer.pad_token_id, params.predict.batch_size, params.predict.precision),
        best_metric="accuracy", out_dir=args.out, metrics_path=args.metrics, log_dir=args.logs,
        checkpoint_root=args.checkpoints,
        key_parts=[to_dict(mc.model), params.predict.batch_size, params.predict.precision])


if __name__ == "__main__":
    p = cli.parser(__doc__)
    p.add_argument("--features", default="data/mc/features")
    p.add_argument("--out", default="models/mc")
    p.add_argument("--metrics", default="metrics/mc_train.json")
    p.add_argument("--logs", default="metrics/mc_train")
    p.add_argument("--checkpoints", default="checkpoints/mc")
    cli.run(main, p.parse_args())
