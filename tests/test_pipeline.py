"""End to end through DVC in a temporary copy of the repository, on a tiny model."""

import json
import math
import re
import time

import pytest

from conftest import REPO, ran, sh

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("repro_project")]  # one shared dvc repro

TASKS = ("qa", "mc", "cola", "stsb", "chunking")


def test_the_group_runs_on_one_worker(request):
    """`make test` (--dist loadgroup) sends this module and test_graph's params audit to one
    xdist worker, so the ~3-minute repro_project fixture is built once. pytest 9.2 with
    xdist 3.8 silently stopped grouping (pytest-xdist#1386: the group rides on the node id,
    which pytest 9.2 no longer lets a plugin rewrite), building it on both workers."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not under pytest-xdist's --dist loadgroup")
    assert request.node.nodeid.endswith("@repro_project"), request.node.nodeid


def test_repro_runs_every_stage_and_writes_every_output(repro_project):
    project, out, _ = repro_project
    expected = {"validate", "fetch", "chain"} | {f"{v}@{t}" for v in ("prepare", "tokenize", "train", "predict", "evaluate",
                                                          "plot") for t in TASKS}
    expected |= {f"{v}@pretrain" for v in ("prepare", "tokenize", "train", "plot")}
    assert ran(out) == expected
    for t in TASKS:
        for path in [f"models/{t}/final/model.safetensors", f"models/{t}/best/config.json",
                     f"metrics/{t}/data.json", f"metrics/{t}/features.json", f"metrics/{t}/eval.json",
                     f"metrics/{t}/train/metrics.json", f"metrics/{t}/train/plots/metrics/train/loss.tsv",
                     f"plots/{t}/loss.png", f"plots/{t}/eval.png", f"data/prepared/{t}/meta.json"]:
            assert (project / path).is_file(), path
    for path in ["predictions/cola/test/CoLA.tsv", "predictions/stsb/test/STS-B.tsv",
                 "predictions/cola/eval/predictions.json", "predictions/qa/eval/nbest_predictions.json",
                 "predictions/mc/eval/choices.json", "predictions/chain/predictions.json",
                 "predictions/chain/choices.json", "metrics/chain.json"]:
        assert (project / path).is_file(), path
    cola = json.loads((project / "metrics/cola/eval.json").read_text())
    stsb = json.loads((project / "metrics/stsb/eval.json").read_text())
    assert set(cola) == {"accuracy", "mcc", "total"} and set(stsb) == {"pearson", "spearman", "mse", "total"}
    chunking = json.loads((project / "metrics/chunking/eval.json").read_text())
    assert {"precision", "recall", "f1", "accuracy"} <= set(chunking) and "by_type" not in chunking
    assert "NP" in json.loads((project / "metrics/chunking/eval_detail.json").read_text())["by_type"]
    conll = (project / "predictions/chunking/test/predictions.txt").read_text().split("\n\n")
    assert len([s for s in conll if s.strip()]) == 80 and all(len(line.split()) == 4 for line in conll[0].split("\n"))
    test_rows = (project / "predictions/stsb/test/STS-B.tsv").read_text().splitlines()
    assert test_rows[0] == "index\tprediction" and len(test_rows) == 1 + 20
    m = json.loads((project / "metrics/qa/eval.json").read_text())
    assert m["total"] == 8 and 0 <= m["f1"] <= 100
    assert len(json.loads((project / "predictions/qa/eval/predictions.json").read_text())) == 8
    data = json.loads((project / "metrics/qa/data.json").read_text())
    assert data["splits"]["train"]["questions"] == 32 and data["splits"]["eval"]["questions"] == 8
    assert data["files"]["train"]["questions"]["read"] == 40 and data["files"]["train"]["answers"]["dropped"] == 0
    chain = json.loads((project / "metrics/chain.json").read_text())
    assert chain["total"] == 8 and sum(v for k, v in chain["breakdown"].items()
                                       if k != "correct_from_wrong_paragraph") == 8
    choices = json.loads((project / "predictions/chain/choices.json").read_text())
    assert len(choices) == 8 and all(len(c["scores"]) == 4 for c in choices.values())
    summary = json.loads((project / "metrics/mc/train/metrics.json").read_text())
    assert summary["epochs"] == 2 and "eval" in summary and 0 <= summary["eval"]["accuracy"] <= 1
    assert summary["huge_pages"].endswith(("torch on", "torch off"))  # recorded beside the speed figures
    accuracy_log = (project / "metrics/mc/train/plots/metrics/eval/accuracy.tsv").read_text().splitlines()
    assert accuracy_log[0] == "step\taccuracy" and len(accuracy_log) == 1 + 2  # header + 2 epochs
    assert ran(sh("dvc repro", project).stdout) == set()  # nothing changed: nothing reruns


def test_python_bytecode_caches_are_not_code_dependencies(repro_project):
    """A .pyc records its source's modification time: touching a task module (a checkout,
    an edit undone) and importing it rewrote ftpipe/tasks/*/__pycache__, which DVC counted
    as a changed dependency of every stage of the task (.dvcignore leaves them out now)."""
    project, _, _ = repro_project
    source = project / "ftpipe/tasks/glue/__init__.py"
    time.sleep(1.1)
    source.write_text(source.read_text())  # the same text, a new modification time
    sh("python -c 'import ftpipe.tasks.glue'", project, PYTHONDONTWRITEBYTECODE="")
    assert any((project / "ftpipe/tasks/glue/__pycache__").glob("__init__*.pyc"))
    assert "changed" not in sh("dvc status", project).stdout


def test_a_bad_param_fails_before_dvc_removes_outputs(repro_project):
    """The validate stage runs first: a bad -S value leaves the last good run's models and
    metrics in place, and once params are good again nothing reruns."""
    project, _, _ = repro_project
    sh("git add -A && git commit -qm good-run", project)
    kept = ["models/qa/final/model.safetensors", "metrics/qa/train/metrics.json", "metrics/qa/eval.json",
            "metrics/mc/train/plots/metrics/train/loss.tsv", "plots/qa/loss.png"]
    before = {path: (project / path).read_bytes() for path in kept}
    for bad, message in [("qa.train.lr.full=-1", "qa.train.lr.full: invalid value -1"),
                         ("qa.data.train=squad_sampel.json", "qa.data.train: data/sample/qa/squad_sampel.json: "
                                                             "file not found")]:
        p = sh(f"dvc exp run -S {bad}", project, check=False)
        assert p.returncode != 0 and message in p.stdout + p.stderr
        assert ran(p.stdout) == {"validate"}
        assert {path: (project / path).read_bytes() for path in kept} == before
        assert sh("git status --porcelain", project).stdout.split() == ["M", "params.yaml"]
        sh("git checkout params.yaml", project)
    assert ran(sh("dvc repro", project).stdout) <= {"validate"}
    assert sh("git status --porcelain", project).stdout == ""


def test_params_change_reruns_only_what_it_touches(repro_project):
    project, _, _ = repro_project
    sh("git add -A && git commit -qm baseline --allow-empty", project)
    out = sh("dvc exp run -S qa.train.batch_size=4", project).stdout
    stages = ran(out)
    # a training key never re-prepares or re-tokenizes; a QA-only change never retrains MC
    assert {"train@qa", "predict@qa", "plot@qa"} <= stages
    assert not stages & {"fetch", "prepare@qa", "tokenize@qa", "train@mc", "prepare@mc", "tokenize@mc"}
    assert "validate" in stages and "Stage 'fetch' didn't change, skipping" in out
    diff = json.loads(sh("dvc metrics diff --json", project).stdout)
    windows = json.loads((project / "metrics/qa/features.json").read_text())["train"]["windows"]
    steps = diff["metrics/qa/train/metrics.json"]["steps"]
    assert steps["old"] == 2 * math.ceil(windows / 8) and steps["new"] == 2 * math.ceil(windows / 4)
    assert "exact_match" in sh("dvc exp show --json", project).stdout

    # an MC-only change (random init) never retrains the QA model
    stages = ran(sh("dvc exp run -S mc.model.pretrained=false", project).stdout)
    assert "train@mc" in stages and not stages & {"prepare@qa", "tokenize@qa", "train@qa", "predict@qa"}

    # a GLUE key reruns only that GLUE task's stages
    # (evaluate@cola reruns only if the predictions changed: a tiny model may predict the
    # majority class after 1 epoch as after 2, and DVC then rightly skips the scoring)
    stages = ran(sh("dvc exp run -S cola.train.epochs=1", project).stdout) - {"validate"}
    assert {"train@cola", "predict@cola", "plot@cola"} <= stages <= {"train@cola", "predict@cola", "evaluate@cola",
                                                                    "plot@cola"}, stages

    # the checkpoint the predict stages load: predict and evaluate only (on one task: every
    # task's stages are the same foreach template; test_graph audits each stage's params)
    stages = ran(sh("dvc exp run -S predict.checkpoint=best evaluate@cola", project).stdout) - {"validate"}
    assert "predict@cola" in stages and stages <= {"predict@cola", "evaluate@cola"}, stages


def test_pretraining_hands_its_discriminator_to_fine_tuning(tmp_path_factory, tiny_model_dir):
    """A task whose model.dir is the pretraining output: dvc repro pretrains first, and a
    pretraining param change reruns the fine-tuning that uses it (and nothing else)."""
    import copy

    from conftest import make_project

    def edit(params):
        params["stsb_pt"] = copy.deepcopy(params["stsb"])
        params["stsb_pt"]["model"]["dir"] = "models/pretrain/final/discriminator"

    project = make_project(tmp_path_factory.mktemp("handoff"), tiny_model_dir, edit)
    dvc_yaml = (project / "dvc.yaml").read_text()
    (project / "dvc.yaml").write_text(dvc_yaml.replace("      stsb: ${stsb}\n", "      stsb: ${stsb}\n      stsb_pt: ${stsb_pt}\n"))
    stages = ran(sh("dvc repro evaluate@stsb_pt", project).stdout)
    assert {"train@pretrain", "tokenize@stsb_pt", "train@stsb_pt", "evaluate@stsb_pt"} <= stages
    assert "train@stsb" not in stages
    config = json.loads((project / "models/stsb_pt/final/config.json").read_text())
    assert config["model_type"] == "electra" and config["hidden_size"] == 32  # the pretrained discriminator
    sh("git add -A && git commit -qm handoff", project)
    stages = ran(sh("dvc exp run -S pretrain.train.lr.full=1e-3 evaluate@stsb_pt", project).stdout) - {"validate"}
    assert {"train@pretrain", "tokenize@stsb_pt", "train@stsb_pt"} <= stages
    assert not stages & {"prepare@pretrain", "tokenize@pretrain", "prepare@stsb_pt"}, stages


def test_data_outside_the_repository_is_a_dependency(tmp_path_factory, tiny_model_dir):
    """data.dir may point anywhere (an absolute path): editing a file there makes the
    prepare stage (and only what follows it) stale."""
    import shutil

    from conftest import REPO, make_project

    outside = tmp_path_factory.mktemp("elsewhere")
    shutil.copy(REPO / "data/sample/qa/squad_sample.json", outside / "squad.json")

    def edit(params):
        params["qa"]["data"].update(dir=str(outside), train="squad.json")

    project = make_project(tmp_path_factory.mktemp("outside"), tiny_model_dir, edit)
    sh("dvc repro prepare@qa", project)
    assert "prepare@qa" not in sh("dvc status prepare@qa", project).stdout
    data = json.loads((outside / "squad.json").read_text())
    data["data"][0]["title"] += " (edited)"
    (outside / "squad.json").write_text(json.dumps(data))
    status = sh("dvc status prepare@qa", project).stdout
    assert "prepare@qa" in status and "modified" in status and str(outside) in status


def test_bad_params_fail_before_work(repro_project):
    project, _, _ = repro_project
    p = sh("python -m stages.prepare --task qa --out x --report y --params missing.yaml", project, check=False)
    assert p.returncode == 1 and "missing.yaml: file not found" in p.stderr
    p = sh("python -m stages.prepare --task qa --out x --report y --params /dev/null/params.yaml", project,
           check=False)
    assert p.returncode == 1 and "cannot read" in p.stderr and "Traceback" not in p.stderr
    bad = project / "bad.yaml"
    bad.write_text((project / "params.yaml").read_text().replace("batch_size:", "batchsize:", 1))
    p = sh(f"python -m stages.train --task qa --features f --prepared p --out o --logs l --checkpoints c "
           f"--params {bad}", project, check=False)
    assert p.returncode == 1 and "unknown key train.batchsize" in p.stderr


def test_queued_grid_runs_and_appears_in_the_report(repro_project):
    """`dvc exp run --queue` + `dvc queue start`, then the comparison report over them."""
    from ftpipe.report import experiments

    project, _, _ = repro_project
    sh("git add -A && git commit -qm grid-baseline --allow-empty", project)
    # the grid form: a fixed key beside a swept one, kept to QA's stages by targets
    # (the shared train section reaches every task: without them each experiment retrains all)
    sh("dvc exp run --queue -S train.method=lora -S 'train.lora.r=2,4' evaluate@qa plot@qa", project)
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
    assert {2, 4} <= set(grid) and all("metrics/qa/eval.json" in grid[r]["metrics"] for r in (2, 4))
    out = sh("python -m ftpipe.report --out reports", project).stdout
    table = (project / "reports/comparison.md").read_text()
    for r in (2, 4):
        line = next(line for line in table.splitlines() if f"| {grid[r]['name']} | qa |" in line)
        assert f"| lora | {r} |" in line
        # the other tasks were not retrained under the shared train.method=lora: not shown as LoRA runs
        assert f"| {grid[r]['name']} | mc |" not in table and f"{grid[r]['name']} mc" in table
    assert (project / "reports/qa_metric_vs_trainable.png").is_file() and "qa_epochs.png" in out
    # dvc plots diff overlays the same curves: one plot, both experiments' rows
    names = [grid[r]["name"] for r in (2, 4)]
    plots = json.loads(sh(f"dvc plots diff {' '.join(names)} --json", project).stdout)["data"]
    loss = next(v for k, v in plots.items() if k.endswith("qa/train/plots/metrics/train/loss.tsv"))[0]
    assert set(names) <= set(loss["revisions"])
    # make exp-show's table: the columns people compare, not hundreds
    drop = re.search(r"^EXP_DROP \?= '(.*)'$", (REPO / "Makefile").read_text(), re.M).group(1).replace("$$", "$")
    full = sh("dvc exp show --md", project).stdout.splitlines()[0].count("|")
    short = sh(f"dvc exp show --md --only-changed --drop '{drop}'", project).stdout.splitlines()[0]
    assert short.count("|") < min(30, full / 3), short
    assert "train.lora.r" in short and "train/" not in short and "models/" not in short
