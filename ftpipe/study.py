"""Seed studies as commands: each study's grid x seeds through `dvc exp run --queue`, then
one report with error bars and the published numbers beside ours.

    python -m ftpipe.study peft                      # the embedded samples, seeds 1, 2, 3
    python -m ftpipe.study batch --data real         # ../shared/data (the bundled encoder)
    python -m ftpipe.study batch --data hub          # the study's own data and model (network)
    python -m ftpipe.study init --seeds 1,2 --points pretrained,random --no-queue

Experiments are named ``<study>-<point>-s<seed>`` (an earlier one of the same name is
removed first; the study's other points and seeds are kept), so the report (:func:`ftpipe.report.study_report`) finds exactly them. Only
the study's stages run (the ``targets``); the other tasks' params and metrics are the
baseline's. Seeds vary ``seed`` (initialisation, batch order, dropout); the data splits
(``<section>.data.split_seed``) stay fixed, so the spread is the fine-tuning's own.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .io import write_text
from .shell import run_command

# ../shared/data beside the repository, made absolute so queued experiments (run in a copy
# under .dvc/tmp/exps) find it too; FTPIPE_SHARED_DATA points elsewhere
SHARED = os.environ.get("FTPIPE_SHARED_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))


@dataclass(frozen=True)
class Study:
    name: str
    about: str
    targets: tuple[str, ...]  # dvc stages to reproduce (their upstream too)
    points: dict[str, tuple[str, ...]]  # setting -> -S overrides
    published: tuple[tuple[str, str, str, float, str], ...] = ()  # (point, section, metric, value, source)
    data: dict[str, tuple[str, ...]] = field(default_factory=dict)  # real / hub -> -S overrides
    metrics: dict[str, tuple[str, ...]] = field(default_factory=dict)  # section -> metrics reported (default: main)


GLUE_TARGETS = ("evaluate@cola", "evaluate@stsb", "plot@cola", "plot@stsb")
ROBERTA = "RoBERTa-base, dev (the PEFT study)"


def _both(key: str, value: object) -> tuple[str, ...]:
    return (f"cola.train.{key}={value}", f"stsb.train.{key}={value}")


# real CoLA / STS-B from ../shared/data: no unlabelled test file; GLUE's dev sets share a few
# inputs with train (CoLA 16 sentences, STS-B 6 pairs)
GLUE_REAL = (f"cola.data.dir={SHARED}/glue/CoLA", f"stsb.data.dir={SHARED}/glue/STS-B", "cola.data.test=null",
             "stsb.data.test=null", "cola.data.allow_overlap=true", "stsb.data.allow_overlap=true")

STUDIES = {
    "batch": Study(
        "batch", "batch 8 vs 32 on SQuAD (ELECTRA-Small, train[:10000], 80/20, lr 2e-5, 20 epochs)",
        ("evaluate@qa", "plot@qa"),
        {"batch8": ("qa.train.batch_size=8",), "batch32": ("qa.train.batch_size=32",)},
        (("batch8", "qa", "exact_match", 64.25, "ELECTRA-Small, 20 epochs"),
         ("batch32", "qa", "exact_match", 62.55, "ELECTRA-Small, 20 epochs")),
        {"real": (f"qa.data.dir={SHARED}/squad_v1.1", "qa.data.train=train-v1.1-subset-first44articles.json",
                  "qa.data.max_examples=10000", "qa.train.epochs=2"),
         "hub": ("encoder.name=google/electra-small-discriminator", "qa.data.dir=data/hub/squad",
                 "qa.data.train=train[:10000]", "qa.train.epochs=20", "qa.train.lr.full=2e-5")},
        {"qa": ("exact_match", "f1")}),
    "peft": Study(
        "peft", "full vs BitFit vs LoRA r = 2 / 8 / 64 / 256 on CoLA and STS-B", GLUE_TARGETS,
        {"full": _both("method", "full"), "bitfit": _both("method", "bitfit"),
         **{f"lora-r{r}": _both("method", "lora") + _both("lora.r", r) for r in (2, 8, 64, 256)}},
        (("full", "cola", "mcc", 0.641, ROBERTA), ("bitfit", "cola", "mcc", 0.600, ROBERTA),
         ("lora-r8", "cola", "mcc", 0.63, ROBERTA + ", best rank"), ("full", "stsb", "pearson", 0.908, ROBERTA),
         ("bitfit", "stsb", "pearson", 0.876, ROBERTA), ("lora-r8", "stsb", "pearson", 0.902, ROBERTA)),
        {"real": (*GLUE_REAL, *_both("epochs", 3), *_both("warmup_steps", 200), *_both("warmup_ratio", 0)),
         "hub": ("cola.data.dir=data/hub/glue", "stsb.data.dir=data/hub/glue", "cola.data.train=train",
                 "cola.data.eval=validation", "cola.data.test=test", "stsb.data.train=train",
                 "stsb.data.eval=validation", "stsb.data.test=test", "cola.data.allow_overlap=true",
                 "stsb.data.allow_overlap=true", *_both("epochs", 10), *_both("warmup_steps", 200),
                 *_both("warmup_ratio", 0))}),
    "init": Study(
        "init", "pretrained vs random initialisation on the chained MC -> QA path", ("chain",),
        {"pretrained": ("qa.model.pretrained=true", "mc.model.pretrained=true"),
         "random": ("qa.model.pretrained=false", "mc.model.pretrained=false")},
        (), {"real": (f"qa.data.dir={SHARED}/squad_v1.1", "qa.data.train=train-v1.1-subset-first44articles.json",
                      "qa.data.max_examples=500", "qa.train.epochs=2", "mc.train.epochs=2")},
        {"chain": ("mc_accuracy", "end_to_end_f1"), "qa": ("f1",), "mc": ("accuracy",)}),
    "electra-recipe": Study(
        "electra-recipe", "ELECTRA's fine-tuning recipe (layer-wise lr decay 0.8, lr 3e-4) vs the plain one",
        GLUE_TARGETS,
        {"plain": _both("layer_decay", 1.0), "electra": _both("layer_decay", 0.8) + _both("lr.full", 3e-4)},
        (), {"real": (*GLUE_REAL, *_both("epochs", 3))}),
}


def dvc(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run_command(["dvc", *args], check)


def experiment_name(study: str, point: str, seed: int) -> str:
    return f"{study}-{point}-s{seed}"


def commands(study: Study, data: str, seeds: list[int], points: list[str], queue: bool,
             sets: tuple[str, ...] = ()) -> list[list[str]]:
    extra = (*(study.data.get(data, ()) if data != "sample" else ()), *sets)
    out = []
    for point in points:
        for seed in seeds:
            # one value per key, the last given winning (hydra rejects a key overridden twice)
            overrides = {s.split("=", 1)[0]: s for s in (f"seed={seed}", *extra, *study.points[point])}
            # ++: set the key whether or not the section lists it yet
            out.append(["exp", "run", *(["--queue"] if queue else []), "--name",
                        experiment_name(study.name, point, seed), *[a for s in overrides.values() for a in ("-S", f"++{s}")],
                        *study.targets])
    return out


def wait_for_queue(names: list[str], poll_s: float = 10.0) -> None:
    """Until none of this run's experiments is queued or running; an error naming those of
    them that failed. Other tasks in DVC's queue status (an earlier study's failures stay
    listed until `dvc queue remove --failed`) are not this run's."""
    while True:
        lines = [line for line in dvc("queue", "status").stdout.splitlines() if set(line.split()) & set(names)]
        if not any(word in line for line in lines for word in ("Queued", "Running")):
            failed = [line for line in lines if "Failed" in line]
            if failed:
                raise SystemExit("error: some experiments failed (the report of the others: --report-only):\n"
                                 + "\n".join(failed))
            return
        time.sleep(poll_s)


