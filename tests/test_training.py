import json

import numpy as np
import pytest
import torch

from conftest import DyingCollate, Interrupt, model_config, run_params, train_config
from ftpipe.batching import LengthGroupedBatchSampler, PadCollator
from ftpipe.models import apply_method, load_model
from ftpipe.optim import layer_depth, param_groups
from ftpipe.tasks.qa import TASK as QA
from ftpipe.tasks.qa.windows import to_columns, tokenize_eval, tokenize_train
from ftpipe.training import Evaluation, fit
from ftpipe.verbs.train import evaluator


def test_length_grouped_batches_cover_every_index_once_and_are_seeded():
    lengths = np.random.default_rng(0).integers(20, 384, size=1000)
    s = LengthGroupedBatchSampler(lengths, 8, seed=3)
    batches = s.batches()
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000)) and len(batches) == len(s) == 125
    assert LengthGroupedBatchSampler(lengths, 8, seed=3).batches() == batches
    s.set_epoch(1)
    assert s.batches() != batches
    # grouping: padded tokens far fewer than with random batches
    def padding(bs):
        return sum(len(b) * max(lengths[b]) - sum(lengths[b]) for b in bs)
    random_batches = LengthGroupedBatchSampler(lengths, 8, seed=3, group_by_length=False).batches()
    assert padding(batches) < 0.2 * padding(random_batches)


