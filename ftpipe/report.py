"""Compare DVC experiments side by side: a Markdown table and PNG plots.

    python -m ftpipe.report --out reports            # every experiment of the workspace
    python -m ftpipe.report --out reports exp-a exp-b

Why a script and not a DVC stage: a stage runs inside one experiment and sees only its
own outputs; a comparison reads all of them. It reads ``dvc exp show --json`` (params and
metrics of each experiment) and each experiment's per-epoch curve from its git commit
(dvclive's TSVs are non-cached outputs, so DVC commits them with the experiment). One row
per experiment and task section, for the runs the experiment made itself: each
experiment's dvc.lock says which of its stages ran under its params (:func:`freshness`);
the rows it carried over from another run are left out with a note. Writes
``comparison.md``, and per task ``<task>_metric_vs_trainable.png`` and
``<task>_epochs.png``. ``dvc plots diff <exps>`` overlays the same curves in HTML.
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import json
import re
from pathlib import Path
from typing import Callable, Iterable

from .config import BASE_SECTIONS, deep_merge
from .io import write_text
from .shell import run_command

PARAMS = "params.yaml"
CHAIN = "metrics/chain.json"
COLUMNS = ["experiment", "task", "seed", "method", "lora_r", "batch_size", "lr", "epochs", "trainable_pct",
           "metric", "value", "train_time_s", "features_per_s"]


def _files(node: dict, kind: str) -> dict:
    """{path: data} of one experiment's ``params`` or ``metrics`` in dvc's JSON."""
    out = {}
    for path, entry in ((node.get("data") or {}).get(kind) or {}).items():
        if isinstance(entry, dict) and isinstance(entry.get("data"), dict):
            out[path] = entry["data"]
    return out


def experiments(show: list | dict) -> list[dict]:
    """Flatten ``dvc exp show --json`` (baseline commits and their experiments) into
    records ``{name, rev, params, metrics, timestamp}``, oldest first (a baseline commit
    before the experiments run from it); the workspace entry is skipped."""
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
                              "params": params.get(PARAMS, {}), "metrics": metrics,
                              "timestamp": (node.get("data") or {}).get("timestamp") or ""})
        for key in ("experiments", "revs"):
            walk(node.get(key))

    walk(show)
    return sorted(found, key=lambda e: e["timestamp"])


_ABSENT = object()


def _param(params: dict, key: str):
    node = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return _ABSENT
        node = node[part]
    return node


@functools.cache
def cache_objects(dvc_dir: Path) -> Path:
    """Where DVC 3 keeps this project's cached objects: ``files/md5`` under the cache
    directory its config names (``cache.dir`` at any level: system, global, project,
    local; a relative one is relative to that config file), else under ``.dvc/cache``."""
    from dvc.config import Config  # DVC resolves the levels and relative paths as `dvc cache dir` does

    return Path(Config(dvc_dir=str(dvc_dir))["cache"].get("dir") or dvc_dir / "cache") / "files" / "md5"


def cache_listing(md5: str, cache: Path | None = None) -> list[dict] | None:
    """The files of a cached directory output (DVC's ``.dir`` object: md5 and relpath of
    each), None where it is not in the cache."""
    path = (cache or cache_objects(Path(".dvc").resolve())) / md5[:2] / md5[2:]
    return json.loads(path.read_text()) if md5.endswith(".dir") and path.is_file() else None


def _inner_hash(listing: list[dict], rel: str) -> str | None:
    """The hash DVC records for the file or directory ``rel`` inside a cached directory: a
    file's md5, or a directory's as DVC computes it (the md5 of its sorted listing's JSON)."""
    import hashlib

    inner = [{"md5": e["md5"], "relpath": e["relpath"][len(rel) + 1:]} for e in listing
             if e["relpath"].startswith(rel + "/")]
    if inner:
        text = json.dumps(sorted(inner, key=lambda e: e["relpath"]), sort_keys=True)
        return hashlib.md5(text.encode("utf-8")).hexdigest() + ".dir"
    return next((e["md5"] for e in listing if e["relpath"] == rel), None)


def freshness(lock: dict | None, params: dict, listing: Callable[[str], list | None] = cache_listing
              ) -> Callable[[str], bool | None]:
    """``fresh(stage)`` for one experiment: whether its dvc.lock entry for ``stage`` was
    written under the experiment's params and its upstream stages' outputs, so the stage's
    outputs in that commit are the experiment's own run. DVC commits an experiment with
    every output: a stage its targets left out keeps the entry (and outputs) of the run it
    was carried from, the baseline's or an earlier workspace experiment's. A dependency
    inside an output directory is checked through that directory's listing in DVC's cache
    (not checked where the cache lacks it); code and data files are not compared (an
    experiment changes params). None for a stage the lock lacks."""
    stages = (lock or {}).get("stages") or {}
    made_by = {o["path"]: (name, o.get("md5")) for name, st in stages.items() for o in st.get("outs") or []}
    memo: dict[str, bool] = {}

    def dep_fresh(dep: dict) -> bool:
        for out, (name, md5) in made_by.items():
            if dep["path"] == out:
                return dep.get("md5") == md5 and bool(fresh(name))
            if dep["path"].startswith(out + "/"):  # inside an output directory
                files = listing(md5 or "")
                inner = _inner_hash(files, dep["path"][len(out) + 1:]) if files else None
                return (inner is None or inner == dep.get("md5")) and bool(fresh(name))
        return True

    def fresh(name: str) -> bool | None:
        if name not in stages:
            return None
        if name not in memo:
            st = stages[name]
            read = (st.get("params") or {}).get(PARAMS) or {}
            memo[name] = all(_param(params, k) == v for k, v in read.items()) \
                and all(dep_fresh(d) for d in st.get("deps") or [])
        return memo[name]

    return fresh


def _out_hash(lock: dict | None, stage: str, path: str) -> str | None:
    outs = (((lock or {}).get("stages") or {}).get(stage) or {}).get("outs") or []
    return next((o.get("md5") for o in outs if o["path"] == path), None)


def task_metric(task: str) -> str:
    from .tasks import get_task

    return get_task(task).metric


def sections(params: dict) -> list[str]:
    return [k for k, v in params.items() if k not in BASE_SECTIONS and isinstance(v, dict) and "task" in v]


def rows(exp: dict, lock: dict | None = None) -> list[dict]:
    """One row per task section of an experiment (and one for the chain, if it ran). Given
    the experiment's dvc.lock, ``stale`` marks a row whose training (the chain: whose run)
    is not the experiment's own (:func:`freshness`), ``run`` is the hash of what it scored
    (the predictions, else the model), and ``scores`` come from the evaluate stage only where
    that stage is the experiment's own, else from the training summary's last evaluation."""
    p, m = exp["params"], exp["metrics"]
    fresh, out = freshness(lock, p), []
    for s in sections(p):
        tp = deep_merge(p.get("train", {}), p[s].get("train") or {})
        train, ev = m.get(f"metrics/{s}/train/metrics.json"), m.get(f"metrics/{s}/eval.json")
        if train is None:
            continue  # this section's stages have not run in this experiment
        evaluated = bool(ev) and fresh(f"evaluate@{s}") is not False
        scores = {**(train.get("eval") or {}), **(ev if evaluated else {})}
        metric = train.get("metric") or task_metric(p[s]["task"])  # the metric that picked the best epoch
        method = tp.get("method")
        out.append({
            "experiment": exp["name"], "task": s, "seed": p.get("seed"), "method": method,
            "lora_r": (tp.get("lora") or {}).get("r") if method == "lora" else None,
            "batch_size": tp.get("batch_size"), "lr": (tp.get("lr") or {}).get(method), "epochs": tp.get("epochs"),
            "trainable_pct": train.get("trainable_pct"), "trainable_params": train.get("trainable_params"),
            "metric": metric, "value": scores.get(metric), "scores": scores,
            "train_time_s": train.get("train_time_s"), "features_per_s": train.get("features_per_s"),
            "stale": fresh(f"train@{s}") is False,
            "run": _out_hash(lock, f"predict@{s}", f"predictions/{s}") if evaluated
            else _out_hash(lock, f"train@{s}", f"models/{s}")})
    if CHAIN in m:
        out.append({"experiment": exp["name"], "task": "chain", "seed": p.get("seed"), "metric": "end_to_end_f1",
                    "value": m[CHAIN].get("end_to_end_f1"), "scores": m[CHAIN], "stale": fresh("chain") is False,
                    "run": _out_hash(lock, "chain", "predictions/chain")})
    return out


def own_rows(table: list[dict], only: Iterable[str] = ()) -> tuple[list[dict], list[str]]:
    """The rows of runs made under their experiment's params, each run once (the first row
    of a run is kept: the experiment that made it, as :func:`experiments` lists the oldest
    first), and notes on the rows left out; of the experiments named in ``only`` where
    given (judged against all). Pops ``stale`` and ``run`` off every row."""
    kept, stale, repeats, made_by = [], [], [], {}
    for r in table:
        is_stale, run = r.pop("stale", False), r.pop("run", None)
        key = (r["task"], r["metric"], run)
        if is_stale:
            stale.append(r)
        elif run is not None and key in made_by:
            repeats.append({**r, "of": made_by[key]})
        else:
            kept.append(r)
            made_by[key] = r["experiment"]
    if only := set(only):
        kept, stale, repeats = ([r for r in rs if r["experiment"] in only] for rs in (kept, stale, repeats))
    notes = []
    if repeats:
        names = ", ".join(dict.fromkeys(f"{r['experiment']} {r['task']} ({r['of']}'s)" for r in repeats))
        notes.append(f"Left out, rows that repeat an earlier experiment's run (the experiment did not rerun the "
                     f"task): {names}.")
    if stale:
        names = ", ".join(dict.fromkeys(f"{r['experiment']} {r['task']}" for r in stale))
        notes.append(f"Left out, rows that are not the experiment's own: its params for the task, or an output "
                     f"upstream, changed and the task's stages did not rerun, so their figures are another run's: "
                     f"{names}.")
    return kept, notes


def lock_of(read: Callable[[str, str], str | None], rev: str) -> dict | None:
    """An experiment's dvc.lock (None where it cannot be read). Read as YAML 1.2, as DVC
    writes it (ruamel.yaml, DVC's own): PyYAML's 1.1 reads a float like 1e-06 as a string."""
    from ruamel.yaml import YAML

    text = read(rev, "dvc.lock")
    return YAML(typ="safe", pure=True).load(text) if text else None


# ---------------------------------------------------------------- seeds pooled


def fingerprint(params: dict) -> str:
    """The setting of an experiment: its params without the fine-tuning seed."""
    return json.dumps({k: v for k, v in params.items() if k != "seed"}, sort_keys=True)


def stats(values: list[float]) -> dict:
    import numpy as np

    v = np.asarray(values, dtype=float)
    return {"n": len(v), "median": float(np.median(v)), "mean": float(v.mean()),
            "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "min": float(v.min()), "max": float(v.max())}


def aggregate(table: list[dict], label: Callable[[dict], str]) -> list[dict]:
    """Rows that differ only in the seed, pooled: median, mean, std, min, max of the value."""
    groups: dict[tuple, list[dict]] = {}
    for r in table:
        if r.get("value") is not None:
            groups.setdefault((r["task"], label(r), r["metric"]), []).append(r)
    return [{"task": task, "setting": setting, "metric": metric, "seeds": [r.get("seed") for r in rs],
             "experiments": list(dict.fromkeys(r["experiment"] for r in rs if "experiment" in r)),
             **stats([r["value"] for r in rs])} for (task, setting, metric), rs in groups.items()]


def pooled_markdown(groups: list[dict], published: dict | None = None) -> str:
    lines = ["| task | setting | metric | n | median | mean ± std | min – max | published |",
             "|---|---|---|---|---|---|---|---|"]
    for g in groups:
        pub = (published or {}).get((g["setting"], g["task"], g["metric"]))
        lines.append(f"| {g['task']} | {g['setting']} | {g['metric']} | {g['n']} | {_cell(g['median'])} | "
                     f"{_cell(g['mean'])} ± {_cell(g['std'])} | {_cell(g['min'])} – {_cell(g['max'])} | "
                     f"{f'{pub[0]} ({pub[1]})' if pub else '–'} |")
    return "\n".join(lines) + "\n"


def error_bars(groups: list[dict], task: str, metric: str, path: Path, published: dict | None = None) -> None:
    """Median per setting with min-max whiskers (and the published figure, if any), for one
    task's one metric."""
    from .plots import plt, save_figure

    gs = [g for g in groups if g["task"] == task and g["metric"] == metric]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(gs) + 2), 4.0))
    x = list(range(len(gs)))
    med = [g["median"] for g in gs]
    ax.errorbar(x, med, yerr=[[m - g["min"] for m, g in zip(med, gs)], [g["max"] - m for m, g in zip(med, gs)]],
                fmt="o", capsize=4, label="ours: median, min-max")
    pub = [(i, (published or {}).get((g["setting"], task, metric))) for i, g in enumerate(gs)]
    if any(p for _, p in pub):
        ax.scatter([i for i, p in pub if p], [p[0] for _, p in pub if p], marker="x", color="C3", label="published")
    ax.set_xticks(x, [g["setting"] for g in gs], rotation=20, ha="right")
    ax.set_ylabel(metric)
    ns = sorted({g["n"] for g in gs})
    ax.set_title(f"{task}: {metric} over seeds (n = {ns[0] if len(ns) == 1 else f'{ns[0]}-{ns[-1]}'})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_names(groups: list[dict], study: str) -> dict[tuple[str, str], str]:
    """(task, metric) -> file name: <study>_<task>.png, <study>_<task>_<metric>.png where a
    task reports several metrics (one axis each)."""
    pairs = sorted({(g["task"], g["metric"]) for g in groups})
    several = {t for t, _ in pairs if sum(t == u for u, _ in pairs) > 1}
    return {(t, m): f"{study}_{t}_{m}.png" if t in several else f"{study}_{t}.png" for t, m in pairs}


def study_rows(exp: dict, study, lock: dict | None = None) -> list[dict]:
    """An experiment's rows for the metrics a study reports (its main metric by default)."""
    out = []
    for r in rows(exp, lock):
        names = study.metrics.get(r["task"], (r["metric"],))
        out += [{**r, "metric": m, "value": r["scores"].get(m)} for m in names]
    return out


def exp_show() -> list:
    """``dvc exp show --json`` of the workspace's repository."""
    return json.loads(run_command(["dvc", "exp", "show", "--json"]).stdout)


def study_report(study, out_dir: str | Path, show: list | None = None,
                 read: Callable[[str, str], str | None] | None = None) -> list[Path]:
    """reports/<study>.md and reports/<study>_<task>.png for ``python -m ftpipe.study``."""
    if show is None:
        show = exp_show()
    read = read or git_reader()
    prefix = f"{study.name}-"
    named = re.compile(rf"{re.escape(prefix)}({'|'.join(map(re.escape, study.points))})-s(\d+)")
    exps = [e for e in experiments(show) if named.fullmatch(str(e["name"]))]  # not a branch named batch-...
    if not exps:
        raise SystemExit(f"error: no experiments named {prefix}<setting>-s<seed> (run the study first)")
    sections = {t.split("@")[1] for t in study.targets if "@" in t}
    if "chain" in study.targets:  # the chain composes the qa and mc tasks
        sections |= {"chain", "qa", "mc"}
    table = []
    for e in exps:
        point, seed = named.fullmatch(str(e["name"])).groups()
        table += [{**r, "point": point, "seed": int(seed)} for r in study_rows(e, study, lock_of(read, e["rev"]))
                  if r["task"] in sections]
    table, notes = own_rows(table)
    published = {(p, s, m): (v, src) for p, s, m, v, src in study.published}
    groups = aggregate(table, lambda r: r["point"])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / f"{study.name}.md"]
    write_text(written[0], f"# Study: {study.about}\n\nSeeds pooled ({', '.join(map(str, sorted({r['seed'] for r in table})))}):"
                           f" median, mean ± std, min – max over the seeds of each setting.\n\n"
                           + pooled_markdown(groups, published) + "\n## Every run\n\n" + markdown(table)
                           + "".join(f"\n{n}\n" for n in notes))
    for (task, metric), name in plot_names(groups, study.name).items():
        written.append(out_dir / name)
        error_bars(groups, task, metric, written[-1], published)
    return written


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
        p = run_command(["git", "show", f"{rev}:{path}"], check=False, cwd=repo)
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


