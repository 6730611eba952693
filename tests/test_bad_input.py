"""Bad input through the stage scripts themselves: every case ends in one line naming the
file, the record and the field (or the params key), exit status 1, no traceback; and
FTPIPE_DEBUG=1 gives the traceback back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import CONTEXT, REPO, record, squad_json

PREPARE = ["--out", "data/prepared/qa", "--report", "metrics/qa/data.json"]


def run_stage(root: Path, name: str, *args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(root), **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", f"stages.{name}", *args], cwd=root, env=env, capture_output=True,
                          text=True)


def one_line_error(p: subprocess.CompletedProcess, *parts: str) -> str:
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1, (p.returncode, p.stderr[-2000:])
    assert "Traceback" not in p.stderr and len(lines) == 1 and lines[0].startswith("error: "), p.stderr[-2000:]
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


@pytest.fixture
def project(tmp_path, tiny_model_dir):
    """A directory with the stage scripts, a params.yaml on the tiny model and a data dir."""
    os.symlink(REPO / "stages", tmp_path / "stages")
    (tmp_path / "raw").mkdir()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["qa"]["data"].update(dir=str(tmp_path / "raw"), train="train.json")
    params["qa"]["model"]["dir"] = str(tiny_model_dir)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return tmp_path


def set_params(root: Path, **changes) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    for key, value in changes.items():
        node = params
        parts = key.split("__")
        for p in parts[:-1]:
            node = node[p]
        node[parts[-1]] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def write_squad(root: Path, *qas, name="train.json", context=CONTEXT, articles=1) -> Path:
    paras = [{"title": f"T{a}", "paragraphs": [{"context": context, "qas": [
        {**q, "id": f"{q['id']}-{a}" if a else q["id"]} for q in qas]}]} for a in range(articles)]
    path = root / "raw" / name
    path.write_text(json.dumps(squad_json(paras)))
    return path


def good_qas(n=10):
    return [record(f"q{i}") for i in range(n)]


def test_a_lone_surrogate_names_record_and_field(project):
    path = write_squad(project, *good_qas(4), record("bad", question="Where\ud800?"))
    text = path.read_text()
    assert "\\ud800" in text  # JSON escapes it; json.loads makes it a lone surrogate
    one_line_error(run_stage(project, "prepare", "--task", "qa", *PREPARE), str(path), "record bad",
                   "field 'question'", "unpaired surrogate")


def test_json_nested_200000_levels(project):
    path = project / "raw" / "train.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    one_line_error(run_stage(project, "prepare", "--task", "qa", *PREPARE), str(path), "nested too deeply")


def test_a_symlink_loop(project):
    path = project / "raw" / "train.json"
    os.symlink(path, path)
    one_line_error(run_stage(project, "prepare", "--task", "qa", *PREPARE), str(path), "cannot read")


def test_adl_relevant_not_an_integer(project):
    raw = project / "raw"
    (raw / "context.json").write_text(json.dumps(["Paragraph one.", "Paragraph two.", "Paragraph three."]))
    recs = [{"id": "a1", "question": "Which?", "paragraphs": [0, 1, 2], "relevant": 3.0,
             "answer": {"text": "one", "start": 10}}]
    (raw / "train.json").write_text(json.dumps(recs))
    one_line_error(run_stage(project, "prepare", "--task", "qa", *PREPARE), "train.json", "record a1",
                   "field 'relevant'", "got 3.0")


@pytest.mark.parametrize("changes, parts", [
    ({"seed": -1}, ["params.yaml", "seed: expected an integer from 0 to 2**32 - 1 (numpy's seeds), got -1"]),
    ({"qa__data__eval_size": 0.001}, ["data.eval_size", "0.001 of 10 questions leaves an empty side"]),
    ({"qa__data__max_examples": 1}, ["data.eval_size", "0.2 of 1 questions leaves an empty side"]),
    ({"qa__data__split_by": "article"}, ["data.eval_size", "of 1 groups (title)"]),
    ({"qa__data__train": "train[:5]"}, ["train[:5]", "file not found", "looks like a hub split"]),
    ({"qa__data__dir": "/nonexistent/dir"}, ["/nonexistent/dir", "data.dir: not a directory"]),
])
def test_data_params_that_cannot_apply(project, changes, parts):
    write_squad(project, *good_qas())
    set_params(project, **changes)
    one_line_error(run_stage(project, "prepare", "--task", "qa", *PREPARE), *parts)


def test_evaluation_data_sharing_questions_with_training(project):
    write_squad(project, *good_qas())
    set_params(project, qa__data__eval="train.json")
    one_line_error(run_stage(project, "prepare", "--task", "qa", *PREPARE), "10 of 10 evaluation records",
                   "'q0', 'q1', 'q2'", "data.allow_overlap")
    write_squad(project, record("q3"), record("new", question="What is new?"), name="dev.json")
    set_params(project, qa__data__eval="dev.json")
    one_line_error(run_stage(project, "prepare", "--task", "qa", *PREPARE), "dev.json", "1 of 2", "'q3'")
    set_params(project, qa__data__allow_overlap=True)
    p = run_stage(project, "prepare", "--task", "qa", *PREPARE)
    assert p.returncode == 0, p.stderr
    assert json.loads((project / "metrics/qa/data.json").read_text())["eval_overlapping_train"] == 1


def test_evaluate_with_bad_predictions(project):
    write_squad(project, *good_qas())
    assert run_stage(project, "prepare", "--task", "qa", *PREPARE).returncode == 0
    args = ["--task", "qa", "--predictions", "predictions/qa", "--prepared", "data/prepared/qa", "--out", "m.json",
            "--detail", "d.json"]
    one_line_error(run_stage(project, "evaluate", *args), "predictions/qa/eval/predictions.json", "file not found")
    (project / "predictions/qa/eval").mkdir(parents=True)
    (project / "predictions/qa/eval/predictions.json").write_text('["a", "b"]')
    one_line_error(run_stage(project, "evaluate", *args), "predictions.json", "expected an object", "got a list")
    (project / "predictions/qa/eval/predictions.json").write_text('{"q1": 3}')
    one_line_error(run_stage(project, "evaluate", *args), "predictions.json: record q1", "expected the answer text")


def test_tokenize_checks_the_model_before_work(project, tiny_model_dir, tmp_path_factory):
    write_squad(project, *good_qas())
    assert run_stage(project, "prepare", "--task", "qa", *PREPARE).returncode == 0
    args = ["--task", "qa", "--prepared", "data/prepared/qa", "--out", "data/features/qa", "--report", "f.json"]
    set_params(project, qa__tokenize__max_length=600)
    one_line_error(run_stage(project, "tokenize", *args), "qa.tokenize.max_length: 600 is more than the 512 "
                                                          "positions")
    only_config = tmp_path_factory.mktemp("config-only")
    (only_config / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    set_params(project, qa__tokenize__max_length=384, qa__model__dir=str(only_config))
    one_line_error(run_stage(project, "tokenize", *args), str(only_config), "no tokenizer files")
    assert not (project / "data/features/qa").exists()


def test_missing_inputs_of_later_stages_name_the_path(project):
    args = ["--task", "qa", "--features", "nowhere/features", "--prepared", "nowhere/prepared", "--out", "models/x",
            "--logs", "l", "--checkpoints", "c"]
    one_line_error(run_stage(project, "train", *args), "nowhere/prepared/meta.json", "file not found")
    args = ["--task", "qa", "--model", "models/none", "--features", "f", "--prepared", "p", "--out", "o"]
    one_line_error(run_stage(project, "predict", *args), "models/none/final", "no trained model here")


def test_debug_shows_the_traceback(project):
    path = write_squad(project, *good_qas(2), record("bad", start=-1))
    p = run_stage(project, "prepare", "--task", "qa", *PREPARE, env_extra={"FTPIPE_DEBUG": "1"})
    assert p.returncode != 0 and "Traceback" in p.stderr and str(path) in p.stderr


def test_written_files_get_ordinary_permissions(project):
    write_squad(project, *good_qas())
    old = os.umask(0o022)
    try:
        assert run_stage(project, "prepare", "--task", "qa", *PREPARE).returncode == 0
    finally:
        os.umask(old)
    assert (project / "data/prepared/qa").stat().st_mode & 0o777 == 0o755
    assert (project / "data/prepared/qa/train.jsonl").stat().st_mode & 0o777 == 0o644
    assert (project / "metrics/qa/data.json").stat().st_mode & 0o777 == 0o644
