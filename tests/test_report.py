"""The experiment comparison report on fixture data: `dvc exp show --json` as DVC 3 writes
it (captured from the grid test's project: the baseline and two queued LoRA experiments)."""

import json

import pytest

from conftest import FIXTURES
from ftpipe.report import _inner_hash, cache_listing, cache_objects, experiments, freshness, markdown, rows, write_report

SHOW = json.loads((FIXTURES / "exp_show.json").read_text())


def test_experiments_are_flattened_without_the_workspace():
    exps = experiments(SHOW)
    assert len(exps) == 3 and all(e["name"] != "workspace" for e in exps)
    assert [e["name"] for e in exps] == ["master", "gauge-maul", "dizzy-nave"]  # oldest first
    assert sorted(e["params"]["train"]["method"] for e in exps) == ["full", "lora", "lora"]
    assert all("metrics/qa/eval.json" in e["metrics"] for e in exps)


def test_one_row_per_task_section_and_the_chain():
    exps = experiments(SHOW)
    lora = next(e for e in exps if e["params"]["train"]["method"] == "lora")
    table = rows(lora)
    assert [r["task"] for r in table] == ["qa", "mc", "chain"]
    qa, mc, chain = table
    assert qa["method"] == "lora" and qa["lora_r"] == lora["params"]["train"]["lora"]["r"]
    assert qa["lr"] == lora["params"]["train"]["lr"]["lora"]  # the lr of the method that ran
    assert qa["batch_size"] == lora["params"]["qa"]["train"]["batch_size"]  # the task's override
    assert qa["metric"] == "f1" and qa["value"] == lora["metrics"]["metrics/qa/eval.json"]["f1"]
    assert mc["metric"] == "accuracy" and 0 < mc["trainable_pct"] < 100
    assert chain["metric"] == "end_to_end_f1"
    assert chain["value"] == lora["metrics"]["metrics/chain.json"]["end_to_end_f1"] == 1.3158
    text = markdown(table).splitlines()
    assert text[0].startswith("| experiment | task | seed | method | lora_r |") and len(text) == 2 + 3


def test_write_report(tmp_path):
    exps = experiments(SHOW)
    curve = "step\tf1\n5\t1.5\n10\t2.5\n"

    def read(rev, path):
        return curve if path == "metrics/qa/train/plots/metrics/eval/f1.tsv" else None

    written = write_report(exps, read, tmp_path)
    names = [p.name for p in written]
    assert names == ["comparison.md", "qa_metric_vs_trainable.png", "qa_epochs.png", "mc_metric_vs_trainable.png"]
    text = (tmp_path / "comparison.md").read_text()
    assert all(f"| {e['name']} | qa |" in text for e in exps)
    assert all(p.stat().st_size > 1000 for p in written[1:])


# ---------------------------------------------------------------- whose run a row shows

def _stage(params: dict, outs: dict, deps: dict | None = None) -> dict:
    """A dvc.lock entry: the params it ran under, its outputs' and dependencies' hashes."""
    return {"params": {"params.yaml": params}, "outs": [{"path": p, "md5": h} for p, h in outs.items()],
            "deps": [{"path": p, "md5": h} for p, h in (deps or {}).items()]}


def _lock(exp: dict, mc_train: dict, mc_model: str = "mc-1", features: str = "feat-1", stale_eval=()) -> dict:
    """The lock of a fixture experiment: train@qa under its own params, train@mc under
    ``mc_train`` (its own shared train section, or another run's), predict and evaluate for
    both (evaluate carried from another run for the tasks in ``stale_eval``)."""
    stages = {"tokenize@mc": _stage({}, {"data/features/mc": "feat-1"}),
              "train@qa": _stage({"train": exp["params"]["train"]}, {"models/qa": f"qa-{exp['rev']}"}),
              "train@mc": _stage({"train": mc_train}, {"models/mc": mc_model}, {"data/features/mc": features})}
    for t in ("qa", "mc"):
        model = stages[f"train@{t}"]["outs"][0]["md5"]
        stages[f"predict@{t}"] = _stage({}, {f"predictions/{t}": f"pred-{model}"}, {f"models/{t}": model})
        scored = "pred-other" if t in stale_eval else f"pred-{model}"
        stages[f"evaluate@{t}"] = _stage({}, {}, {f"predictions/{t}": scored})
    return {"schema": "2.0", "stages": stages}


def _report(exps: list[dict], locks: dict, tmp_path, only=()) -> str:
    import yaml

    def read(rev, path):
        return yaml.safe_dump(locks[rev]) if path == "dvc.lock" and rev in locks else None

    write_report(exps, read, tmp_path, only)
    return (tmp_path / "comparison.md").read_text()


