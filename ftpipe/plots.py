"""PNG plots a person can open offline (DVC's HTML plots load vega from a CDN)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .io import read_tsv  # noqa: E402


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


def dvclive_series(log_dir: str | Path, name: str) -> tuple[list, list] | None:
    """(steps, values) of one dvclive metric, e.g. ``train/loss`` or ``eval/f1``."""
    path = Path(log_dir) / "plots" / "metrics" / f"{name}.tsv"
    if not path.is_file():
        return None
    rows = read_tsv(path)
    leaf = name.split("/")[-1]
    return [r["step"] for r in rows], [r[leaf] for r in rows]


def training_plots(log_dir: str | Path, out_dir: str | Path, title: str) -> list[Path]:
    """From a training run's dvclive logs: loss per step, the evaluation metrics and the
    mean training loss per epoch (x: optimizer step)."""
    log_dir, out_dir = Path(log_dir), Path(out_dir)
    written = []
    loss = dvclive_series(log_dir, "train/loss")
    if loss:
        line_plot({"train loss": loss}, f"{title}: training loss", "optimizer step", "loss", out_dir / "loss.png")
        written.append(out_dir / "loss.png")
    eval_dir = log_dir / "plots" / "metrics" / "eval"
    names = sorted(p.stem for p in eval_dir.glob("*.tsv")) if eval_dir.is_dir() else []
    series = {n: dvclive_series(log_dir, f"eval/{n}") for n in names if n != "loss"}
    if series:
        line_plot(series, f"{title}: evaluation per epoch", "optimizer step", "score", out_dir / "eval.png",
                  markers=True)
        written.append(out_dir / "eval.png")
    epoch_loss = dvclive_series(log_dir, "train/epoch_loss")
    if epoch_loss:
        line_plot({"train loss": epoch_loss}, f"{title}: training loss per epoch", "optimizer step", "mean loss",
                  out_dir / "epoch_loss.png", markers=True)
        written.append(out_dir / "epoch_loss.png")
    return written
