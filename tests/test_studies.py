"""Seed studies: the pooled statistics on fixture results, each study's grid as dvc commands,
each study scaled down through DVC (a few settings, two seeds, the tiny model), and the CI
report in a git repository with two states of the metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_project, sh
from ftpipe.report import aggregate, fingerprint, pooled_markdown, stats
from ftpipe.study import STUDIES, commands


def test_stats_and_pooling_of_rows_that_differ_only_in_the_seed():
    assert stats([3.0, 1.0, 2.0]) == {"n": 3, "median": 2.0, "mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0}
    a = {"seed": 1, "train": {"batch_size": 8}}
    assert fingerprint(a) == fingerprint({**a, "seed": 2}) != fingerprint({"seed": 1, "train": {"batch_size": 32}})
    rows = [{"task": "qa", "metric": "f1", "value": v, "seed": s, "point": p}
            for p, vals in (("b8", (70.0, 72.0, 71.0)), ("b32", (65.0, 69.0, 64.0))) for s, v in zip((1, 2, 3), vals)]
    rows.append({"task": "qa", "metric": "f1", "value": None, "seed": 4, "point": "b8"})  # a missing metric
    groups = {g["setting"]: g for g in aggregate(rows, lambda r: r["point"])}
    assert groups["b8"]["n"] == 3 and groups["b8"]["median"] == 71.0 and groups["b32"]["min"] == 64.0
    assert groups["b32"]["std"] == pytest.approx(2.6458, abs=1e-4)
    text = pooled_markdown(list(groups.values()), {("b8", "qa", "f1"): (75.0, "paper")})
    assert "| qa | b8 | f1 | 3 | 71.00 | 71.00 ± 1.00 | 70.00 – 72.00 | 75.0 (paper) |" in text


def test_a_run_replaces_only_its_own_experiments_and_waits_only_for_them(monkeypatch):
    """Other points' and seeds' experiments are kept; a failed task an earlier run left in
    DVC's queue status does not fail this one, a failure of this run's does."""
    from types import SimpleNamespace

    from ftpipe import study

    calls, status = [], {"text": ""}

    def fake_dvc(*args, check=True):
        calls.append(args)
        if args[:2] == ("exp", "ls"):
            return SimpleNamespace(stdout="peft-full-s1\npeft-full-s2\npeft-lora-r8-s1\nbatch-batch8-s1\n")
        return SimpleNamespace(stdout=status["text"] if args[:2] == ("queue", "status") else "")

    monkeypatch.setattr(study, "dvc", fake_dvc)
    status["text"] = ("Task     Name              Created    Status\n"
                      "1a2b3c4  peft-full-s9      Dec 07     Failed\n"
                      "4d5e6f7  peft-lora-r8-s1   03:50 AM   Success\n")
    study.run(STUDIES["peft"], "sample", [1], ["lora-r8"], queue=True, jobs=1)
    assert ("exp", "remove", "peft-lora-r8-s1") in calls
    assert not any(c[:2] == ("exp", "remove") and len(c) > 3 for c in calls)
    status["text"] += "7a8b9c0  peft-lora-r8-s1   03:55 AM   Failed\n"
    with pytest.raises(SystemExit, match="peft-lora-r8-s1") as e:
        study.run(STUDIES["peft"], "sample", [1], ["lora-r8"], queue=True, jobs=1)
    assert "peft-full-s9" not in str(e.value)


def test_experiments_run_in_the_workspace_each_start_from_the_params_the_study_found(monkeypatch, tmp_path):
    """`dvc exp run` in the workspace leaves its -S values in params.yaml: a second
    experiment (or study) run after it inherited them (a peft LoRA point's method and rank
    became the electra-recipe study's "plain" setting)."""
    from types import SimpleNamespace

    from ftpipe import study

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("seed: 42\n")
    seen = []

    def fake_dvc(*args, check=True):
        if args[:2] == ("exp", "run"):
            seen.append((tmp_path / "params.yaml").read_text())
            (tmp_path / "params.yaml").write_text(f"seed: 42\nleft: {len(seen)}\n")  # what DVC leaves
        return SimpleNamespace(stdout="")

    monkeypatch.setattr(study, "dvc", fake_dvc)
    study.run(STUDIES["peft"], "sample", [1, 2], ["lora-r2"], queue=False, jobs=1)
    assert seen == ["seed: 42\n"] * 2 and (tmp_path / "params.yaml").read_text() == "seed: 42\n"


def test_each_study_is_a_grid_of_named_seeded_experiments():
    cmds = commands(STUDIES["peft"], "sample", [1, 2], ["full", "lora-r8"], queue=True)
    assert len(cmds) == 4 and all(c[:3] == ["exp", "run", "--queue"] for c in cmds)
    assert cmds[3][cmds[3].index("--name") + 1] == "peft-lora-r8-s2"
    sets = [cmds[3][i + 1] for i, a in enumerate(cmds[3]) if a == "-S"]
    assert {"++seed=2", "++cola.train.method=lora", "++stsb.train.lora.r=8"} <= set(sets)
    assert cmds[3][-4:] == list(STUDIES["peft"].targets)
    real = commands(STUDIES["batch"], "real", [1], ["batch32"], queue=False)[0]
    assert "++qa.data.max_examples=10000" in real and "--queue" not in real
    assert any(a.startswith("++qa.data.dir=/") for a in real)  # absolute: queued copies find it
    scaled = commands(STUDIES["batch"], "real", [1], ["batch32"], queue=False, sets=("qa.data.max_examples=2000",))[0]
    # an extra override replaces the data's value of the same key
    assert "++qa.data.max_examples=2000" in scaled and "++qa.data.max_examples=10000" not in scaled
    for study in STUDIES.values():  # every study compares at least two settings and names its targets
        assert len(study.points) >= 2 and study.targets


SCALED = {  # study -> the setting the scaled-down run takes (two seeds each)
    "batch": "batch32", "peft": "lora-r2", "init": "random", "electra-recipe": "electra",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCALED))
