"""tokenize: prepared records -> model features on disk (data/features/<task>/<split>).

Reads params: <task>.task, <task>.tokenize, <task>.model.dir (its tokenizer),
encoder.trust_remote_code. Training params never touch this stage.
"""

from ftpipe import cli
from ftpipe.verbs.tokenize import tokenize


def main(args, params):
    tokenize(params, args.prepared, args.out, args.report)


if __name__ == "__main__":
    p = cli.parser(__doc__)
    p.add_argument("--prepared", required=True, help="data/prepared/<task>")
    p.add_argument("--out", required=True, help="data/features/<task>")
    p.add_argument("--report", required=True, help="metrics/<task>/features.json")
    cli.run(main, p.parse_args())