def run(study: Study, data: str, seeds: list[int], points: list[str], queue: bool, jobs: int,
        sets: tuple[str, ...] = ()) -> None:
    """Runs the grid; an earlier experiment of the same name is removed first (the other
    points' and seeds' are kept)."""
    names = [experiment_name(study.name, point, seed) for point in points for seed in seeds]
    old = set(dvc("exp", "ls", "--name-only", check=False).stdout.split())
    if again := [n for n in names if n in old]:
        dvc("exp", "remove", *again)
    # `dvc exp run` in the workspace leaves its -S values in params.yaml, and the next one
    # starts from there: each run starts from the params.yaml this command found instead
    base = Path("params.yaml").read_text() if not queue and Path("params.yaml").is_file() else None
    for cmd in commands(study, data, seeds, points, queue, sets):
        print("[study] dvc " + " ".join(cmd), flush=True)
        if base is not None:
            write_text("params.yaml", base)
        dvc(*cmd)
    if base is not None:
        write_text("params.yaml", base)
    if queue:
        dvc("queue", "start", "-j", str(jobs))
        wait_for_queue(names)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study", choices=list(STUDIES))
    ap.add_argument("--data", choices=["sample", "real", "hub"], default="sample")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--points", default=None, help="a subset of the study's settings (comma-separated)")
    ap.add_argument("--no-queue", action="store_true", help="run in the workspace one after another")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="queue workers (the CPU is shared: 1)")
    ap.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE",
                    help="an extra override for every experiment (after the data's), e.g. to scale a study down")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--out", default="reports")
    args = ap.parse_args(argv)
    study = STUDIES[args.study]
    points = args.points.split(",") if args.points else list(study.points)
    unknown = [p for p in points if p not in study.points]
    if unknown:
        raise SystemExit(f"error: unknown point {unknown[0]!r}; allowed: {', '.join(study.points)}")
    if args.data != "sample" and args.data not in study.data:
        raise SystemExit(f"error: study {study.name} has no {args.data!r} data; allowed: sample, "
                         f"{', '.join(study.data)}")
    if not args.report_only:
        run(study, args.data, [int(s) for s in args.seeds.split(",")], points, not args.no_queue, args.jobs,
            tuple(args.set))
    from .report import study_report

    for path in study_report(study, args.out):
        print(f"[study] {path}")


if __name__ == "__main__":
    sys.exit(main())
