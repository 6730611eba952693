"""predict_chain: the chained path. The multiple-choice model picks a paragraph per
question, the QA model answers from it -> predictions/chain/{predictions.json,
nbest_predictions.json, choices.json} and, for unlabelled test questions, prediction.csv
(``id,answer``, the ADL course's submission format).

Reads params: predict (checkpoint, batch size, n-best, ...), tokenize (QA windows),
data.version_2_with_negative.
"""

from pathlib import Path

from ftpipe import choice, cli, qa
from ftpipe.chain import answer_chosen, choose, submission_csv
from ftpipe.io import atomic_dir, read_jsonl, write_json, write_text


def main(args, params):
    pr = params.predict
    mc_model, mc_tok = choice.load_trained(f"{args.mc_model}/{pr.checkpoint}")
    qa_model, qa_tok = qa.load_trained(f"{args.qa_model}/{pr.checkpoint}")
    with atomic_dir(args.out) as tmp:
        for split in ("eval", "test"):
            if not Path(f"{args.mc_data}/{split}.jsonl").is_file():
                continue
            records = read_jsonl(f"{args.mc_data}/{split}.jsonl")
            logits = choice.choice_logits(mc_model, qa.load_features(f"{args.mc_data}/features/{split}"),
                                          mc_tok.pad_token_id, pr.batch_size, pr.precision)
            picks = choose(logits)
            answers, nbest, timing = answer_chosen(qa_model, qa_tok, records, picks, params.tokenize, pr,
                                                   params.data.version_2_with_negative)
            prefix = "" if split == "eval" else "test_"
            write_json(tmp / f"{prefix}predictions.json", answers)
            write_json(tmp / f"{prefix}nbest_predictions.json", nbest, indent=None)
            write_json(tmp / f"{prefix}choices.json",
                       {r["id"]: {"choice": c, "label": r.get("label"), "scores": [round(float(x), 4) for x in s]}
                        for r, c, s in zip(records, picks, logits)})
            if split == "test":
                write_text(tmp / "prediction.csv", submission_csv(records, answers))
            print(f"[predict_chain] {split}: {len(answers)} answers ({sum(timing.values()):.1f}s QA)")


if __name__ == "__main__":
    p = cli.parser(__doc__)
    p.add_argument("--mc-model", default="models/mc")
    p.add_argument("--qa-model", default="models/qa")
    p.add_argument("--mc-data", default="data/mc")
    p.add_argument("--out", default="predictions/chain")
    cli.run(main, p.parse_args())