def test_pad_collator_pads_to_the_longest_row_and_nested_choices():
    c = PadCollator(0, ["input_ids", "attention_mask"], ["label"], multiple_of=1)  # 8 by default on a GPU
    out = c([{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "label": 1},
             {"input_ids": [5], "attention_mask": [1], "label": 0}])
    assert out["input_ids"].tolist() == [[5, 6, 7], [5, 0, 0]]
    assert out["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    nested = c([{"input_ids": [[1, 2], [1]], "attention_mask": [[1, 1], [1]], "label": 0}])
    assert nested["input_ids"].shape == (1, 2, 2)
    gpu_like = PadCollator(0, ["input_ids", "attention_mask"], ["labels"], multiple_of=8)
    out = gpu_like([{"input_ids": [5] * 9, "attention_mask": [1] * 9, "labels": [1] * 9}])
    assert out["input_ids"].shape == (1, 16) and out["attention_mask"][0, 9:].sum() == 0
    assert out["labels"][0, 9:].tolist() == [-100] * 7  # padded positions never reach the loss


def lr_by_param(model, groups):
    by_id = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    return {name: by_id[id(p)] for name, p in model.named_parameters() if id(p) in by_id}


def tiny_qa_model(model_dir):
    from transformers import AutoModelForQuestionAnswering

    return load_model(model_config(model_dir), AutoModelForQuestionAnswering, seed=0)


def test_param_groups_without_layer_decay_split_only_weight_decay(tiny_model_dir):
    model = tiny_qa_model(tiny_model_dir)
    lrs = lr_by_param(model, param_groups(model, 0.01, 1e-3))
    assert len(lrs) == sum(1 for _ in model.parameters())  # every parameter, once
    assert {lr for lr, _ in lrs.values()} == {1e-3}
    assert lrs["bert.encoder.layer.0.attention.self.query.weight"][1] == 0.01
    assert lrs["bert.encoder.layer.0.attention.self.query.bias"][1] == 0.0
    assert lrs["bert.embeddings.LayerNorm.weight"][1] == 0.0


def test_layer_decay_scales_lr_from_the_head_down_to_the_embeddings(tiny_model_dir):
    model = tiny_qa_model(tiny_model_dir)
    lrs = lr_by_param(model, param_groups(model, 0.01, 1e-3, layer_decay=0.5))  # 2 layers
    assert len(lrs) == sum(1 for _ in model.parameters())
    assert lrs["qa_outputs.weight"] == (1e-3, 0.01)
    assert lrs["bert.encoder.layer.1.output.dense.weight"] == (5e-4, 0.01)
    assert lrs["bert.encoder.layer.0.output.LayerNorm.weight"] == (2.5e-4, 0.0)
    assert lrs["bert.embeddings.word_embeddings.weight"] == (1.25e-4, 0.01)


def test_layer_decay_needs_layers_it_can_place():
    with pytest.raises(ValueError, match="num_hidden_layers"):
        param_groups(torch.nn.Linear(2, 2), 0.01, 1e-3, layer_decay=0.8)
    assert len(param_groups(torch.nn.Linear(2, 2), 0.01, 1e-3)) == 2  # off: any model
    with pytest.raises(ValueError, match="encoder.layer.6.output.dense.weight"):
        layer_depth("encoder.layer.6.output.dense.weight", num_layers=6)
    assert layer_depth("encoder.layer.5.output.dense.weight", 6) == 6
    assert layer_depth("electra.embeddings_project.weight", 12) == 0
    assert layer_depth("classifier.dense.weight", 12) == 13


def test_layer_decay_reaches_lora_adapters_by_their_layer(tiny_model_dir):
    cfg = train_config(method="lora", layer_decay=0.5, lora={"r": 2})
    model = apply_method(tiny_qa_model(tiny_model_dir), cfg)
    lrs = lr_by_param(model, param_groups(model, 0.01, 1e-3, layer_decay=0.5))
    assert set(lrs) == {n for n, p in model.named_parameters() if p.requires_grad}  # each trainable one, no frozen one
    adapters = {n: lr for n, (lr, _) in lrs.items() if "lora_A" in n}
    assert {lr for n, lr in adapters.items() if ".layer.1." in n} == {5e-4}
    assert {lr for n, lr in adapters.items() if ".layer.0." in n} == {2.5e-4}
    assert {lr for n, (lr, _) in lrs.items() if "qa_outputs" in n} == {1e-3}


CONTEXTS = [
    "Marie Curie was born in Warsaw in 1867 and moved to Paris to study physics.",
    "The Danube flows through ten countries and ends in the Black Sea.",
    "Coffee plants grow best at high altitudes in tropical climates such as Ethiopia.",
]
QAS = [("Where was Curie born?", "Warsaw", 0), ("When was she born?", "1867", 0),
       ("Where does the Danube end?", "the Black Sea", 1), ("How many countries?", "ten", 1),
       ("Where does coffee grow best?", "at high altitudes", 2), ("Name a country with coffee.", "Ethiopia", 2)]


def tiny_examples():
    out = []
    for i, (q, a, c) in enumerate(QAS):
        ctx = CONTEXTS[c]
        out.append({"id": f"t{i}", "question": q, "context": ctx,
                    "answers": {"text": [a], "answer_start": [ctx.index(a)]}})
    return out


def tiny_setup(tokenizer):
    import datasets

    exs = tiny_examples()
    train = datasets.Dataset.from_dict(tokenize_train(to_columns(exs), tokenizer, 64, 16))
    ev = datasets.Dataset.from_dict(tokenize_eval(to_columns(exs), tokenizer, 64, 16))
    rows = train.select_columns(["input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions"])
    return exs, train, ev, rows


def run_fit(tiny_model_dir, tokenizer, tmp_path, cfg, collate=None, name="run"):
    exs, train, ev, rows = tiny_setup(tokenizer)
    model = tiny_qa_model(tiny_model_dir)
    collate = collate or QA.collator(tokenizer, train.column_names)
    params = run_params("qa", precision=cfg.precision)
    evaluation = Evaluation(evaluator(QA, ev, exs, tokenizer.pad_token_id, params, {"version_2": False}), "f1")
    return fit(model, rows, collate, train["length"], cfg, seed=7, evaluation=evaluation, log_dir=tmp_path / name,
               checkpoint_dir=tmp_path / "ckpt"), model


def test_tiny_model_learns_the_training_set(tiny_model_dir, tokenizer, tmp_path):
    cfg = train_config(epochs=30, batch_size=2, lr=3e-3, precision="fp32", log_every=1,
                              warmup_ratio=0.0)
    result, _ = run_fit(tiny_model_dir, tokenizer, tmp_path, cfg)
    losses = [r["train_loss"] for r in result.log.epochs]
    assert losses[-1] < 0.5 * losses[0]
    loss_log = (tmp_path / "run" / "plots" / "metrics" / "train" / "loss.tsv").read_text().splitlines()
    assert loss_log[0] == "step\tloss" and len(loss_log) == 1 + len(result.log.steps)  # dvclive's file
    assert len(result.log.epochs) == 30 and "eval_f1" in result.log.epochs[0]
    assert not (tmp_path / "ckpt").exists(), "a finished run removes its resumable state"


def test_killed_run_resumes_to_identical_numbers(tiny_model_dir, tokenizer, tmp_path, capsys):
    cfg = train_config(epochs=3, batch_size=2, lr=1e-3, precision="fp32", log_every=1,
                              checkpoint_every=2)
    full, model_a = run_fit(tiny_model_dir, tokenizer, tmp_path, cfg, name="full")

    exs, train, ev, rows = tiny_setup(tokenizer)
    base = QA.collator(tokenizer, train.column_names)
    collate = DyingCollate(base, die_at=6)  # mid-epoch 2 (3 batches per epoch), after a checkpoint
    with pytest.raises(Interrupt):
        run_fit(tiny_model_dir, tokenizer, tmp_path, cfg, collate=collate, name="resumed")
    assert (tmp_path / "ckpt" / "state.json").exists()
    capsys.readouterr()
    collate.reset()
    resumed, model_b = run_fit(tiny_model_dir, tokenizer, tmp_path, cfg, collate=collate, name="resumed")
    # The checkpoint was read, not ignored: a fresh start would also match `full` (same seeds).
    out = capsys.readouterr().out
    assert "resuming from" in out and "epoch 2, step 4" in out
    assert collate.n == 5, "only the 5 steps after the checkpoint are trained again"

    strip = lambda rows: [{k: v for k, v in r.items() if not k.endswith("_per_s")} for r in rows]
    assert strip(resumed.log.steps) == strip(full.log.steps)
    assert resumed.log.epochs == full.log.epochs
    for (ka, va), (kb, vb) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        assert torch.equal(va, vb), ka


@pytest.mark.parametrize("every,steps", [(0, [3, 6]), (4, [4, 8]), (1, [1, 2, 3, 4, 5, 6, 7, 8])])
def test_resumable_state_is_written_every_n_steps_and_never_after_the_last_epoch(
        every, steps, tiny_model_dir, tokenizer, tmp_path, monkeypatch):
    """3 batches per epoch, 3 epochs: 0 writes at each epoch end but the last; N writes once N
    steps have passed since the last write, mid-epoch or at an epoch end."""
    from ftpipe import checkpoint

    written, save = [], checkpoint.save
    monkeypatch.setattr(checkpoint, "save", lambda d, k, m, o, s, state: (written.append(state["step"]),
                                                                        save(d, k, m, o, s, state)))
    cfg = train_config(epochs=3, batch_size=2, precision="fp32", checkpoint_every=every)
    result, _ = run_fit(tiny_model_dir, tokenizer, tmp_path, cfg)
    assert result.steps == 9 and written == steps


def test_checkpoint_of_other_params_is_not_resumed(tiny_model_dir, tokenizer, tmp_path, capsys):
    cfg = train_config(epochs=2, batch_size=2, precision="fp32", checkpoint_every=1)
    exs, train, ev, rows = tiny_setup(tokenizer)
    base = QA.collator(tokenizer, train.column_names)
    with pytest.raises(Interrupt):
        run_fit(tiny_model_dir, tokenizer, tmp_path, cfg, collate=DyingCollate(base, die_at=3))
    other = train_config(epochs=2, batch_size=2, precision="fp32", lr=1e-4)
    run_fit(tiny_model_dir, tokenizer, tmp_path, other)
    assert "ignoring checkpoint" in capsys.readouterr().out


def test_a_run_killed_while_its_model_is_saved_resumes_from_its_last_state(tiny_model_dir, tokenizer, tmp_path,
                                                                             capsys):
    """The resumable state goes only once the model and the logs are written: a kill in
    between retrains the steps after the last state, not the whole run."""
    from ftpipe.models import save_model
    from ftpipe.training import train_and_save

    cfg = train_config(epochs=2, batch_size=2, lr=1e-3, precision="fp32", checkpoint_every=2)
    exs, train, ev, rows = tiny_setup(tokenizer)  # 3 batches an epoch: states at steps 2 and 4 of 6
    params = run_params("qa", precision="fp32")
    collate = DyingCollate(QA.collator(tokenizer, train.column_names), die_at=None)

    def run(save):
        evaluation = Evaluation(evaluator(QA, ev, exs, tokenizer.pad_token_id, params, {"version_2": False}), "f1")
        return train_and_save(tiny_qa_model(tiny_model_dir), tokenizer, train, collate, cfg, 7, evaluation,
                              out_dir=tmp_path / "model", log_dir=tmp_path / "logs",
                              checkpoint_root=tmp_path / "ckpt", save=save)

    def killed_at_the_final_save(model, tok, path):
        if path.name == "final":
            raise Interrupt
        save_model(model, tok, path)

    with pytest.raises(Interrupt):
        run(killed_at_the_final_save)
    assert collate.n == 6 and not (tmp_path / "model").exists()
    capsys.readouterr()
    collate.reset()
    summary = run(save_model)
    assert "resuming from" in capsys.readouterr().out and collate.n == 2, "only the 2 steps after the last state"
    assert summary["steps"] == 6 and (tmp_path / "model" / "final").is_dir() and not (tmp_path / "ckpt").exists()


def test_tree_digest_follows_file_names_and_contents(tmp_path):
    """What the checkpoint key holds of the weights and data a run starts from (the stage
    itself: test_reliability's replaced encoder)."""
    from ftpipe.checkpoint import tree_digest

    enc = tmp_path / "encoder"
    (enc / "sub").mkdir(parents=True)
    (enc / "model.safetensors").write_bytes(b"weights")
    (enc / "sub" / "vocab.txt").write_text("a")
    first = tree_digest(enc)
    assert tree_digest(enc) == first and len(first) == 32
    (enc / "model.safetensors").write_bytes(b"other weights")
    assert tree_digest(enc) != first
    (enc / "model.safetensors").write_bytes(b"weights")
    (enc / "sub" / "vocab.txt").rename(enc / "sub" / "merges.txt")  # same bytes, another file
    assert tree_digest(enc) != first
    assert tree_digest(enc / "model.safetensors") != tree_digest(enc / "sub" / "merges.txt")
    assert tree_digest("org/hub-model") == "org/hub-model"  # not on disk: its name


def test_precision_is_chosen_by_measurement_with_a_margin():
    from ftpipe.precision import choose

    assert choose(fp32_s=1.0, bf16_s=25.0) == "fp32"  # emulated bf16 (AVX2-only CPUs)
    assert choose(fp32_s=1.5, bf16_s=1.0) == "bf16"  # native bf16
    assert choose(fp32_s=1.1, bf16_s=1.0) == "fp32"  # within the margin: no flip-flopping


def test_the_calibration_runs_once_per_machine_and_is_cached(tmp_path, monkeypatch):
    from ftpipe import precision

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(precision, "native_bf16_kernels", lambda: False)  # an AVX2-only CPU
    calls = []

    def slow_bf16():
        calls.append(1)
        return 0.01, 0.02

    assert precision.calibrated_cpu_choice(slow_bf16) == "fp32" and len(calls) == 1
    assert precision.calibrated_cpu_choice(slow_bf16) == "fp32" and len(calls) == 1  # cached
    cached = __import__("json").loads((tmp_path / "ftpipe" / "precision.json").read_text())
    assert cached[precision.machine_key()] == {"fp32_s": 0.01, "bf16_s": 0.02, "choice": "fp32"}
    assert precision.resolve_precision("fp32") == "no" and precision.resolve_precision("bf16") == "bf16"
    # kernels capped below the CPU's (bf16 emulated there): measured again, not read from the cache
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert precision.calibrated_cpu_choice(lambda: (0.02, 0.01)) == "bf16"
    assert len(json.loads((tmp_path / "ftpipe" / "precision.json").read_text())) == 2


def test_the_calibration_alternates_so_a_burst_of_other_work_cannot_pick_fp32():
    """On a busy box another process can slow a few consecutive timed steps. Timed one
    precision after the other, such a burst lands on one of them only (here bf16, 1.5x
    faster than fp32 but 3x slower while the burst lasts): best of 3 each picked fp32."""
    from ftpipe.precision import best_of_interleaved, choose

    def steps_with_a_burst(first, last):
        calls = []

        def step(dtype):
            calls.append(dtype)
            base = 1.0 if dtype is None else 1 / 1.5
            return base * (3.0 if first <= len(calls) - 1 <= last else 1.0)
        return step, calls

    step, calls = steps_with_a_burst(4, 11)
    one_after_the_other = [min([step(dtype) for _ in range(4)][1:]) for dtype in (None, torch.bfloat16)]
    assert choose(*one_after_the_other) == "fp32"  # the burst hit every bf16 step
    step, calls = steps_with_a_burst(4, 11)
    fp32_s, bf16_s = best_of_interleaved(step, rounds=20)
    assert calls[:4] == [None, torch.bfloat16] * 2 and len(calls) == 42
    assert (fp32_s, bf16_s) == (1.0, 1 / 1.5) and choose(fp32_s, bf16_s) == "bf16"


def test_fp32_measured_where_bf16_is_native_is_measured_again_then_said(tmp_path, monkeypatch, capsys):
    from ftpipe import precision

    def timer(*results):
        calls = []

        def run():
            calls.append(1)
            return results[min(len(calls), len(results)) - 1]
        return run, calls

    monkeypatch.setattr(precision, "native_bf16_kernels", lambda: True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "busy"))  # one busy measurement, then the truth
    run, calls = timer((0.011, 0.01), (0.02, 0.01))
    assert precision.calibrated_cpu_choice(run) == "bf16" and len(calls) == 2 and capsys.readouterr().err == ""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "always"))
    run, calls = timer((0.011, 0.01))
    assert precision.calibrated_cpu_choice(run) == "fp32" and len(calls) == 3
    err = capsys.readouterr().err
    assert "1.10x as fast as fp32" in err and str(tmp_path / "always" / "ftpipe" / "precision.json") in err
    monkeypatch.setattr(precision, "native_bf16_kernels", lambda: False)  # emulated bf16: fp32 is right
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "emulated"))
    run, calls = timer((0.01, 0.2))
    assert precision.calibrated_cpu_choice(run) == "fp32" and len(calls) == 1 and capsys.readouterr().err == ""