def test_a_row_the_experiment_did_not_run_under_its_params_is_left_out(tmp_path):
    exps = experiments(SHOW)
    base, lora = exps[0], exps[1]
    assert base["params"]["train"]["method"] == "full" and lora["params"]["train"]["method"] == "lora"
    full_train = base["params"]["train"]
    # lora's mc model is the baseline's full fine-tuning, carried: its targets left train@mc out
    locks = {base["rev"]: _lock(base, full_train), lora["rev"]: _lock(lora, full_train)}
    text = _report([base, lora], locks, tmp_path)
    assert f"| {lora['name']} | qa |" in text and f"| {lora['name']} | mc |" not in text
    assert f"| {base['name']} | mc |" in text
    assert "changed and the task's stages did not rerun" in text and f"{lora['name']} mc." in text
    # its own training, but on features of another run (an upstream stage it did not rerun)
    locks[lora["rev"]] = _lock(lora, lora["params"]["train"], "mc-2", features="feat-0")
    assert f"| {lora['name']} | mc |" not in _report([base, lora], locks, tmp_path)
    locks[lora["rev"]] = _lock(lora, lora["params"]["train"], "mc-2")
    assert f"| {lora['name']} | mc |" in _report([base, lora], locks, tmp_path)


def test_a_run_is_shown_once_and_scored_by_the_experiments_own_stages(tmp_path):
    exps = experiments(SHOW)
    base, lora = exps[0], exps[1]
    # the same mc model in both commits, each trained under its commit's params: one run
    locks = {e["rev"]: _lock(e, e["params"]["train"], "mc-same") for e in (base, lora)}
    text = _report([base, lora], locks, tmp_path)
    assert f"| {base['name']} | mc |" in text and f"| {lora['name']} | mc |" not in text
    assert (f"repeat an earlier experiment's run (the experiment did not rerun the task): {lora['name']} mc "
            f"({base['name']}'s).") in text
    # the carried run stays left out when the report names only the experiment that carried it
    text = _report([base, lora], locks, tmp_path, only=[lora["name"]])
    assert f"| {lora['name']} | qa |" in text and f"| {lora['name']} | mc |" not in text
    assert f"| {base['name']} |" not in text and f"{lora['name']} mc ({base['name']}'s)." in text
    # two experiments with one run (the later one carried it from the earlier, in the
    # workspace): credited to the one that made it, the older
    older, newer = exps[1], exps[2]
    locks = {base["rev"]: _lock(base, base["params"]["train"], "mc-0"),
             **{e["rev"]: _lock(e, e["params"]["train"], "mc-lora") for e in (older, newer)}}
    text = _report(exps, locks, tmp_path)
    assert f"| {older['name']} | mc |" in text and f"| {newer['name']} | mc |" not in text
    # qa's evaluate stage did not run on this commit's predictions: the value is the training
    # summary's last evaluation, not the carried eval.json (1.3158)
    qa = next(r for r in rows(lora, _lock(lora, lora["params"]["train"], stale_eval=("qa",))) if r["task"] == "qa")
    assert qa["value"] == lora["metrics"]["metrics/qa/train/metrics.json"]["eval"]["f1"] != 1.3158
    qa = next(r for r in rows(lora, locks[lora["rev"]]) if r["task"] == "qa")
    assert qa["value"] == 1.3158 and qa["run"] == f"pred-qa-{lora['rev']}" and not qa["stale"]
    # without a lock (not a git commit) every row is shown, as before
    assert all(not r["stale"] and r["run"] is None for r in rows(lora))


