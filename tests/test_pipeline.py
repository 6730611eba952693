"""End to end through DVC in a temporary copy of the repository, on a tiny model."""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO

pytestmark = pytest.mark.slow

COPY = ["dvc.yaml", "params.yaml", "stages", "ftpipe", "data/sample", "data/raw", ".dvc/config", ".dvcignore",
        ".gitignore"]


def sh(cmd, cwd, check=True):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", PYTHONPATH=str(cwd))
    p = subprocess.run(cmd, cwd=cwd, shell=True, capture_output=True, text=True, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("project")
    for rel in COPY:
        src = REPO / rel
        if not src.exists():
            continue
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["max_examples"] = 40
    params["model"]["name"] = str(tiny_model_dir)
    params["train"].update(epochs=2, batch_size=8, log_every=1)
    params["mc"]["model"]["name"] = str(tiny_model_dir)
    params["mc"]["train"].update(epochs=2, log_every=1)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("git init -q && git config user.email t@t && git config user.name t", root)
    return root


def test_repro_then_experiment_reruns_only_training(project):
    out = sh("dvc repro", project).stdout
    assert ran(out) == {"download", "tokenize", "train", "predict", "evaluate", "plot",
                        "tokenize_mc", "train_mc", "predict_chain"}
    for path in ["models/qa/final/model.safetensors", "models/qa/best/config.json",
                 "predictions/qa/predictions.json", "predictions/qa/nbest_predictions.json",
                 "metrics/eval.json", "metrics/train.json", "metrics/data.json", "metrics/features.json",
                 "metrics/train/steps.tsv", "metrics/train/epochs.tsv", "plots/qa_loss.png", "plots/qa_eval.png",
                 "models/mc/final/model.safetensors", "metrics/mc_train.json", "metrics/mc_train/epochs.tsv",
                 "predictions/chain/predictions.json", "predictions/chain/choices.json", "metrics/chain.json",
                 "plots/mc_loss.png", "plots/mc_eval.png"]:
        assert (project / path).is_file(), path
    m = json.loads((project / "metrics/eval.json").read_text())
    assert m["total"] == 8 and 0 <= m["f1"] <= 100
    preds = json.loads((project / "predictions/qa/predictions.json").read_text())
    assert len(preds) == 8
    data = json.loads((project / "metrics/data.json").read_text())
    assert data["train_questions"] == 32 and data["eval_questions"] == 8
    chain = json.loads((project / "metrics/chain.json").read_text())
    assert chain["total"] == 8 and sum(v for k, v in chain["breakdown"].items()
                                       if k != "correct_from_wrong_paragraph") == 8
    choices = json.loads((project / "predictions/chain/choices.json").read_text())
    assert len(choices) == 8 and all(len(c["scores"]) == 4 for c in choices.values())
    mc_epochs = (project / "metrics/mc_train/epochs.tsv").read_text().splitlines()
    assert mc_epochs[0].split("\t")[:3] == ["epoch", "step", "train_loss"] and "eval_accuracy" in mc_epochs[0]
    assert len(mc_epochs) == 3  # header + 2 epochs

    # nothing changed: nothing reruns
    assert ran(sh("dvc repro", project).stdout) == set()
    sh("git add -A && git commit -qm baseline", project)

    out = sh("dvc exp run -S train.batch_size=4", project).stdout
    stages = ran(out)
    # training params never re-download or re-tokenize; evaluate reruns only if predictions changed;
    # a QA-only change never retrains the multiple-choice model
    assert {"train", "predict", "plot"} <= stages
    assert not stages & {"download", "tokenize", "tokenize_mc", "train_mc"}
    assert "Stage 'tokenize' didn't change, skipping" in out
    diff = json.loads(sh("dvc metrics diff --json", project).stdout)
    windows = json.loads((project / "metrics/features.json").read_text())["train"]["windows"]
    steps = diff["metrics/train.json"]["steps"]
    assert steps["old"] == 2 * math.ceil(windows / 8) and steps["new"] == 2 * math.ceil(windows / 4)
    shown = sh("dvc exp show --json", project).stdout
    assert "exact_match" in shown

    # and an MC-only change (random init) never retrains the QA model
    stages = ran(sh("dvc exp run -S mc.model.pretrained=false", project).stdout)
    assert "train_mc" in stages and not stages & {"download", "tokenize", "tokenize_mc", "train", "predict"}


def test_bad_params_fail_before_work(project):
    p = sh("python -m stages.download --params missing.yaml", project, check=False)
    assert p.returncode == 1 and "missing.yaml: file not found" in p.stderr
    p = sh("python -m stages.download --params /dev/null/params.yaml", project, check=False)
    assert p.returncode == 1 and "cannot read" in p.stderr and "Traceback" not in p.stderr
    bad = project / "bad.yaml"
    bad.write_text((project / "params.yaml").read_text().replace("batch_size:", "batchsize:", 1))
    p = sh(f"python -m stages.train --params {bad}", project, check=False)
    assert p.returncode == 1 and "unknown key train.batchsize" in p.stderr


def test_queued_grid_runs_and_appears_in_the_report(project):
    """`dvc exp run --queue` + `dvc queue start`, then the comparison report over them."""
    import time

    from ftpipe.report import experiments

    sh("git add -A && git commit -qm grid-baseline --allow-empty", project)
    # the grid form: a fixed key beside a swept one
    sh("dvc exp run --queue -S train.method=lora -S 'train.lora.r=2,4'", project)
    sh("dvc queue start -j 1", project)
    deadline = time.time() + 900
    while time.time() < deadline:
        status = sh("dvc queue status", project).stdout
        if not any(word in status for word in ("Queued", "Running")):
            break
        time.sleep(5)
    assert "Failed" not in status, status
    show = json.loads(sh("dvc exp show --json", project).stdout)
    (project / "exp_show.json").write_text(json.dumps(show, indent=1))
    grid = {e["params"]["train"]["lora"]["r"]: e for e in experiments(show)
            if e["params"]["train"]["method"] == "lora"}
    assert {2, 4} <= set(grid) and all("metrics/eval.json" in grid[r]["metrics"] for r in (2, 4))
    out = sh("python -m ftpipe.report --out reports", project).stdout
    table = (project / "reports/comparison.md").read_text()
    rows = {r: next(line for line in table.splitlines() if f"| {grid[r]['name']} |" in line) for r in (2, 4)}
    for r, line in rows.items():
        assert f"| lora | {r} |" in line
    pct = {r: float(rows[r].split("|")[7]) for r in rows}  # trainable_pct: rank 4 has twice the adapters
    assert 0 < pct[2] < pct[4] < 100
    assert (project / "reports/metric_vs_trainable.png").is_file()
    assert (project / "reports/epochs_overlay.png").is_file() and "epochs_overlay.png" in out
    # dvc plots diff overlays the same curves: one plot, both experiments' rows
    names = [grid[r]["name"] for r in (2, 4)]
    plots = json.loads(sh(f"dvc plots diff {' '.join(names)} --json", project).stdout)["data"]
    loss = plots["QA training loss"][0]
    assert set(names) <= set(loss["revisions"])
    assert set(names) <= {row["rev"] for row in loss["content"]["data"]["values"]}
