"""params.yaml is the only source of settings: every key present, nothing unknown, no
duplicates, values typed and in range, errors naming the key."""

import copy
import math
import re

import pytest
import yaml

from conftest import REPO, repo_params
from ftpipe.config import ParamsError, learning_rate, load_params, validate_all


def write(tmp_path, data, text=None):
    p = tmp_path / "params.yaml"
    p.write_text(text if text is not None else yaml.safe_dump(data, sort_keys=False))
    return p


def test_repository_params_file_is_valid():
    assert set(validate_all(REPO / "params.yaml")) == set(SECTIONS) >= {"qa", "mc", "cola", "stsb", "chunking"}
    p = load_params(REPO / "params.yaml", "qa")
    assert p.task.tokenize.max_length == 384 and p.task.tokenize.stride == 128
    assert p.train.lr.full == 2e-4 and p.train.batch_size == 8  # qa.train overrides the shared 1e-4
    assert p.train.weight_decay == repo_params()["train"]["weight_decay"]  # the rest is shared


SECTIONS = [k for k, v in repo_params().items() if isinstance(v, dict) and "task" in v]


def _leaves(d, prefix=""):
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and not key.endswith(".train") or key == "train":
            yield from _leaves(v, key + ".")
        else:
            yield key


def _drop(data, key):
    parts = key.split(".")
    node = data
    for p in parts[:-1]:
        node = node[p]
    del node[parts[-1]]


@pytest.mark.parametrize("key", list(_leaves(repo_params())))
def test_every_key_must_be_present(tmp_path, key):
    """No second set of defaults in the code: removing any key is an error naming it in
    full (a task section's train and predict hold overrides: they may be empty, but must
    be there)."""
    data = repo_params()
    _drop(data, key)
    section = key.split(".")[0] if key.split(".")[0] in SECTIONS else None
    with pytest.raises(ParamsError, match="missing") as e:
        load_params(write(tmp_path, data), section)
    message = str(e.value).replace(str(tmp_path), "<tmp>")  # the path holds the test's name
    part = key.split(".")[1] if section else None
    whole_part = key == f"{section}.{part}" and part in ("train", "predict")
    expected = f"{section}: {part}: missing section" if whole_part else f"{key}: missing"
    assert expected in message, message


@pytest.mark.parametrize("section", ["train", "predict", "encoder", "qa"])
def test_null_or_empty_section_is_an_error(tmp_path, section):
    data = repo_params()
    data[section] = None
    with pytest.raises(ParamsError, match=section):
        load_params(write(tmp_path, data), "qa")
    with pytest.raises(ParamsError, match=r"params.yaml: expected a mapping of sections at the top level"):
        load_params(write(tmp_path, None, text=""), "qa")


def test_duplicate_keys_are_an_error(tmp_path):
    text = (REPO / "params.yaml").read_text().replace("  epochs: 3\n", "  epochs: 3\n  epochs: 4\n", 1)
    with pytest.raises(ParamsError, match=r"duplicate key 'epochs' \(first at line \d+\)"):
        load_params(write(tmp_path, None, text=text))


def test_yaml_1_1_exponent_strings_are_numbers(tmp_path):
    """PyYAML reads `1e-4` (no dot) as a string; a number key takes it as the number."""
    text = (REPO / "params.yaml").read_text().replace("full: 1.0e-4", "full: 1e-4", 1)
    assert "full: 1e-4" in text and yaml.safe_load(text)["train"]["lr"]["full"] == "1e-4"
    p = load_params(write(tmp_path, None, text=text))  # no section: the shared train (each section overrides lr.full)
    assert p.train.lr.full == 1e-4 and isinstance(p.train.lr.full, float)


def test_learning_rate_follows_the_method(tmp_path):
    data = repo_params()
    data["train"]["method"] = "lora"
    p = load_params(write(tmp_path, data), "qa")
    assert learning_rate(p.train) == data["train"]["lr"]["lora"]  # qa overrides only lr.full
    data["train"]["method"] = "full"
    assert learning_rate(load_params(write(tmp_path, data), "qa").train) == data["qa"]["train"]["lr"]["full"]


