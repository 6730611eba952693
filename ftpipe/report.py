"""Compare DVC experiments side by side: a Markdown table and PNG plots.

    python -m ftpipe.report --out reports            # every experiment of the workspace
    python -m ftpipe.report --out reports exp-a exp-b

Why a script and not a DVC stage: a stage runs inside one experiment and sees only its
own outputs; a comparison reads all of them. It reads ``dvc exp show --json`` (params and
metrics of each experiment) and each experiment's per-epoch log from its git commit
(``metrics/train/epochs.tsv`` is a non-cached output, so DVC commits it with the
experiment). Writes ``comparison.md``, ``metric_vs_trainable.png`` and
``epochs_overlay.png``. ``dvc plots diff <exps>`` overlays the same curves in HTML.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Callable, Iterable

from .io import write_text

PARAMS = "params.yaml"
TRAIN = "metrics/train.json"
EVAL = "metrics/eval.json"
CHAIN = "metrics/chain.json"
EPOCHS = "metrics/train/epochs.tsv"

COLUMNS = ["experiment", "method", "lora_r", "batch_size", "lr", "epochs", "trainable_pct", "exact_match", "f1",
           "mc_accuracy", "end_to_end_f1", "train_time_s", "features_per_s"]


def _files(node: dict, kind: str) -> dict:
    """{path: data} of one experiment's ``params`` or ``metrics`` in dvc's JSON."""
    out = {}
    for path, entry in ((node.get("data") or {}).get(kind) or {}).items():
        if isinstance(entry, dict) and isinstance(entry.get("data"), dict):
            out[path] = entry["data"]
    return out


def experiments(show: list | dict) -> list[dict]:
    """Flatten ``dvc exp show --json`` (baseline commits and their experiments) into
    records ``{name, rev, params, metrics}``; the workspace entry is skipped."""
    found: list[dict] = []

    def walk(node):
        if isinstance(node, list):
            for n in node:
                walk(n)
            return
        if not isinstance(node, dict):
            return
        if "data" in node and "rev" in node and node.get("rev") != "workspace":
            params, metrics = _files(node, "params"), _files(node, "metrics")
            if params or metrics:
                found.append({"name": node.get("name") or str(node["rev"])[:7], "rev": node["rev"],
                              "params": params.get(PARAMS, {}), "metrics": metrics})
        for key in ("experiments", "revs"):
            walk(node.get(key))

    walk(show)
    return found


def row(exp: dict) -> dict:
    p, m = exp["params"], exp["metrics"]
    train, ev, chain = m.get(TRAIN, {}), m.get(EVAL, {}), m.get(CHAIN, {})
    tp = p.get("train", {})
    return {
        "experiment": exp["name"], "method": tp.get("method"),
        "lora_r": (tp.get("lora") or {}).get("r") if tp.get("method") == "lora" else None,
        "batch_size": tp.get("batch_size"), "lr": tp.get("lr"), "epochs": tp.get("epochs"),
        "trainable_pct": train.get("trainable_pct"), "trainable_params": train.get("trainable_params"),
        "exact_match": ev.get("exact_match"), "f1": ev.get("f1"),
        "mc_accuracy": chain.get("mc_accuracy"), "end_to_end_f1": chain.get("end_to_end_f1"),
        "train_time_s": train.get("train_time_s"), "features_per_s": train.get("features_per_s"),
    }


def _cell(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e-2 and v else f"{v:.2f}"
    return str(v)


def markdown(rows: list[dict]) -> str:
    cols = [c for c in COLUMNS if any(r.get(c) is not None for r in rows)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def git_reader(repo: str | Path = ".") -> Callable[[str, str], str | None]:
    def read(rev: str, path: str) -> str | None:
        p = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, text=True)
        return p.stdout if p.returncode == 0 else None

    return read


def epoch_curves(exps: Iterable[dict], read: Callable[[str, str], str | None], metric: str = "eval_f1") -> dict:
    """{experiment: (epochs, values)} from each experiment's committed epochs.tsv."""
    curves = {}
    for e in exps:
        text = read(e["rev"], EPOCHS)
        if not text:
            continue
        rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
        if rows and metric in rows[0]:
            curves[e["name"]] = ([int(r["epoch"]) for r in rows], [float(r[metric]) for r in rows])
    return curves


def write_report(exps: list[dict], read: Callable[[str, str], str | None], out_dir: str | Path) -> list[Path]:
    from .plots import line_plot, plt, save_figure

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [row(e) for e in exps]
    written = [out_dir / "comparison.md"]
    write_text(written[0], "# Experiments\n\n" + markdown(rows))
    points = [r for r in rows if r["trainable_params"] and r["f1"] is not None]
    if points:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for r in points:
            ax.scatter(r["trainable_params"], r["f1"])
            ax.annotate(r["experiment"], (r["trainable_params"], r["f1"]), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("trainable parameters (log scale)")
        ax.set_ylabel("F1 on the evaluation set")
        ax.set_title("final F1 vs trainable parameters")
        ax.grid(alpha=0.3)
        save_figure(fig, out_dir / "metric_vs_trainable.png")
        written.append(out_dir / "metric_vs_trainable.png")
    curves = epoch_curves(exps, read)
    if curves:
        line_plot(curves, "F1 per epoch", "epoch", "F1", out_dir / "epochs_overlay.png", markers=True)
        written.append(out_dir / "epochs_overlay.png")
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="experiments to include (default: all)")
    ap.add_argument("--out", default="reports")
    args = ap.parse_args(argv)
    p = subprocess.run(["dvc", "exp", "show", "--json"], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"error: dvc exp show failed: {p.stderr.strip()}")
    exps = experiments(json.loads(p.stdout))
    if args.names:
        exps = [e for e in exps if e["name"] in args.names]
    if not exps:
        raise SystemExit("error: no experiments with metrics found (run `dvc exp run` first)")
    for path in write_report(exps, git_reader(), args.out):
        print(f"[report] {path}")


if __name__ == "__main__":
    main()
