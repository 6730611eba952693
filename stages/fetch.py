"""fetch: the pretrained encoder named by encoder.name -> models/encoder (every task's
starting point unless its model.dir says otherwise).

Reads params: encoder.
"""

from ftpipe import cli
from ftpipe.encoder import fetch


def main(args, params):
    fetch(params.encoder, args.out)


if __name__ == "__main__":
    p = cli.parser(__doc__, task=False)
    p.add_argument("--out", required=True, help="models/encoder")
    cli.run(main, p.parse_args())
