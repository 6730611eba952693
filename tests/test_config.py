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

    import yaml

    data = yaml.safe_load((REPO / "params.yaml").read_text())
    import typing
    hints = typing.get_type_hints(Params)
    gaps = []
    for name, tp in hints.items():
        assert name in data, name
        if dataclasses.is_dataclass(tp):
            sub = typing.get_type_hints(tp)
            for k, t in sub.items():
                if k not in data[name]:
                    gaps.append(f"{name}.{k}")
                elif dataclasses.is_dataclass(t):
                    gaps += [f"{name}.{k}.{kk}" for kk in typing.get_type_hints(t) if kk not in data[name][k]]
    assert gaps == []


@pytest.mark.parametrize("data, message", [
    ({"train": {"batchsize": 8}}, "unknown key train.batchsize"),
    ({"trian": {}}, "unknown key trian"),
    ({"train": {"batch_size": 0}}, "train.batch_size"),
    ({"train": {"batch_size": "8"}}, "expected an integer"),
    ({"train": {"lr": -1e-4}}, "train.lr"),
    ({"train": {"lr": math.nan}}, "finite"),
    ({"train": {"lr": math.inf}}, "finite"),
    ({"train": {"method": "adapter"}}, "full | bitfit | lora"),
    ({"train": {"lora": {"r": 0}}}, "train.lora.r"),
    ({"tokenize": {"max_length": 256, "stride": 256}}, "tokenize.stride"),
    ({"data": {"test_size": 1.0}}, "data.test_size"),
    ({"data": {"misplaced_answers": "ignore"}}, "error | skip | repair"),
    ({"model": {"pretrained": "yes"}}, "true or false"),
    ({"seed": 1.5}, "expected an integer"),
    ({"predict": {"checkpoint": "last"}}, "final | best"),
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
