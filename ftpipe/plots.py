"""PNG plots a person can open offline (DVC's HTML plots load vega from a CDN)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_tsv(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [{k: _num(v) for k, v in row.items()} for row in csv.DictReader(f, delimiter="\t")]


def _num(v: str):
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def save_figure(fig, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)


def line_plot(series: dict[str, tuple[list, list]], title: str, xlabel: str, ylabel: str, path: str | Path,
              markers: bool = False) -> None:
    """``series``: label -> (x values, y values)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for label, (x, y) in series.items():
        ax.plot(x, y, marker="o" if markers else None, label=label)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend()
    save_figure(fig, path)


def training_plots(log_dir: str | Path, out_dir: str | Path, prefix: str, metrics: list[str]) -> list[Path]:
    """loss per step and the given per-epoch eval metrics, from a training run's TSV logs."""
    log_dir, out_dir = Path(log_dir), Path(out_dir)
    written = []
    steps_file = log_dir / "steps.tsv"
    if steps_file.exists():
        rows = read_tsv(steps_file)
        line_plot({"train loss": ([r["step"] for r in rows], [r["loss"] for r in rows])},
                  f"{prefix}: training loss", "optimizer step", "loss", out_dir / f"{prefix}_loss.png")
        written.append(out_dir / f"{prefix}_loss.png")
    rows = read_tsv(log_dir / "epochs.tsv")
    series = {m: ([r["epoch"] for r in rows], [r[f"eval_{m}"] for r in rows]) for m in metrics
              if rows and f"eval_{m}" in rows[0]}
    series["train loss"] = ([r["epoch"] for r in rows], [r["train_loss"] for r in rows])
    loss = series.pop("train loss")
    if series:
        line_plot(series, f"{prefix}: evaluation per epoch", "epoch", "score", out_dir / f"{prefix}_eval.png",
                  markers=True)
        written.append(out_dir / f"{prefix}_eval.png")
    line_plot({"train loss": loss}, f"{prefix}: training loss per epoch", "epoch", "mean loss",
              out_dir / f"{prefix}_epoch_loss.png", markers=True)
    written.append(out_dir / f"{prefix}_epoch_loss.png")
    return written
