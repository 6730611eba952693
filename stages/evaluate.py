"""evaluate: predictions of the eval split vs its gold labels -> metrics/<task>/eval.json
(and breakdowns such as chunk F1 per type -> eval_detail.json).

Reads params: <task>.task (the metrics are fixed by the task).
"""

from ftpipe import cli
from ftpipe.verbs.evaluate import evaluate


def main(args, params):
    evaluate(params, args.predictions, args.prepared, args.out, args.detail)


if __name__ == "__main__":
    p = cli.parser(__doc__)
    p.add_argument("--predictions", required=True, help="predictions/<task>")
    p.add_argument("--prepared", required=True, help="data/prepared/<task>")
    p.add_argument("--out", required=True, help="metrics/<task>/eval.json")
    p.add_argument("--detail", required=True, help="metrics/<task>/eval_detail.json (breakdowns)")
    cli.run(main, p.parse_args())
