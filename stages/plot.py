"""plot: a task's dvclive training logs -> PNG plots in plots/<task>/ (loss, evaluation,
loss per epoch), for reading offline (DVC's own HTML plots load vega from a CDN).

Reads no params.
"""

from ftpipe import cli
from ftpipe.plots import training_plots


def main(args, params):
    for path in training_plots(args.logs, args.out, args.title):
        print(f"[plot] {path}")


if __name__ == "__main__":
    p = cli.parser(__doc__, task=False)
    p.add_argument("--logs", required=True, help="metrics/<task>/train (dvclive)")
    p.add_argument("--out", required=True, help="plots/<task>")
    p.add_argument("--title", required=True, help="the task section, for the titles")
    cli.run(main, p.parse_args())
