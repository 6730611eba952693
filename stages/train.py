"""train: fine-tune the QA model on the training windows -> models/qa/{final,best}.

Reads params: seed, model, train, predict (per-epoch EM/F1 uses the same post-processing
as the predict stage), data.version_2_with_negative. Logs per-step loss and per-epoch
EM/F1 to metrics/train/{steps,epochs}.tsv and a summary to metrics/train.json.
"""

from ftpipe import cli
from ftpipe.config import to_dict
from ftpipe.io import read_jsonl
from ftpipe.models import apply_method, load_model, load_tokenizer
from ftpipe.qa import evaluator, load_features, train_collator
from ftpipe.training import train_and_save


def main(args, params):
    from transformers import AutoModelForQuestionAnswering

    tokenizer = load_tokenizer(params.model)
    train_ds = load_features(f"{args.features}/train")
    eval_ds = load_features(f"{args.features}/eval")
    eval_examples = read_jsonl(f"{args.prepared}/eval.jsonl")
    model = apply_method(load_model(params.model, AutoModelForQuestionAnswering, params.seed), params.train)
    train_and_save(
        model, tokenizer, train_ds, train_collator(tokenizer, train_ds.column_names), params.train, params.seed,
        evaluator(eval_ds, eval_examples, tokenizer.pad_token_id, params.predict,
                  params.data.version_2_with_negative, params.predict.precision),
        best_metric="f1", out_dir=args.out, metrics_path=args.metrics, log_dir=args.logs,
        checkpoint_root=args.checkpoints, key_parts=[to_dict(params.model), to_dict(params.predict)])


if __name__ == "__main__":
    p = cli.parser(__doc__)
    p.add_argument("--features", default="data/features")
    p.add_argument("--prepared", default="data/prepared")
    p.add_argument("--out", default="models/qa")
    p.add_argument("--metrics", default="metrics/train.json")
    p.add_argument("--logs", default="metrics/train")
    p.add_argument("--checkpoints", default="checkpoints/qa")
    cli.run(main, p.parse_args())
