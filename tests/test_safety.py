"""No half-written outputs and safe loading: a failed write leaves the previous file or
directory untouched (and no temporary files), model code from a checkpoint directory runs
only when ``trust_remote_code`` asks for it, and every ``torch.load`` is weights-only."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, model_config
from ftpipe.io import atomic_dir, recover_dir, remove_dir, write_json, write_jsonl


class Unserialisable:
    pass


def test_failed_json_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"f1": 1.0})
    with pytest.raises(TypeError):
        write_json(path, {"f1": Unserialisable()})
    assert json.loads(path.read_text()) == {"f1": 1.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_failed_jsonl_write_leaves_no_file(tmp_path):
    def rows():
        yield {"id": 1}
        raise RuntimeError("killed half-way")

    with pytest.raises(RuntimeError):
        write_jsonl(tmp_path / "train.jsonl", rows())
    assert list(tmp_path.iterdir()) == []


def test_failed_directory_write_keeps_the_previous_directory(tmp_path):
    out = tmp_path / "model"
    with atomic_dir(out) as tmp:
        (tmp / "weights").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "weights").write_text("new, half")
            raise RuntimeError("training crashed while saving")
    assert (out / "weights").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    with atomic_dir(out) as tmp:  # and a successful write replaces it whole
        (tmp / "other").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["other"]


def test_a_kill_inside_a_directory_swap_or_removal_is_undone(tmp_path):
    """SIGKILL runs no cleanup: what a killed swap or removal left is tidied by the next
    write (or recover_dir): the previous version back in place, temporary siblings gone."""
    out = tmp_path / "state"
    with atomic_dir(out) as tmp:
        (tmp / "state.json").write_text("step 10")
    # killed between the swap's two renames: the old version aside, the new one still a temporary
    out.rename(tmp_path / ".state.old")
    (tmp_path / ".state.k1ll3d_1.tmp").mkdir()
    (tmp_path / ".state.k1ll3d_1.tmp" / "state.json").write_text("step 12, not yet in place")
    (tmp_path / ".state.k1ll3d_2.tmp").write_text("a killed write_text")
    others = [".other.abcdefgh.tmp", ".state.v2.abcdefgh.tmp"]  # other outputs' (state.v2's): not ours
    for name in others:
        (tmp_path / name).write_text("another output's temporary")
    recover_dir(out)
    assert (out / "state.json").read_text() == "step 10"
    assert sorted(p.name for p in tmp_path.iterdir()) == others + ["state"]
    # an old copy beside a complete directory (killed after the second rename) just goes
    (tmp_path / ".state.old").mkdir()
    with atomic_dir(out) as tmp:
        (tmp / "state.json").write_text("step 14")
    assert (out / "state.json").read_text() == "step 14"
    assert sorted(p.name for p in tmp_path.iterdir()) == others + ["state"]
    remove_dir(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == others
    remove_dir(out)  # nothing there: nothing to do


def test_the_training_summary_is_replaced_whole(tmp_path, monkeypatch):
    """dvclive rewrites metrics.json at every logged step; a kill mid-write keeps the last one."""
    from ftpipe import io
    from ftpipe.livelog import RunLog

    log = RunLog(tmp_path / "logs")
    log.log_step({"step": 1, "epoch": 0.5, "loss": 2.0, "lr": 1e-4})
    before = (tmp_path / "logs" / "metrics.json").read_text()
    assert json.loads(before)["train"]["loss"] == 2.0

    def killed(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(io.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        log.log_step({"step": 2, "epoch": 1.0, "loss": 1.0, "lr": 1e-4})
    assert (tmp_path / "logs" / "metrics.json").read_text() == before
    assert not list((tmp_path / "logs").glob(".*.tmp"))


def test_a_killed_plot_stage_leaves_the_previous_plots(tmp_path, monkeypatch):
    from ftpipe import plots
    from ftpipe.livelog import RunLog

    def training_logs(steps: int) -> None:
        log = RunLog(tmp_path / "logs")
        for step in range(1, steps + 1):
            log.log_step({"step": step, "epoch": step / 2, "loss": 1.0 / step, "lr": 1e-4})
            log.log_epoch({"epoch": step, "step": step, "train_loss": 1.0 / step, "eval_f1": 0.1 * step})
        log.finish({"steps": steps})
        assert json.loads((tmp_path / "logs" / "metrics.json").read_text())["steps"] == steps  # the summary

    training_logs(2)
    out = tmp_path / "plots"
    assert [p.name for p in plots.training_plots(tmp_path / "logs", out, "qa")] == \
        ["loss.png", "eval.png", "epoch_loss.png"]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = []

    def dies_at_the_second(fig, path):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C (SIGTERM too: ftpipe.cli raises SystemExit)
        save(fig, path)

    save = plots.save_figure
    monkeypatch.setattr(plots, "save_figure", dies_at_the_second)
    training_logs(3)  # the rerun's plots differ from the ones on disk
    with pytest.raises(KeyboardInterrupt):
        plots.training_plots(tmp_path / "logs", out, "qa")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "plots"]


def test_checkpoint_code_runs_only_with_trust_remote_code(tiny_model_dir, tmp_path):
    """A model directory whose config points at its own Python code (auto_map) must not
    execute that code unless encoder.trust_remote_code is true."""
    import shutil

    from transformers import AutoModelForQuestionAnswering

    from ftpipe.models import load_model

    model_dir = tmp_path / "remote"
    shutil.copytree(tiny_model_dir, model_dir)
    marker = tmp_path / "code-ran"
    (model_dir / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from transformers import BertForQuestionAnswering as EvilQA\n")
    cfg = json.loads((model_dir / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForQuestionAnswering": "evil.EvilQA"}
    (model_dir / "config.json").write_text(json.dumps(cfg))

    model = load_model(model_config(model_dir), AutoModelForQuestionAnswering, seed=0)
    assert not marker.exists()
    assert type(model).__module__.startswith("transformers.")

    # In a process of its own: loading remote code registers its classes with the Auto
    # classes for the rest of the process.
    code = ("from transformers import AutoModelForQuestionAnswering; from ftpipe.config import ModelConfig; "
            "from ftpipe.models import load_model; "
            f"load_model(ModelConfig(dir={str(model_dir)!r}, pretrained=True, dropout=None), "
            "AutoModelForQuestionAnswering, seed=0, trust_remote_code=True)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True)
    assert marker.exists()  # the test would pass vacuously if the code could never run


def test_every_torch_load_is_weights_only():
    calls = []
    for path in sorted((REPO / "ftpipe").rglob("*.py")) + sorted((REPO / "stages").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"):
                kw = {k.arg: k.value for k in node.keywords}
                ok = isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
                calls.append((f"{Path(path).name}:{node.lineno}", ok))
            if isinstance(node, ast.ImportFrom) and node.module == "torch" and "load" in {a.name for a in node.names}:
                calls.append((f"{Path(path).name}:{node.lineno} (a bare load the scan cannot follow)", False))
    assert calls, "no torch.load found: the scan itself is broken"
    assert [c for c, ok in calls if not ok] == []


def _run_stage_main(main):
    import argparse

    from ftpipe import cli

    return cli.run(main, argparse.Namespace(params=str(REPO / "params.yaml")))


def test_sigterm_runs_the_stages_cleanup(tmp_path):
    """A CI timeout or `kill` sends SIGTERM: the temporary directory of an output being
    written goes, as on Ctrl-C, the exit status says so, and the handler is put back."""
    import os
    import signal

    before = signal.getsignal(signal.SIGTERM)

    def main(args, params):
        with atomic_dir(tmp_path / "model") as tmp:
            (tmp / "weights").write_text("half")
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(SystemExit) as e:
        _run_stage_main(main)
    assert e.value.code == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_library_panic_is_one_line_too(capsys):
    """pyo3's PanicException (a Rust library's panic) is a BaseException, not an Exception."""
    class PanicException(BaseException):
        pass

    def main(args, params):
        raise PanicException("'stride' must be strictly less than 'max_len=80'")

    with pytest.raises(SystemExit) as e:
        _run_stage_main(main)
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and err.startswith("error: PanicException: 'stride'")


def test_jsonl_keeps_unicode_line_separators_inside_strings(tmp_path):
    """JSON strings may hold U+2028, U+0085, form feeds raw (write_jsonl keeps them raw):
    only "\\n" ends a record, so the pipeline reads back what it wrote (a SQuAD context with
    a U+2028 passed prepare and broke tokenize)."""
    from ftpipe.io import read_jsonl

    rows = [{"id": "a", "context": "one\u2028two\x85three\x0cfour\x1cfive\u2029six\rseven"}, {"id": "b"}]
    write_jsonl(tmp_path / "r.jsonl", rows)
    assert read_jsonl(tmp_path / "r.jsonl") == rows
    for ends in (b"\r\n", b"\r"):  # Windows, old Mac
        (tmp_path / "ends.jsonl").write_bytes(b'{"id": "a"}' + ends * 2 + b'{"id": "b"}' + ends)
        assert read_jsonl(tmp_path / "ends.jsonl") == [{"id": "a"}, {"id": "b"}]
