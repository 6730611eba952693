"""predict: trained model + evaluation windows -> predictions.json, nbest_predictions.json.

Reads params: predict, data.version_2_with_negative. Output formats are SQuAD's:
``{id: answer}`` and ``{id: [{text, probability, start_logit, end_logit, ...}, ...]}``.
"""

from ftpipe import cli
from ftpipe.io import atomic_dir, read_jsonl, write_json
from ftpipe.qa import load_features, load_trained, predict


def main(args, params):
    model, tokenizer = load_trained(f"{args.model}/{params.predict.checkpoint}")
    features = load_features(f"{args.features}/eval")
    examples = read_jsonl(f"{args.prepared}/eval.jsonl")
    preds, nbest, timing = predict(model, features, examples, tokenizer.pad_token_id, params.predict,
                                   params.data.version_2_with_negative, params.predict.precision)
    with atomic_dir(args.out) as tmp:
        write_json(tmp / "predictions.json", preds)
        write_json(tmp / "nbest_predictions.json", nbest, indent=None)
        write_json(tmp / "timing.json", {"examples": len(examples), "windows": len(features),
                                         **{k: round(v, 3) for k, v in timing.items()}})
    print(f"[predict] {len(preds)} answers in {sum(timing.values()):.1f}s -> {args.out}")


if __name__ == "__main__":
    p = cli.parser(__doc__)
    p.add_argument("--model", default="models/qa")
    p.add_argument("--features", default="data/features")
    p.add_argument("--prepared", default="data/prepared")
    p.add_argument("--out", default="predictions/qa")
    cli.run(main, p.parse_args())
