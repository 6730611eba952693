"""The experiment comparison report on fixture data: `dvc exp show --json` as DVC 3 writes
it (captured from the grid test's project: the baseline and two queued LoRA experiments)."""

import copy
import json

from conftest import FIXTURES
from ftpipe.report import carried, experiments, markdown, rows, write_report

SHOW = json.loads((FIXTURES / "exp_show.json").read_text())


def test_experiments_are_flattened_without_the_workspace():
    exps = experiments(SHOW)
    assert len(exps) == 3 and all(e["name"] != "workspace" for e in exps)
    base = next(e for e in exps if e["params"]["train"]["method"] == "full")
    assert base["baseline"] is None and all(e["baseline"] is base for e in exps if e is not base)
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


def _carry_mc(exps, same_params: bool):
    """The first LoRA experiment made one that did not rerun mc's stages (its mc outputs are
    the baseline's), with the baseline's params (``same_params``) or its own LoRA ones."""
    exps = copy.deepcopy(exps)
    lora = next(e for e in exps if e["baseline"] is not None)
    base = lora["baseline"] = next(e for e in exps if e["baseline"] is None)
    for out in ("models/mc", "predictions/mc"):
        lora["outs"][out] = base["outs"][out]
    if same_params:
        lora["params"] = copy.deepcopy(base["params"])
    return exps, lora


def test_rows_an_experiment_did_not_run_itself_are_marked_and_left_out(tmp_path):
    exps, lora = _carry_mc(experiments(SHOW), same_params=False)
    by_task = {r["task"]: r["carried"] for r in rows(lora)}
    # the shared train.method changed every task's params: mc's figures are a full run's
    assert by_task == {"qa": None, "mc": "stale", "chain": None} and carried(lora, "mc") == "stale"
    write_report(exps, lambda rev, path: None, tmp_path)
    text = (tmp_path / "comparison.md").read_text()
    assert f"| {lora['name']} | qa |" in text and f"| {lora['name']} | mc |" not in text
    assert f"Left out, 1 row: tasks whose params an experiment changed" in text and f"{lora['name']} mc." in text

    exps, lora = _carry_mc(experiments(SHOW), same_params=True)
    assert carried(lora, "mc") == "same" and carried(lora, "qa") is None
    write_report(exps, lambda rev, path: None, tmp_path)
    text = (tmp_path / "comparison.md").read_text()
    assert f"| {lora['name']} | mc |" not in text and "Left out, 1 row: tasks an experiment did not retrain" in text
    # without the baseline in the report the experiment's copy is the only one: kept
    write_report([e for e in exps if e["baseline"] is not None], lambda rev, path: None, tmp_path)
    assert f"| {lora['name']} | mc |" in (tmp_path / "comparison.md").read_text()