def write_report(exps: list[dict], read: Callable[[str, str], str | None], out_dir: str | Path,
                 only: Iterable[str] = ()) -> list[Path]:
    """The comparison of ``exps``, or of the experiments named in ``only``: their rows are
    still judged against every experiment, so a run one of them carried from an experiment
    left out (its baseline) is not shown as its own."""
    from .plots import line_plot

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table, notes = own_rows([r for e in exps for r in rows(e, lock_of(read, e["rev"]))], only)
    if only:
        exps = [e for e in exps if e["name"] in set(only)]
    keys = {e["name"]: fingerprint(e["params"]) for e in exps}
    for r in table:
        r["setting"] = keys[r["experiment"]]
    groups = aggregate(table, lambda r: r["setting"])
    written = [out_dir / "comparison.md"]
    text = "# Experiments\n\n" + markdown(table) + "".join(f"\n{n}\n" for n in notes)
    if any(g["n"] > 1 for g in groups):  # experiments that differ only in the seed
        for g in groups:  # named by the experiments whose rows it pools
            g["setting"] = "+".join(g["experiments"])
        text += "\n## Seeds pooled\n\n" + pooled_markdown(groups)
    write_text(written[0], text)
    for section in dict.fromkeys(r["task"] for r in table if r["task"] != "chain"):
        points = [r for r in table if r["task"] == section and r["trainable_params"] and r["value"] is not None]
        if points:
            written.append(out_dir / f"{section}_metric_vs_trainable.png")
            scatter(points, section, written[-1])
        metric = next(r["metric"] for r in table if r["task"] == section)
        ran = {r["experiment"] for r in table if r["task"] == section}
        curves = epoch_curves([e for e in exps if e["name"] in ran], read, section, metric)
        if curves:
            written.append(out_dir / f"{section}_epochs.png")
            line_plot(curves, f"{section}: {metric} per epoch", "optimizer step", metric, written[-1], markers=True)
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="experiments to include (default: all)")
    ap.add_argument("--out", default="reports")
    args = ap.parse_args(argv)
    exps = experiments(exp_show())
    if not exps:
        raise SystemExit("error: no experiments with metrics found (run `dvc exp run` first)")
    if unknown := [n for n in args.names if n not in {e["name"] for e in exps}]:
        raise SystemExit(f"error: no experiment named {', '.join(unknown)} (`dvc exp show` lists them)")
    for path in write_report(exps, git_reader(), args.out, args.names):
        print(f"[report] {path}")


if __name__ == "__main__":
    main()
