"""tokenize_mc: questions + candidate paragraphs -> data/mc/{train,eval,test}.jsonl and
multiple-choice features data/mc/features/{train,eval,test}.

Candidates come with the ADL format; for SQuAD-format data they are derived here (gold
paragraph + mc.candidates - 1 seeded distractors from the same article). Reads params:
seed, mc.candidates, mc.max_length, mc.model.name.
"""

from pathlib import Path

from ftpipe import cli
from ftpipe.choice import tokenize_choices
from ftpipe.io import atomic_dir, read_jsonl, write_json, write_jsonl
from ftpipe.models import load_tokenizer
from ftpipe.paragraphs import check_candidates, derive_candidates
from ftpipe.windows import check_vocabulary


def main(args, params):
    import datasets

    mc = params.mc
    tokenizer = load_tokenizer(mc.model)
    splits = {s: read_jsonl(f"{args.prepared}/{s}.jsonl") for s in ("train", "eval", "test")
              if Path(f"{args.prepared}/{s}.jsonl").is_file()}
    pool = splits["train"] + splits["eval"]  # distractors may come from either side
    info = {}
    with atomic_dir(args.out) as tmp:
        for split, records in splits.items():
            records = derive_candidates(records, pool, mc.candidates, params.seed)
            check_candidates(records, f"{args.prepared}/{split}.jsonl")
            cols = tokenize_choices(records, tokenizer, mc.max_length)
            datasets.Dataset.from_dict(cols).save_to_disk(str(tmp / "features" / split))
            write_jsonl(tmp / f"{split}.jsonl", records)
            lengths = cols["length"]
            info[split] = {"questions": len(records), "candidates": sum(len(r["candidates"]) for r in records),
                           "mean_longest_tokens": round(sum(lengths) / len(lengths), 2),
                           "truncated_sequences": sum(len(ids) >= mc.max_length for g in cols["input_ids"] for ids in g),
                           "unk_token_pct": check_vocabulary((ids for g in cols["input_ids"] for ids in g), tokenizer,
                                                             mc.model.name, f"{args.prepared}/{split}.jsonl")}
            print(f"[tokenize_mc] {split}: {info[split]}")
    write_json(args.report, info)


if __name__ == "__main__":
    p = cli.parser(__doc__)
    p.add_argument("--prepared", default="data/prepared")
    p.add_argument("--out", default="data/mc")
    p.add_argument("--report", default="metrics/mc_features.json")
    cli.run(main, p.parse_args())