def _set(data, key, value):
    parts = key.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


@pytest.mark.parametrize("key, value, message", [
    ("train.batchsize", 8, "unknown key train.batchsize"),
    ("trian", {}, "trian.task: missing; trian is not a shared section"),
    ("train.batch_size", 0, "train.batch_size: invalid value 0; allowed: a value >= 1"),
    ("train.batch_size", "8", "train.batch_size: expected an integer, got '8'"),
    ("train.lr.full", -1e-4, "train.lr.full: invalid value -0.0001"),
    ("train.lr.full", math.nan, "train.lr.full: expected a finite number, got nan"),
    ("train.lr.full", math.inf, "finite number"),
    ("train.lr.full", "fast", "train.lr.full: expected a number, got 'fast'"),
    ("train.method", "adapter", "train.method: invalid value 'adapter'; allowed: full | bitfit | lora"),
    ("train.layer_decay", 1.5, "train.layer_decay"),
    ("train.layer_decay", 0, "train.layer_decay"),
    ("train.warmup_steps", 100, "train.warmup_steps: invalid value; allowed: 0 while warmup_ratio is set"),
    ("train.lora.r", 0, "train.lora.r"),
    ("train.lora.target_modules", "all_linear", "train.lora.target_modules"),
    ("qa.tokenize.stride", 384, "qa.tokenize.stride: invalid value; allowed: 0 <= stride < max_length (384)"),
    ("qa.data.eval_size", 1.0, "qa.data.eval_size"),
    ("qa.data.bad_records", "ignore", "error | skip | repair"),
    ("qa.model.pretrained", "yes", "qa.model.pretrained: expected true or false, got 'yes'"),
    ("qa.model.dropout", 1.0, "qa.model.dropout: invalid value 1.0"),
    ("qa.model.dropout", -0.1, "qa.model.dropout: invalid value -0.1"),
    ("qa.task", "poetry", "qa.task: invalid value 'poetry'; allowed: qa | mc | glue | tagging"),
    ("qa.train.batch_size", 0, "qa.train.batch_size: invalid value 0"),  # names the override
    ("qa.train.batchsize", 2, "unknown key qa.train.batchsize"),
    ("qa.train", None, "qa.train: expected a mapping of overrides"),
    ("qa.extra", {}, "unknown key qa.extra"),
    ("seed", 1.5, "seed: expected an integer from 0 to 2**32 - 1"),
    ("seed", -1, "seed: expected an integer from 0 to 2**32 - 1"),
    ("seed", 2 ** 32, "seed: expected an integer from 0 to 2**32 - 1 (numpy's seeds), got 4294967296"),
    ("qa.task", ["qa"], "qa.task: invalid value ['qa']; allowed: qa | mc"),  # was a TypeError (unhashable)
    ("qa.data.split_seed", -1, "qa.data.split_seed"),
    ("predict.checkpoint", "last", "predict.checkpoint: invalid value 'last'; allowed: final | best"),
    ("mc.data.candidates", 1, "mc.data.candidates"),
])
def test_bad_params_name_the_key(tmp_path, key, value, message):
    data = repo_params()
    _set(data, key, value)
    section = "qa" if key.startswith(("qa", "trian")) else "mc"
    with pytest.raises(ParamsError) as e:
        if key == "trian":
            validate_all(write(tmp_path, data))
        else:
            load_params(write(tmp_path, data), section)
    assert message in str(e.value) and str(e.value).startswith(str(tmp_path / "params.yaml"))


