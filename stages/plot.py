"""plot: training logs -> PNG plots in plots/ (DVC's own plots are declared in dvc.yaml).

Reads no params.
"""

from ftpipe import cli
from ftpipe.plots import training_plots


def main(args, params):
    written = training_plots(args.qa_logs, args.out, "qa", ["exact_match", "f1"])
    if args.mc_logs:
        written += training_plots(args.mc_logs, args.out, "mc", ["accuracy"])
    for path in written:
        print(f"[plot] {path}")


if __name__ == "__main__":
    p = cli.parser(__doc__)
    p.add_argument("--qa-logs", default="metrics/train")
    p.add_argument("--mc-logs", default=None, help="metrics/mc_train (omit: QA only)")
    p.add_argument("--out", default="plots")
    cli.run(main, p.parse_args())