def test_each_study_runs_scaled_down_through_dvc(name, tmp_path_factory, tiny_model_dir):
    def edit(params):
        for section in ("qa", "cola", "stsb"):
            params[section]["data"]["max_examples"] = 24
        for section in ("qa", "mc", "cola", "stsb"):
            params[section]["train"]["epochs"] = 1

    project = make_project(tmp_path_factory.mktemp(name), tiny_model_dir, edit)
    # A commit without a dvc.lock: the first experiment runs every stage, the second only
    # what the seed touches. (A baseline `dvc repro` first would add a third training of
    # each target and test nothing more: the report pools the study's experiments only.)
    sh("git add -A && git commit -qm baseline", project)
    out = sh(f"{sys.executable} -m ftpipe.study {name} --seeds 1,2 --points {SCALED[name]} --no-queue", project).stdout
    report = (project / "reports" / f"{name}.md").read_text()
    pooled_part = report.split("## Every run")[0]
    pooled = [line for line in pooled_part.splitlines() if line.startswith("| ") and " | 2 | " in line]
    tasks = {line.split("|")[1].strip() for line in pooled}
    expected = {"batch": {"qa"}, "peft": {"cola", "stsb"}, "init": {"chain", "qa", "mc"},
                "electra-recipe": {"cola", "stsb"}}[name]
    assert tasks == expected, report
    reported = sum(len(STUDIES[name].metrics.get(t, ("main",))) for t in expected)
    assert len(pooled) == reported  # per task and metric: the setting, over two seeds
    metrics = {t: STUDIES[name].metrics.get(t, ("main",)) for t in expected}  # one plot per task and metric
    assert all((project / "reports" / (f"{name}_{t}.png" if len(ms) == 1 else f"{name}_{t}_{m}.png")).is_file()
               for t, ms in metrics.items() for m in ms)
    assert f"reports/{name}.md" in out
    if name == "batch":
        assert "62.55 (ELECTRA-Small, 20 epochs)" in report


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def test_ci_report_names_the_changed_metric_param_and_curve(tmp_path):
    (tmp_path / "metrics/qa/train/plots/metrics/train").mkdir(parents=True)
    (tmp_path / "params.yaml").write_text("train:\n  lr: 0.1\n")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  train:\n    cmd: 'true'\n    params: [train]\n    metrics:\n"
        "      - metrics/qa/eval.json: {cache: false}\n    plots:\n"
        "      - metrics/qa/train/plots/metrics: {cache: false, x: step}\n")
    eval_json = tmp_path / "metrics/qa/eval.json"
    loss = tmp_path / "metrics/qa/train/plots/metrics/train/loss.tsv"
    eval_json.write_text('{"f1": 50.0, "exact_match": 40.0}')
    loss.write_text("step\tloss\n1\t2.0\n2\t1.5\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.email", "t@t")
    git(tmp_path, "config", "user.name", "t")
    sh("dvc init -q && dvc config core.analytics false", tmp_path)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "base")
    eval_json.write_text('{"f1": 61.5, "exact_match": 40.0}')
    (tmp_path / "params.yaml").write_text("train:\n  lr: 0.2\n")
    loss.write_text("step\tloss\n1\t2.0\n2\t1.2\n")
    git(tmp_path, "commit", "-qam", "change")
    out = sh(f"{sys.executable} -m ftpipe.ci_report --base HEAD~1 --no-repro --out ci", tmp_path).stdout
    text = (tmp_path / "ci" / "report.md").read_text()
    assert "ci/report.md" in out and "against HEAD~1" in text
    metrics = text.split("## Metrics")[1].split("## Params")[0]
    assert "f1" in metrics and "50" in metrics and "61.5" in metrics and "exact_match" not in metrics
    assert "train.lr" in text and "0.2" in text
    assert "![qa_train_loss](qa_train_loss.png)" in text and (tmp_path / "ci" / "qa_train_loss.png").is_file()
    json.loads(eval_json.read_text())  # the workspace is left as it was