@pytest.mark.parametrize("custom, message", [
    ({"hidden_size": -5}, "pretrain.model.custom.hidden_size: expected an integer >= 1, got -5"),
    ({"bogus": 1}, "pretrain.model.custom.bogus: unknown size; allowed: embedding_size | hidden_size"),
    ({"hidden_size": 30, "num_attention_heads": 4}, "pretrain.model.custom.hidden_size: 30 is not a multiple of "
                                                    "num_attention_heads (4)"),
    ({"hidden_size": 30}, "not a multiple of num_attention_heads (4)"),  # ElectraConfig's default heads
])
def test_custom_pretraining_sizes_are_checked_before_training(tmp_path, custom, message):
    """Custom sizes went to ElectraConfig unchecked: a RuntimeError (negative dimension) in train."""
    data = repo_params()
    data["pretrain"]["model"].update(size="custom", custom=custom)
    with pytest.raises(ParamsError, match=re.escape(message)):
        load_params(write(tmp_path, data), "pretrain")
    data["pretrain"]["model"]["custom"] = {"hidden_size": 32, "num_attention_heads": 2, "num_hidden_layers": 1}
    load_params(write(tmp_path, data), "pretrain")


def test_an_empty_fixed_label_set_is_stopped_by_validation(tmp_path):
    data = repo_params()
    data["chunking"]["data"]["labels"] = []
    with pytest.raises(ParamsError, match=r"chunking.data.labels: List should have at least 1 item"):
        load_params(write(tmp_path, data), "chunking")


def test_a_misspelt_key_is_named_with_the_likely_one(tmp_path):
    text = (REPO / "params.yaml").read_text().replace("  batch_size: 16", "  batchsize: 16", 1)
    with pytest.raises(ParamsError, match=r"unknown key train.batchsize \(did you mean batch_size\?\)"):
        load_params(write(tmp_path, None, text=text))


def test_missing_and_invalid_yaml(tmp_path):
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "nope.yaml")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(write(tmp_path, None, text="train: [unclosed\n"))


def test_a_stage_validates_only_its_own_task_section(tmp_path):
    """A broken mc section does not stop the qa stages (the validate stage checks them all)."""
    data = copy.deepcopy(repo_params())
    data["mc"]["data"]["candidates"] = 1
    assert load_params(write(tmp_path, data), "qa").section == "qa"
    with pytest.raises(ParamsError, match="mc.data.candidates"):
        validate_all(write(tmp_path, data))


def test_validate_finds_a_missing_data_directory_or_file_by_its_key(tmp_path, monkeypatch):
    from ftpipe.validation import validate

    monkeypatch.chdir(REPO)  # the data paths of params.yaml are relative to the repository
    data = repo_params()
    assert data["mc"]["data"]["dir"] == "data/prepared/qa"  # another stage's output: not there yet, not checked
    for section, key, value, message in [
        ("qa", "train", "squad_sampel.json", "qa.data.train: data/sample/qa/squad_sampel.json: file not found"),
        ("cola", "test", "train[:5]", "cola.data.test: data/sample/glue/CoLA/train[:5]: file not found; 'train[:5]' "
                                      "looks like a hub split"),
        ("chunking", "test", "tst.txt", "chunking.data.test: data/sample/conll2000/tst.txt: file not found")]:
        bad = copy.deepcopy(data)
        bad[section]["data"][key] = value
        with pytest.raises(ParamsError, match=re.escape(message)):
            validate(write(tmp_path, bad), tmp_path / "params.ok")
    # a directory that is not there: left to prepare (a queued copy may not resolve a relative path)
    data["chunking"]["data"]["dir"] = "../shared/data/conll2000-not-here"
    assert validate(write(tmp_path, data), tmp_path / "params.ok")


@pytest.mark.parametrize("where, typo, suggestion", [
    (("qa", "train"), "warmup_ratoi", "qa.train.warmup_ratoi (did you mean warmup_ratio?)"),
    (("train", "lora"), "alhpa", "train.lora.alhpa (did you mean alpha?)"),
    (("cola", "data"), "eval_sise", "cola.data.eval_sise (did you mean eval_size?)")])
def test_an_added_unknown_key_gets_the_likely_one(tmp_path, where, typo, suggestion):
    """`-S +key=value` adds a key, leaving nothing missing: the suggestion came only from a
    missing key before, so an added typo got none."""
    data = repo_params()
    data[where[0]][where[1]][typo] = 0.2
    with pytest.raises(ParamsError, match=re.escape(f"unknown key {suggestion}")):
        validate_all(write(tmp_path, data))
