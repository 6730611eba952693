"""The CI report: run the pipeline, then one Markdown file with what changed against the
base branch, for the pull request.

    python -m ftpipe.ci_report --base origin/main           # dvc repro, then the report
    python -m ftpipe.ci_report --base HEAD~1 --no-repro     # the report of the workspace as it is

Writes ``<out>/report.md``: ``dvc metrics diff --md`` and ``dvc params diff --md`` against
``--base``, and for each training curve that changed (dvclive's TSVs under
``metrics/<task>/train/plots/metrics``) a PNG with the base and the new curve, linked from
the report, so it reads offline and in a pull-request comment (CML: ``cml comment create
<out>/report.md``; see .github/workflows/ci.yml). Needs nothing but the project's
environment and git.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import subprocess
import sys
from pathlib import Path

from .io import write_text
from .shell import run_command

CURVES = re.compile(r"^metrics/([^/]+)/train/plots/metrics/(.+)\.tsv$")


def run(cmd: list[str], check: bool = True) -> str:
    return run_command(cmd, check).stdout


def tracked_curves(rev: str | None) -> dict[str, str]:
    """{path: text} of every dvclive curve in the workspace (rev None) or in git at ``rev``."""
    if rev is None:
        paths = [str(p) for p in Path("metrics").glob("*/train/plots/metrics/**/*.tsv")]
        return {p: Path(p).read_text() for p in paths if CURVES.match(p)}
    listing = run(["git", "ls-tree", "-r", "--name-only", rev, "metrics"], check=False).split()
    return {p: run(["git", "show", f"{rev}:{p}"]) for p in listing if CURVES.match(p)}


def _series(text: str) -> tuple[list[float], list[float]]:
    table = list(csv.reader(io.StringIO(text), delimiter="\t"))
    return [float(r[0]) for r in table[1:]], [float(r[1]) for r in table[1:]]


def changed_plots(base: str, out_dir: Path) -> list[Path]:
    from .plots import line_plot

    old, new = tracked_curves(base), tracked_curves(None)
    written = []
    for path in sorted(set(new) | set(old)):
        if old.get(path) == new.get(path):
            continue
        task, name = CURVES.match(path).groups()
        series = {f"{label}": _series(text) for label, text in (("base", old.get(path)), ("this change", new.get(path)))
                  if text}
        png = out_dir / f"{task}_{name.replace('/', '_')}.png"
        line_plot(series, f"{task}: {name}", "optimizer step", name.split("/")[-1], png)
        written.append(png)
    return written


def report(base: str, out_dir: str | Path) -> Path:
    out_dir = Path(out_dir)
    metrics = run(["dvc", "metrics", "diff", base, "--md"]).strip() or "No metric changed."
    params = run(["dvc", "params", "diff", base, "--md"]).strip() or "No param changed."
    plots = changed_plots(base, out_dir)
    head = run(["git", "rev-parse", "--short", "HEAD"]).strip()
    lines = [f"# Pipeline report: this change against {base}", "", f"Commit {head}; `dvc repro` on the embedded "
             "default data and model.", "", "## Metrics", "", metrics, "", "## Params", "", params, "",
             "## Training curves that changed", ""]
    lines += [f"![{p.stem}]({p.name})" for p in plots] or ["None."]
    path = out_dir / "report.md"
    write_text(path, "\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="origin/main", help="the git revision to compare with")
    ap.add_argument("--out", default="ci-report")
    ap.add_argument("--no-repro", action="store_true", help="report the workspace as it is")
    args = ap.parse_args(argv)
    if not args.no_repro:
        subprocess.run(["dvc", "repro"], check=True)
    print(f"[ci_report] {report(args.base, args.out)}")


if __name__ == "__main__":
    sys.exit(main())