def test_freshness_follows_upstream_stages_and_files_inside_their_outputs():
    """A fine-tuning whose model.dir is the pretraining's discriminator, and the chain after it."""
    listings = {"D1.dir": [{"md5": "w1", "relpath": "final/discriminator/model.safetensors"},
                           {"md5": "c1", "relpath": "final/discriminator/config.json"},
                           {"md5": "g1", "relpath": "final/generator/model.safetensors"}]}
    listings["D2.dir"] = [dict(e, md5=e["md5"].replace("1", "2")) for e in listings["D1.dir"]]
    disc = _inner_hash(listings["D1.dir"], "final/discriminator")
    assert disc.endswith(".dir") and disc != _inner_hash(listings["D2.dir"], "final/discriminator")

    def lock(pretrained: str) -> dict:
        return {"stages": {
            "train@pretrain": _stage({"pretrain.train": {"lr": 2}}, {"models/pretrain": pretrained}),
            "train@cola": _stage({"cola.train": {"lr": 3}, "seed": 1}, {"models/cola": "C.dir"},
                                 {"models/pretrain/final/discriminator": disc}),
            "chain": _stage({}, {"predictions/chain": "P.dir"}, {"models/cola": "C.dir"})}}

    params = {"seed": 1, "pretrain": {"train": {"lr": 2}}, "cola": {"train": {"lr": 3}}}
    fresh = freshness(lock("D1.dir"), params, listings.get)
    assert fresh("train@pretrain") and fresh("train@cola") and fresh("chain") and fresh("evaluate@cola") is None
    # the pretraining's params changed, nothing reran: every hash still matches, all is stale
    stale = freshness(lock("D1.dir"), {**params, "pretrain": {"train": {"lr": 9}}}, listings.get)
    assert stale("train@pretrain") is False and stale("train@cola") is False and stale("chain") is False
    # the pretraining reran, the fine-tuning did not: it fine-tuned another discriminator
    rerun = freshness(lock("D2.dir"), params, listings.get)
    assert rerun("train@pretrain") and rerun("train@cola") is False and rerun("chain") is False
    # a key the experiment's params lack is not a recorded null
    null = {"stages": {"train@cola": _stage({"cola.model.dropout": None}, {})}}
    assert freshness(null, {"cola": {"model": {"dropout": None}}}, listings.get)("train@cola")
    assert freshness(null, {"cola": {"model": {}}}, listings.get)("train@cola") is False


def test_directory_listings_are_read_from_the_cache_dvc_is_configured_with(tmp_path, monkeypatch):
    """`dvc config cache.dir ../elsewhere` (relative to .dvc/), as `dvc cache dir` resolves it."""
    for level in ("DVC_GLOBAL_CONFIG_DIR", "DVC_SYSTEM_CONFIG_DIR"):  # this machine's own configs stay out
        monkeypatch.setenv(level, str(tmp_path / level))
    listing = [{"md5": "w1", "relpath": "final/model.safetensors"}]
    for project, cache in (("default", "default/.dvc/cache"), ("moved", "elsewhere")):
        (tmp_path / project / ".dvc").mkdir(parents=True)
        if project == "moved":
            (tmp_path / project / ".dvc" / "config").write_text("[cache]\n    dir = ../../elsewhere\n")
        obj = tmp_path / cache / "files" / "md5" / "ab" / "cdef.dir"
        obj.parent.mkdir(parents=True)
        obj.write_text(json.dumps(listing))
        assert cache_objects((tmp_path / project / ".dvc").resolve()) == (tmp_path / cache / "files" / "md5").resolve()
        monkeypatch.chdir(tmp_path / project)
        assert cache_listing("abcdef.dir") == listing and cache_listing("abcdef") is None
        assert cache_listing("ab0000.dir") is None


def test_an_unknown_experiment_name_is_an_error_naming_it(monkeypatch, tmp_path):
    import ftpipe.report as report

    monkeypatch.setattr(report, "exp_show", lambda: SHOW)
    name = experiments(SHOW)[0]["name"]
    with pytest.raises(SystemExit, match="error: no experiment named nonexist-exp "):
        report.main([name, "nonexist-exp", "--out", str(tmp_path)])


def test_a_study_report_gives_each_metric_its_own_plot_and_skips_names_not_of_the_study(tmp_path, monkeypatch):
    """The batch study reports qa's exact_match and F1: one axis each (they were drawn on
    one, labelled the first). A baseline on a branch named batch-sweep is not a run of the
    study (it crashed the report); seeds are listed as numbers (1, 2, 10 sorted as text
    read 1, 10, 2)."""
    from ftpipe import report
    from ftpipe.study import STUDIES

    exps = experiments(SHOW)
    for e, name in zip(exps, ["batch-sweep", "batch-batch8-s10", "batch-batch8-s2"]):
        e["name"] = name
    monkeypatch.setattr(report, "experiments", lambda show: exps)
    written = report.study_report(STUDIES["batch"], tmp_path, show=[], read=lambda rev, path: None)
    assert sorted(p.name for p in written) == ["batch.md", "batch_qa_exact_match.png", "batch_qa_f1.png"]
    assert all(p.is_file() for p in written)
    text = (tmp_path / "batch.md").read_text()
    assert "Seeds pooled (2, 10)" in text and "batch-sweep" not in text
    assert "| qa | batch8 | exact_match | 2 |" in text and "| qa | batch8 | f1 | 2 |" in text
    assert report.plot_names([{"task": "cola", "metric": "mcc"}], "peft") == {("cola", "mcc"): "peft_cola.png"}