def test_bf16_counts_as_native_only_where_torch_kernels_are_not_capped(monkeypatch):
    from ftpipe import precision

    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert precision.native_bf16_kernels()
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")  # ATEN_CPU_CAPABILITY=avx2
    assert not precision.native_bf16_kernels()
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert not precision.native_bf16_kernels()
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert not precision.native_bf16_kernels()


def test_importing_ftpipe_puts_large_cpu_tensors_on_huge_pages_unless_turned_off():
    """torch reads THP_MEM_ALLOC_ENABLE once, at its first allocation: ftpipe sets it before
    torch is imported, keeps a value the user set, and the machine record says which ran."""
    import os
    import subprocess
    import sys

    code = ("import os, ftpipe; from ftpipe.machine import machine; "
            "print(os.environ['THP_MEM_ALLOC_ENABLE'], machine()['huge_pages'])")
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    default = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert default.stdout.split()[0] == "1" and default.stdout.strip().endswith("torch on")
    off = subprocess.run([sys.executable, "-c", code], env={**env, "THP_MEM_ALLOC_ENABLE": "0"},
                         capture_output=True, text=True, check=True)
    assert off.stdout.split()[0] == "0" and off.stdout.strip().endswith("torch off")


def test_the_calibration_also_runs_inside_inference(tmp_path, monkeypatch):
    """predict (and the per-epoch evaluation) may be the first to resolve ``auto``, inside
    torch.inference_mode: the timed backward must still run, and the choice be cached."""
    from ftpipe import precision

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with torch.inference_mode():
        choice = precision.calibrated_cpu_choice()
    assert choice in ("fp32", "bf16")
    assert json.loads((tmp_path / "ftpipe" / "precision.json").read_text())[precision.machine_key()]["choice"] == choice


