"""chain: the chained path. The multiple-choice model picks a paragraph per question, the
QA model answers from it -> predictions/chain/{predictions.json, nbest_predictions.json,
choices.json} and, for unlabelled test questions, prediction.csv (``id,answer``, the ADL
course's submission format); MC accuracy, end-to-end EM/F1 and where each error comes
from -> metrics/chain.json.

Reads params: predict, qa.tokenize, qa.predict.
"""

from ftpipe import chain, cli


def main(args, params):
    chain.run(params, args.mc_model, args.qa_model, args.mc_features, args.mc_prepared, args.qa_prepared,
              args.out, args.metrics)


if __name__ == "__main__":
    p = cli.parser(__doc__, task=False)
    p.add_argument("--qa", default="qa", help="params section of the QA task (default: qa)")
    p.add_argument("--mc-model", required=True, help="models/mc")
    p.add_argument("--qa-model", required=True, help="models/qa")
    p.add_argument("--mc-features", required=True, help="data/features/mc")
    p.add_argument("--mc-prepared", required=True, help="data/prepared/mc (records with candidates)")
    p.add_argument("--qa-prepared", required=True, help="data/prepared/qa (meta.json)")
    p.add_argument("--out", required=True, help="predictions/chain")
    p.add_argument("--metrics", required=True, help="metrics/chain.json")
    args = p.parse_args()
    args.task = args.qa  # the chain reads the QA section's tokenize / predict settings
    cli.run(main, args)
