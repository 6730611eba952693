"""evaluate: predictions vs gold answers -> metrics/eval.json (QA on the gold paragraph:
EM/F1, v2 HasAns/NoAns) and metrics/chain.json (the chained path: multiple-choice
accuracy, end-to-end EM/F1, and which model each error comes from).

Reads no params: the official SQuAD normalisation is fixed.
"""

import json

from ftpipe import cli
from ftpipe.chain import chain_metrics
from ftpipe.io import read_jsonl, write_json
from ftpipe.metrics import squad_metrics


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main(args, params):
    metrics = squad_metrics(read_json(args.predictions), read_jsonl(args.references))
    write_json(args.out, {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()})
    print(f"[evaluate] QA on the gold paragraph: EM {metrics['exact_match']:.2f}  F1 {metrics['f1']:.2f}  "
          f"({metrics['total']} questions)")
    if args.chain:
        choices = {i: c["choice"] for i, c in read_json(f"{args.chain}/choices.json").items()}
        chain = chain_metrics(read_jsonl(args.chain_references), choices,
                              read_json(f"{args.chain}/predictions.json"))
        write_json(args.chain_out, chain)
        print(f"[evaluate] chain: MC accuracy {chain['mc_accuracy']:.2f}  end-to-end EM "
              f"{chain['end_to_end_exact_match']:.2f}  F1 {chain['end_to_end_f1']:.2f}  {chain['breakdown']}")


if __name__ == "__main__":
    p = cli.parser(__doc__)
    p.add_argument("--predictions", default="predictions/qa/predictions.json")
    p.add_argument("--references", default="data/prepared/eval.jsonl")
    p.add_argument("--out", default="metrics/eval.json")
    p.add_argument("--chain", default=None, help="predictions/chain (omit: QA only)")
    p.add_argument("--chain-references", default="data/mc/eval.jsonl")
    p.add_argument("--chain-out", default="metrics/chain.json")
    cli.run(main, p.parse_args())
