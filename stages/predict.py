"""predict: trained model + features -> predictions/<task>/<split>/ in the task's formats
(QA: SQuAD's predictions.json and nbest_predictions.json; multiple choice: choices.json).

Reads params: predict, <task>.task, <task>.predict.
"""

from ftpipe import cli
from ftpipe.verbs.predict import predict


def main(args, params):
    predict(params, args.model, args.features, args.prepared, args.out)


if __name__ == "__main__":
    p = cli.parser(__doc__)
    p.add_argument("--model", required=True, help="models/<task>")
    p.add_argument("--features", required=True, help="data/features/<task>")
    p.add_argument("--prepared", required=True, help="data/prepared/<task>")
    p.add_argument("--out", required=True, help="predictions/<task>")
    cli.run(main, p.parse_args())
