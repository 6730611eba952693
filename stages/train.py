"""train: fine-tune the task's model -> models/<task>/{final,best}; dvclive logs (loss,
lr, throughput per step; evaluation per epoch; the summary) -> metrics/<task>/train/.

Reads params: seed, train (merged with <task>.train), <task>.task, <task>.model,
<task>.predict and predict.batch_size / predict.precision (the per-epoch evaluation),
encoder.trust_remote_code. Resumes from checkpoints/<task> after a kill.
"""

from ftpipe import cli
from ftpipe.verbs.train import train


def main(args, params):
    train(params, args.features, args.prepared, args.out, args.logs, args.checkpoints)


if __name__ == "__main__":
    p = cli.parser(__doc__)
    p.add_argument("--features", required=True, help="data/features/<task>")
    p.add_argument("--prepared", required=True, help="data/prepared/<task>")
    p.add_argument("--out", required=True, help="models/<task>")
    p.add_argument("--logs", required=True, help="metrics/<task>/train (dvclive)")
    p.add_argument("--checkpoints", required=True, help="checkpoints/<task> (resumable state)")
    cli.run(main, p.parse_args())
