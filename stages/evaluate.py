"""evaluate: predictions vs gold answers -> metrics/eval.json (EM/F1, v2 HasAns/NoAns).

Reads no params: the official SQuAD normalisation is fixed.
"""

import json

from ftpipe import cli
from ftpipe.io import read_jsonl, write_json
from ftpipe.metrics import squad_metrics


def main(args, params):
    with open(args.predictions, encoding="utf-8") as f:
        preds = json.load(f)
    refs = read_jsonl(args.references)
    metrics = squad_metrics(preds, refs)
    write_json(args.out, {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()})
    print(f"[evaluate] EM {metrics['exact_match']:.2f}  F1 {metrics['f1']:.2f}  ({metrics['total']} questions)")


if __name__ == "__main__":
    p = cli.parser(__doc__)
    p.add_argument("--predictions", default="predictions/qa/predictions.json")
    p.add_argument("--references", default="data/prepared/eval.jsonl")
    p.add_argument("--out", default="metrics/eval.json")
    cli.run(main, p.parse_args())
