"""Fine-tune any task section of params.yaml on real data, outside DVC (not a test):
prepare -> featurize -> train (the metric every epoch) -> score every labelled split, and
print the figures with the machine. Settings are params.yaml's, changed with DVC's -S
syntax, so a figure describes the pipeline.

    # the 10,000-question SQuAD benchmark (80/20 split), 2 epochs
    python benchmarks/finetune.py qa --data ../shared/data/squad_v1.1 \\
        -S qa.data.train=train-v1.1-subset-first44articles.json -S qa.data.max_examples=10000 \\
        -S qa.train.epochs=2

Writes benchmarks/results/<section>_<tag>.json (--tag, default: the overrides).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO, finetune, section_params  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("section", help="a task section of params.yaml (qa, mc, cola, stsb, chunking)")
    ap.add_argument("--data", help="the data directory (sets <section>.data.dir)")
    ap.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a params key, as `dvc exp run -S` (repeatable)")
    ap.add_argument("--tag", default=None)
    ap.add_argument("--out", default=None, help="JSON file (default benchmarks/results/<section>_<tag>.json)")
    args = ap.parse_args()

    overrides = ([f"{args.section}.data.dir={args.data}"] if args.data else []) + args.set
    params = section_params(args.section, overrides)
    from ftpipe.verbs import task_of

    splits, report, meta = task_of(params).prepare(params.task.data)
    figures, _ = finetune(params, splits, meta)
    out = {"overrides": args.set, "data_report": report, **figures}
    print(json.dumps(out, indent=2, ensure_ascii=False))
    tag = args.tag or re.sub(r"[^A-Za-z0-9_.=-]+", "_", "_".join(s.split(".", 1)[-1] for s in args.set)) or "default"
    from ftpipe.io import write_json

    write_json(args.out or REPO / "benchmarks" / "results" / f"{args.section}_{tag}.json", out)


if __name__ == "__main__":
    main()
