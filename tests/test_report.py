"""The experiment comparison report on fixture data: `dvc exp show --json` as DVC 3 writes
it (captured from the grid test's project: a baseline and two queued experiments)."""

import json

from conftest import FIXTURES
from ftpipe.report import experiments, markdown, row, write_report

SHOW = json.loads((FIXTURES / "exp_show.json").read_text())


def test_experiments_are_flattened_without_the_workspace():
    exps = experiments(SHOW)
    assert [e["name"] for e in exps] == ["master", "broad-ambo", "pappy-pats"]
    assert {e["params"]["train"]["batch_size"] for e in exps} == {4, 16}
    assert all("metrics/eval.json" in e["metrics"] for e in exps)


def test_rows_and_markdown():
    exps = experiments(SHOW)
    r = row(exps[1])
    assert r["experiment"] == "broad-ambo" and r["batch_size"] == 16 and r["method"] == "full"
    assert r["lora_r"] is None  # rank only for LoRA runs
    assert r["f1"] == exps[1]["metrics"]["metrics/eval.json"]["f1"]
    assert r["trainable_pct"] == 100.0 and r["mc_accuracy"] is not None
    table = markdown([row(e) for e in exps]).splitlines()
    assert table[0].startswith("| experiment | method |") and "lora_r" not in table[0]  # empty column dropped
    assert len(table) == 2 + 3 and table[3].startswith("| broad-ambo | full |")


def test_write_report(tmp_path):
    exps = experiments(SHOW)
    logs = {e["rev"]: f"epoch\tstep\ttrain_loss\teval_f1\n1\t5\t3.0\t{i}.5\n2\t10\t2.0\t{i + 1}.5\n"
            for i, e in enumerate(exps)}
    lora = {**exps[2], "name": "lora-r8", "rev": "abc",
            "params": {"train": {"method": "lora", "lora": {"r": 8}, "batch_size": 8}},
            "metrics": {"metrics/train.json": {"trainable_params": 1000, "trainable_pct": 0.5},
                        "metrics/eval.json": {"exact_match": 1.0, "f1": 2.0}}}
    written = write_report(exps + [lora], lambda rev, path: logs.get(rev), tmp_path)
    assert [p.name for p in written] == ["comparison.md", "metric_vs_trainable.png", "epochs_overlay.png"]
    text = (tmp_path / "comparison.md").read_text()
    assert "| lora-r8 | lora | 8 | 8 |" in text and "| pappy-pats |" in text
    assert all(p.stat().st_size > 1000 for p in written[1:])
