"""prepare: read a task's data (<task>.data), validate, split -> data/prepared/<task>/
{train,eval,test}.jsonl and meta.json; what was kept, repaired or dropped -> the report.

Reads params: <task>.task, <task>.data.
"""

from ftpipe import cli
from ftpipe.verbs.prepare import prepare


def main(args, params):
    prepare(params, args.out, args.report)


if __name__ == "__main__":
    p = cli.parser(__doc__)
    p.add_argument("--out", required=True, help="data/prepared/<task>")
    p.add_argument("--report", required=True, help="metrics/<task>/data.json")
    cli.run(main, p.parse_args())
