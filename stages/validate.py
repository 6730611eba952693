"""validate: check the whole params.yaml before any other stage runs.

Every stage depends on this stage's output, so DVC runs it first. A bad value (`dvc exp
run -S qa.train.lr.full=-1`) fails here, before DVC removes the outputs of the stages the
change touches: the models and metrics of the last good run stay. The output's content
does not change while params are valid, so a valid change reruns only what it touches.

Reads params: all of params.yaml.
"""

from ftpipe import cli
from ftpipe.validation import validate


def main(args, params):
    validate(args.params, args.out)


if __name__ == "__main__":
    p = cli.parser(__doc__, task=False)
    p.add_argument("--out", required=True, help="data/params.ok")
    cli.run(main, p.parse_args())
