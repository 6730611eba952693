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
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh("git init -q && git config user.email t@t && git config user.name t", root)
    return root


def test_repro_then_experiment_reruns_only_training(project):
    out = sh("dvc repro", project).stdout
    assert ran(out) == {"download", "tokenize", "train", "predict", "evaluate", "plot"}
    for path in ["models/qa/final/model.safetensors", "models/qa/best/config.json",
                 "predictions/qa/predictions.json", "predictions/qa/nbest_predictions.json",
                 "metrics/eval.json", "metrics/train.json", "metrics/data.json", "metrics/features.json",
                 "metrics/train/steps.tsv", "metrics/train/epochs.tsv", "plots/qa_loss.png", "plots/qa_eval.png"]:
        assert (project / path).is_file(), path
    m = json.loads((project / "metrics/eval.json").read_text())
    assert m["total"] == 8 and 0 <= m["f1"] <= 100
    preds = json.loads((project / "predictions/qa/predictions.json").read_text())
    assert len(preds) == 8
    data = json.loads((project / "metrics/data.json").read_text())
    assert data["train_questions"] == 32 and data["eval_questions"] == 8

    # nothing changed: nothing reruns
    assert ran(sh("dvc repro", project).stdout) == set()
    sh("git add -A && git commit -qm baseline", project)

    out = sh("dvc exp run -S train.batch_size=4", project).stdout
    stages = ran(out)
    # training params never re-download or re-tokenize; evaluate reruns only if predictions changed
    assert {"train", "predict", "plot"} <= stages and not stages & {"download", "tokenize"}
    assert "Stage 'tokenize' didn't change, skipping" in out
    diff = json.loads(sh("dvc metrics diff --json", project).stdout)
    windows = json.loads((project / "metrics/features.json").read_text())["train"]["windows"]
    steps = diff["metrics/train.json"]["steps"]
    assert steps["old"] == 2 * math.ceil(windows / 8) and steps["new"] == 2 * math.ceil(windows / 4)
    shown = sh("dvc exp show --json", project).stdout
    assert "exact_match" in shown


def test_bad_params_fail_before_work(project):
    p = sh("python -m stages.download --params missing.yaml", project, check=False)
    assert p.returncode == 1 and "missing.yaml: file not found" in p.stderr
    p = sh("python -m stages.download --params /dev/null/params.yaml", project, check=False)
    assert p.returncode == 1 and "cannot read" in p.stderr and "Traceback" not in p.stderr
    bad = project / "bad.yaml"
    bad.write_text((project / "params.yaml").read_text().replace("batch_size:", "batchsize:", 1))
    p = sh(f"python -m stages.train --params {bad}", project, check=False)
    assert p.returncode == 1 and "unknown key train.batchsize" in p.stderr
