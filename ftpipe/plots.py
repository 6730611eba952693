"""PNG plots a person can open offline (DVC's HTML plots load vega from a CDN)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .io import atomic_dir, atomic_file, read_tsv  # noqa: E402


def save_figure(fig, path: str | Path) -> None:
    try:
        with atomic_file(path) as tmp:
            fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)


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
    mean training loss per epoch (x: optimizer step). ``out_dir`` is replaced as a whole."""
    log_dir, out_dir = Path(log_dir), Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        written = _training_plots(log_dir, tmp, title)
    return [out_dir / p.name for p in written]


def _training_plots(log_dir: Path, out_dir: Path, title: str) -> list[Path]:
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