def test_electra_schedule_multiplies_the_warmup_ramp_onto_the_decay():
    from ftpipe.optim import optimizer_and_schedule

    def lrs(schedule):
        model = torch.nn.Linear(2, 2)
        opt, sched = optimizer_and_schedule(model, train_config(lr=1e-3, warmup_ratio=0.1, schedule=schedule), 100)
        out = []
        for _ in range(100):
            out.append(sched.get_last_lr()[0])
            opt.step(), sched.step()
        return out

    linear, electra = lrs("linear"), lrs("electra")
    assert linear[10] == pytest.approx(1e-3) and linear[55] == pytest.approx(1e-3 * 45 / 90)  # peak, then rescaled
    assert electra[5] == pytest.approx(1e-3 * 0.95 * 0.5)  # ramp x decay during warmup
    assert electra[10] == pytest.approx(1e-3 * 0.9) and electra[55] == pytest.approx(1e-3 * 0.45)
    assert max(electra) < 1e-3 and electra[0] == 0.0


def test_the_short_batch_goes_last_when_several_processes_share_the_batches():
    """accelerate's batch-sampler shards expect a short batch only at the end; elsewhere a round
    of batches is skipped. With the flag the same batches come in the same order, the short one last."""
    plain = LengthGroupedBatchSampler(list(range(1, 40)), 4, seed=3)  # 39 rows: nine of 4, one of 3
    multi = LengthGroupedBatchSampler(list(range(1, 40)), 4, seed=3, short_batch_last=True)
    short_elsewhere = 0
    for epoch in range(6):
        plain.set_epoch(epoch)
        multi.set_epoch(epoch)
        a, b = plain.batches(), multi.batches()
        short_elsewhere += len(a[-1]) == 4
        assert [x for x in a if len(x) == 4] == b[:-1] and len(b[-1]) == 3 and sorted(a) == sorted(b)
    assert short_elsewhere, "the plain order must put the short batch elsewhere in some epoch"


