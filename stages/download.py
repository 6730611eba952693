"""download: read the QA source(s), validate, normalise, split -> data/prepared/{train,eval}.jsonl
(and test.jsonl: unlabelled questions for the chained path, when data.test_source is set).

Reads params: seed, data.
"""

from ftpipe import cli
from ftpipe.io import atomic_dir, write_json, write_jsonl
from ftpipe.paragraphs import check_candidates
from ftpipe.squad import load_examples, split_examples


def main(args, params):
    d = params.data
    train, report = load_examples(d.source, d.split, d.version_2_with_negative, d.misplaced_answers, d.max_examples)
    reports = {"train_source": report.as_dict()}
    if d.eval_source:
        evals, eval_report = load_examples(d.eval_source, d.eval_split, d.version_2_with_negative,
                                           d.misplaced_answers)
        reports["eval_source"] = eval_report.as_dict()
    else:
        train, evals = split_examples(train, d.test_size, params.seed, d.split_by)
    test = []
    if d.test_source:
        test, test_report = load_examples(d.test_source, d.test_split, d.version_2_with_negative,
                                          d.misplaced_answers)
        check_candidates(test, f"{d.test_source} [{d.test_split}] (data.test_source needs the ADL format)")
        reports["test_source"] = test_report.as_dict()
    reports.update({"train_questions": len(train), "eval_questions": len(evals), "test_questions": len(test)})
    with atomic_dir(args.out) as tmp:
        write_jsonl(tmp / "train.jsonl", train)
        write_jsonl(tmp / "eval.jsonl", evals)
        if test:
            write_jsonl(tmp / "test.jsonl", test)
    write_json(args.report, reports)
    print(f"[download] {len(train)} train / {len(evals)} eval / {len(test)} test questions -> {args.out}")


if __name__ == "__main__":
    p = cli.parser(__doc__)
    p.add_argument("--out", default="data/prepared")
    p.add_argument("--report", default="metrics/data.json")
    cli.run(main, p.parse_args())
