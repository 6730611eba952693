"""GLUE metrics with scikit-learn / scipy: MCC (CoLA), F1 and accuracy (MRPC, QQP),
Pearson / Spearman and MSE (STS-B), accuracy (the rest). Fractions, not percentages.

A constant prediction scores MCC 0 and correlation 0 (scipy's NaN for a constant input is
no score at all), never a crash. MNLI's mismatched evaluation set is scored apart:
``accuracy_mismatched`` beside ``accuracy`` (matched).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from .layouts import Layout


def _finite(x: float) -> float:
    return float(x) if np.isfinite(x) else 0.0


def classification_metrics(layout: Layout, predictions: Sequence[int], labels: Sequence[int]) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    out = {"accuracy": float(accuracy_score(labels, predictions))}
    if layout.metric == "mcc":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn warns on a constant prediction (MCC 0)
            out["mcc"] = _finite(matthews_corrcoef(labels, predictions))
    if layout.metric == "f1":
        out["f1"] = float(f1_score(labels, predictions, pos_label=1, zero_division=0))
    return out


def regression_metrics(predictions: Sequence[float], labels: Sequence[float]) -> dict:
    from scipy.stats import pearsonr, spearmanr

    p, y = np.asarray(predictions, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    constant = len(p) < 2 or np.ptp(p) == 0 or np.ptp(y) == 0
    return {"pearson": 0.0 if constant else _finite(pearsonr(p, y)[0]),
            "spearman": 0.0 if constant else _finite(spearmanr(p, y)[0]),
            "mse": float(np.mean((p - y) ** 2))}


def glue_metrics(layout: Layout, predictions: Sequence, labels: Sequence, subsets: Sequence[str] | None = None,
                 main_subset: str | None = None) -> dict:
    """The task's metrics; with ``subsets``, the main subset's under plain names and each
    other subset's with its name appended."""
    score = regression_metrics if layout.labels is None else (
        lambda p, y: classification_metrics(layout, p, y))
    if not subsets:
        return score(predictions, labels)
    out = {}
    for name in dict.fromkeys(subsets):
        idx = [i for i, s in enumerate(subsets) if s == name]
        m = score([predictions[i] for i in idx], [labels[i] for i in idx])
        out.update(m if name == main_subset else {f"{k}_{name}": v for k, v in m.items()})
    return out
