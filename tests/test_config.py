import math

import pytest

from conftest import REPO
from ftpipe.config import Params, ParamsError, TrainConfig, build, load_params


def test_repository_params_file_is_valid():
    params = load_params(REPO / "params.yaml")
    assert params.model.name == "bundled"
    assert params.tokenize.max_length == 384 and params.tokenize.stride == 128


def test_params_yaml_lists_every_key():
    """params.yaml is the one place settings are visible: no key may hide in the code."""
    import dataclasses
    import typing

    import yaml

    def gaps(cls, data, prefix):
        for k, t in typing.get_type_hints(cls).items():
            if k not in data:
                yield f"{prefix}{k}"
            elif dataclasses.is_dataclass(t):
                yield from gaps(t, data[k], f"{prefix}{k}.")

    data = yaml.safe_load((REPO / "params.yaml").read_text())
    assert list(gaps(Params, data, "")) == []


@pytest.mark.parametrize("data, message", [
    ({"train": {"batchsize": 8}}, "unknown key train.batchsize"),
    ({"trian": {}}, "unknown key trian"),
    ({"train": {"batch_size": 0}}, "train.batch_size"),
    ({"train": {"batch_size": "8"}}, "expected an integer"),
    ({"train": {"lr": -1e-4}}, "train.lr"),
    ({"train": {"lr": math.nan}}, "finite"),
    ({"train": {"lr": math.inf}}, "finite"),
    ({"train": {"method": "adapter"}}, "full | bitfit | lora"),
    ({"train": {"layer_decay": 1.5}}, "train.layer_decay"),
    ({"train": {"layer_decay": 0}}, "train.layer_decay"),
    ({"train": {"lora": {"r": 0}}}, "train.lora.r"),
    ({"tokenize": {"max_length": 256, "stride": 256}}, "tokenize.stride"),
    ({"data": {"test_size": 1.0}}, "data.test_size"),
    ({"data": {"misplaced_answers": "ignore"}}, "error | skip | repair"),
    ({"model": {"pretrained": "yes"}}, "true or false"),
    ({"seed": 1.5}, "expected an integer"),
    ({"predict": {"checkpoint": "last"}}, "final | best"),
    ({"mc": {"candidates": 1}}, "mc.candidates"),
    ({"mc": {"train": {"batchsize": 2}}}, "unknown key mc.train.batchsize"),
    ({"mc": {"model": {"pretrained": 0}}}, "true or false"),
])
def test_bad_params_name_the_key(data, message):
    with pytest.raises(ParamsError, match=message.replace("|", r"\|").replace(".", r"\.")):
        build(Params, data, "", "params.yaml")


def test_missing_and_invalid_yaml(tmp_path):
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)


def test_per_method_learning_rate_defaults():
    assert build(TrainConfig, {"method": "lora"}).learning_rate == 4e-4
    assert build(TrainConfig, {"method": "bitfit"}).learning_rate == 1e-3
    assert build(TrainConfig, {"method": "full", "lr": 3e-5}).learning_rate == 3e-5
