"""Reliability through the stage scripts themselves (tiny model): a training run killed
with SIGKILL mid-epoch resumes and ends bit-identical to an uninterrupted run, and two
runs with the same params give identical metrics, models and predictions."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("reliability")]  # one shared project


def env(root):
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", PYTHONPATH=str(root))


def stage(root, name, *args, check=True):
    p = subprocess.run([sys.executable, "-m", f"stages.{name}", "--task", "qa", *args], cwd=root, env=env(root),
                       capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{name} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("reliability")
    for rel in ("stages", "data/sample"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(REPO / rel, root / rel)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["qa"]["data"]["max_examples"] = 40
    params["qa"]["model"]["dir"] = str(tiny_model_dir)
    # Small batches, many steps, a checkpoint after every optimizer step: room to kill mid-epoch.
    params["qa"]["train"].update(epochs=3, batch_size=4, log_every=1, checkpoint_every=1)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stage(root, "prepare", "--out", "data/prepared/qa", "--report", "metrics/data.json")
    stage(root, "tokenize", "--prepared", "data/prepared/qa", "--out", "data/features/qa",
          "--report", "metrics/features.json")
    return root


TRAIN_ARGS = ["--features", "data/features/qa", "--prepared", "data/prepared/qa"]


def train_args(tag):
    return TRAIN_ARGS + ["--out", f"models/{tag}", "--logs", f"metrics/{tag}", "--checkpoints", f"checkpoints/{tag}"]


def train(root, tag, **kw):
    return stage(root, "train", *train_args(tag), **kw)


def outputs(root, tag):
    """Everything a run produces that must not depend on wall-clock time."""
    from safetensors.torch import load_file

    stage(root, "predict", "--model", f"models/{tag}", "--features", "data/features/qa", "--prepared",
          "data/prepared/qa", "--out", f"predictions/{tag}")
    logs = root / f"metrics/{tag}/plots/metrics"
    curves = {str(p.relative_to(logs)): p.read_text() for p in sorted(logs.rglob("*.tsv"))
              if not p.stem.endswith("_per_s")}  # throughput is wall-clock
    summary = json.loads((root / f"metrics/{tag}/metrics.json").read_text())
    for timing in ("train_time_s", "features_per_s", "tokens_per_s"):
        summary.pop(timing)
    summary["train"] = {k: v for k, v in summary["train"].items() if not k.endswith("_per_s")}
    return {
        "curves": curves,
        "summary": summary,
        "weights": load_file(str(root / f"models/{tag}/final/model.safetensors")),
        "predictions": (root / f"predictions/{tag}/eval/predictions.json").read_text(),
        "nbest": (root / f"predictions/{tag}/eval/nbest_predictions.json").read_text(),
    }


def assert_same(a, b):
    import torch

    wa, wb = a.pop("weights"), b.pop("weights")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a == b


def kill_mid_first_epoch(project, tag, *extra):
    """Start the train stage and SIGKILL it once its resumable state is past 3 batches of epoch 1."""
    cmd = [sys.executable, "-m", "stages.train", "--task", "qa", *train_args(tag), *extra]
    proc = subprocess.Popen(cmd, cwd=project, env=env(project), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    state = project / f"checkpoints/{tag}/state/state.json"
    killed_at = None
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if state.is_file():
            try:
                s = json.loads(state.read_text())
            except (json.JSONDecodeError, OSError):
                s = {}
            if s.get("epoch") == 0 and s.get("batches_done", 0) >= 3:  # mid first epoch
                proc.send_signal(signal.SIGKILL)
                killed_at = s
                break
        time.sleep(0.01)
    proc.wait()
    assert killed_at is not None and proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"


def test_sigkill_mid_epoch_resumes_to_identical_results(project):
    train(project, "ref")
    reference = outputs(project, "ref")

    kill_mid_first_epoch(project, "kill")
    assert not (project / "models/kill").exists()
    assert (project / "metrics/kill/metrics.json").exists()  # dvclive logs as training goes

    out = train(project, "kill").stdout
    assert "resuming from" in out
    assert not (project / "checkpoints/kill").exists()  # cleaned up after success
    assert_same(outputs(project, "kill"), reference)


def test_a_checkpoint_is_not_resumed_into_other_weights(project, tiny_model_dir):
    """The encoder replaced after a kill (same path, same params): the run starts over, as it
    does for other params; before, the checkpoint's key named the model directory only."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(tiny_model_dir, project / "enc")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["qa"]["model"]["dir"] = str(project / "enc")
    (project / "params_enc.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    kill_mid_first_epoch(project, "swap", "--params", "params_enc.yaml")
    weights = load_file(str(project / "enc/model.safetensors"))
    name = next(iter(weights))
    save_file({**weights, name: weights[name] + 0.01}, str(project / "enc/model.safetensors"))
    out = stage(project, "train", *train_args("swap"), "--params", "params_enc.yaml").stdout
    assert "ignoring checkpoint" in out and "resuming from" not in out


def test_same_params_same_everything(project):
    if not (project / "models/ref").exists():
        train(project, "ref")
    train(project, "again")
    assert_same(outputs(project, "again"), outputs(project, "ref"))


def test_two_processes_train_each_batch_once_and_write_once(project):
    """`accelerate launch` (here torchrun with two CPU processes, gloo) runs the stage in every
    process: each trains its shard of every epoch's batches, one writes the model (best
    included), the logs and the summary. Before: every process wrote them (a race that lost
    models/<task>/best or failed on a vanished temporary file), and a short batch shuffled
    into the middle made accelerate's shards skip a round of batches in some epochs."""
    import math

    from ftpipe.io import load_features

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "stages.train", "--", "--task", "qa", *train_args("ddp")]
    p = subprocess.run(cmd, cwd=project, env={**env(project), "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"},
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    windows = len(load_features(project / "data/features/qa/train"))
    assert windows % 4, "the fixture must leave a short batch"
    steps = 3 * math.ceil(math.ceil(windows / 4) / 2)  # 3 epochs; each process half the batches of 4
    summary = json.loads((project / "metrics/ddp/metrics.json").read_text())
    assert summary["steps"] == steps and p.stdout.count("[train] method=") == 1
    loss = (project / "metrics/ddp/plots/metrics/train/loss.tsv").read_text().splitlines()
    assert [int(row.split("\t")[0]) for row in loss[1:]] == list(range(1, steps + 1))  # logged once a step
    assert (project / "models/ddp/best/model.safetensors").is_file() and (project / "models/ddp/final").is_dir()
    assert not (project / "checkpoints/ddp").exists()


def _two_process_worker(rank: int, world: int, port: int, model_dir: str, out: str) -> None:
    """One process of a two-process group: its accelerator's precision, and its share of an
    evaluation's forward batches."""
    import pickle

    import torch

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), ACCELERATE_USE_CPU="true")
    torch.set_num_threads(1)
    import ftpipe.precision as precision
    import ftpipe.training as training
    from conftest import train_config
    from test_models import _features, window_logits
    from test_training import tiny_qa_model
    from transformers import AutoTokenizer

    # two processes whose measurements of `auto` would disagree: training and evaluation
    training.resolve_precision = lambda p: "bf16" if rank == 0 else "no"
    precision.calibrated_cpu_choice = lambda: "bf16" if rank == 0 else "fp32"
    accelerator = training.make_accelerator(train_config(precision="auto"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model, batches = tiny_qa_model(model_dir), []
    model.register_forward_hook(lambda m, args, kwargs, output: batches.append(len(kwargs["input_ids"])),
                                with_kwargs=True)
    logits = window_logits(model, _features(tokenizer, copies=12), tokenizer.pad_token_id, "auto")
    Path(out, f"{rank}.pkl").write_bytes(pickle.dumps({"precision": accelerator.mixed_precision, "batches": batches,
                                                       "logits": logits}))


def test_processes_agree_on_precision_and_share_the_evaluation(tiny_model_dir, tokenizer, tmp_path):
    """Under accelerate launch the main process resolves `precision: auto` for all (each
    measured its own before), and the training loop's evaluation forwards each batch in one
    process, every process then holding every row (each forwarded the whole set before)."""
    import pickle
    import socket

    import numpy as np
    import torch.multiprocessing as mp

    from test_models import _features, window_logits
    from test_training import tiny_qa_model

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_two_process_worker, args=(2, port, str(tiny_model_dir), str(tmp_path)), nprocs=2)
    got = [pickle.loads((tmp_path / f"{r}.pkl").read_bytes()) for r in (0, 1)]
    assert [g["precision"] for g in got] == ["bf16", "bf16"]
    feats = _features(tokenizer, copies=12)
    assert len(feats) > 8 and sorted(got[0]["batches"] + got[1]["batches"]) == sorted(
        min(8, len(feats) - b) for b in range(0, len(feats), 8))  # batch size 8: each batch once
    assert got[0]["batches"] and got[1]["batches"]
    alone = window_logits(tiny_qa_model(tiny_model_dir), feats, tokenizer.pad_token_id, "bf16")  # the main's
    for g in got:
        for mine, one in zip(g["logits"], alone):
            assert len(mine) == len(one) and all(np.array_equal(a, b) for a, b in zip(mine, one))
