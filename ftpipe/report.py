"""Compare DVC experiments side by side: a Markdown table and PNG plots.

    python -m ftpipe.report --out reports            # every experiment of the workspace
    python -m ftpipe.report --out reports exp-a exp-b

Why a script and not a DVC stage: a stage runs inside one experiment and sees only its
own outputs; a comparison reads all of them. It reads ``dvc exp show --json`` (params and
metrics of each experiment) and each experiment's per-epoch curve from its git commit
(dvclive's TSVs are non-cached outputs, so DVC commits them with the experiment). One row
per experiment and task section; writes ``comparison.md``, and per task
``<task>_metric_vs_trainable.png`` and ``<task>_epochs.png``. ``dvc plots diff <exps>``
overlays the same curves in HTML.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Callable, Iterable

from .config import BASE_SECTIONS, deep_merge
from .io import write_text

PARAMS = "params.yaml"
CHAIN = "metrics/chain.json"
COLUMNS = ["experiment", "task", "method", "lora_r", "batch_size", "lr", "epochs", "trainable_pct", "metric",
           "value", "train_time_s", "features_per_s"]


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


def task_metric(task: str) -> str:
    from .tasks import get_task

    return get_task(task).metric


def sections(params: dict) -> list[str]:
    return [k for k, v in params.items() if k not in BASE_SECTIONS and isinstance(v, dict) and "task" in v]


def rows(exp: dict) -> list[dict]:
    """One row per task section of an experiment (and one for the chain, if it ran)."""
    p, m = exp["params"], exp["metrics"]
    out = []
    for s in sections(p):
        tp = deep_merge(p.get("train", {}), p[s].get("train") or {})
        train = m.get(f"metrics/{s}/train/metrics.json", {})
        metric = train.get("metric") or task_metric(p[s]["task"])  # the metric that picked the best epoch
        method = tp.get("method")
        out.append({
            "experiment": exp["name"], "task": s, "method": method,
            "lora_r": (tp.get("lora") or {}).get("r") if method == "lora" else None,
            "batch_size": tp.get("batch_size"), "lr": (tp.get("lr") or {}).get(method), "epochs": tp.get("epochs"),
            "trainable_pct": train.get("trainable_pct"), "trainable_params": train.get("trainable_params"),
            "metric": metric, "value": m.get(f"metrics/{s}/eval.json", {}).get(metric),
            "train_time_s": train.get("train_time_s"), "features_per_s": train.get("features_per_s")})
    if CHAIN in m:
        out.append({"experiment": exp["name"], "task": "chain", "metric": "end_to_end_f1",
                    "value": m[CHAIN].get("end_to_end_f1")})
    return out


def _cell(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e-2 and v else f"{v:.2f}"
    return str(v)


def markdown(table: list[dict]) -> str:
    cols = [c for c in COLUMNS if any(r.get(c) is not None for r in table)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in table]
    return "\n".join(lines) + "\n"


def git_reader(repo: str | Path = ".") -> Callable[[str, str], str | None]:
    def read(rev: str, path: str) -> str | None:
        p = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, text=True)
        return p.stdout if p.returncode == 0 else None

    return read


def epoch_curves(exps: Iterable[dict], read: Callable[[str, str], str | None], section: str,
                 metric: str) -> dict:
    """{experiment: (steps, values)} of a section's eval metric, from each experiment's commit."""
    curves = {}
    for e in exps:
        text = read(e["rev"], f"metrics/{section}/train/plots/metrics/eval/{metric}.tsv")
        if not text:
            continue
        table = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
        curves[e["name"]] = ([int(r["step"]) for r in table], [float(r[metric]) for r in table])
    return curves


def scatter(points: list[dict], section: str, path: Path) -> None:
    from .plots import plt, save_figure

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for r in points:
        ax.scatter(r["trainable_params"], r["value"])
        ax.annotate(r["experiment"], (r["trainable_params"], r["value"]), fontsize=8, xytext=(4, 4),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (log scale)")
    ax.set_ylabel(points[0]["metric"])
    ax.set_title(f"{section}: {points[0]['metric']} vs trainable parameters")
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def write_report(exps: list[dict], read: Callable[[str, str], str | None], out_dir: str | Path) -> list[Path]:
    from .plots import line_plot

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = [r for e in exps for r in rows(e)]
    written = [out_dir / "comparison.md"]
    write_text(written[0], "# Experiments\n\n" + markdown(table))
    for section in dict.fromkeys(r["task"] for r in table if r["task"] != "chain"):
        points = [r for r in table if r["task"] == section and r["trainable_params"] and r["value"] is not None]
        if points:
            written.append(out_dir / f"{section}_metric_vs_trainable.png")
            scatter(points, section, written[-1])
        metric = next(r["metric"] for r in table if r["task"] == section)
        curves = epoch_curves(exps, read, section, metric)
        if curves:
            written.append(out_dir / f"{section}_epochs.png")
            line_plot(curves, f"{section}: {metric} per epoch", "optimizer step", metric, written[-1], markers=True)
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