def test_a_resumed_runs_log_files_are_the_uninterrupted_runs_byte_for_byte(tmp_path):
    """The replay logs the rows in the order the run did (an epoch that ends before the first
    logged step included): metrics.json's key order and every TSV come out the same."""
    from ftpipe.livelog import RunLog

    steps = [{"step": s, "epoch": s / 4, "loss": 1.0 / s, "lr": 1e-4} for s in (5, 10)]
    epochs = [{"epoch": e, "step": 4 * e, "train_loss": 1.0 / e, "eval_f1": 10.0 * e} for e in (1, 2, 3)]
    evals = [{"step": 6, "f1": 15.0}]
    live = RunLog(tmp_path / "live")
    live.log_epoch(epochs[0])  # step 4: an epoch before the first logged step
    live.log_step(steps[0])
    live.log_eval(6, {"f1": 15.0})
    live.log_epoch(epochs[1])
    live.log_step(steps[1])
    live.log_epoch(epochs[2])
    RunLog(tmp_path / "resumed", steps, epochs, evals)
    files = sorted(p.relative_to(tmp_path / "live") for p in (tmp_path / "live").rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(tmp_path / "resumed") for p in (tmp_path / "resumed").rglob("*")
                                     if p.is_file())
    for f in files:
        assert (tmp_path / "live" / f).read_bytes() == (tmp_path / "resumed" / f).read_bytes(), f


def test_a_checkpoint_holds_a_diverged_loss(tmp_path):
    """A NaN loss in the logged rows is state like any other: the save does not fail on it."""
    from ftpipe import checkpoint

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(model.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    checkpoint.save(tmp_path / "state", "k", model, opt, sched, {"step": 3, "acc": {"loss_sum": float("nan")}})
    state = checkpoint.load(tmp_path / "state", "k")
    assert state["step"] == 3 and np.isnan(state["acc"]["loss_sum"])
