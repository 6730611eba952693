"""tokenize: question/context pairs -> sliding windows on disk (data/features/{train,eval}).

Reads params: model.name, tokenize. Training params do not touch this stage, so
changing them never re-tokenizes.
"""

from ftpipe import cli
from ftpipe.io import atomic_dir, read_jsonl, write_json
from ftpipe.models import load_tokenizer
from ftpipe.windows import check_question_lengths, check_vocabulary, to_columns, tokenize_eval, tokenize_train


def main(args, params):
    import datasets

    t = params.tokenize
    tokenizer = load_tokenizer(params.model)
    info = {}
    with atomic_dir(args.out) as tmp:
        for split, fn in (("train", tokenize_train), ("eval", tokenize_eval)):
            path = f"{args.prepared}/{split}.jsonl"
            examples = read_jsonl(path)
            check_question_lengths(examples, tokenizer, t.max_length, path)
            cols = fn(to_columns(examples), tokenizer, t.max_length, t.stride, t.pad_to_max_length)
            ds = datasets.Dataset.from_dict(cols)
            ds.save_to_disk(str(tmp / split))
            lengths = cols["length"]
            info[split] = {"examples": len(examples), "windows": len(lengths),
                           "windows_per_example": round(len(lengths) / len(examples), 4),
                           "mean_tokens": round(sum(lengths) / len(lengths), 2), "max_tokens": max(lengths),
                           "unk_token_pct": check_vocabulary(cols["input_ids"], tokenizer, params.model.name, path)}
            print(f"[tokenize] {split}: {info[split]}")
    write_json(args.report, info)


if __name__ == "__main__":
    p = cli.parser(__doc__)
    p.add_argument("--prepared", default="data/prepared")
    p.add_argument("--out", default="data/features")
    p.add_argument("--report", default="metrics/features.json")
    cli.run(main, p.parse_args())
