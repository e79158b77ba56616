import pytest
from hypothesis import given, strategies as st

from core.config import (
    Config, ConfigError, config_from_dict, config_from_toml, config_to_toml, load_config, replace,
)


def reject(text: str) -> str:
    with pytest.raises(ConfigError) as e:
        config_from_toml(text, "f.toml")
    message = str(e.value)
    assert "\n" not in message and message.startswith("f.toml: ")
    return message


@pytest.mark.parametrize("text, expected", [
    ("[train]\nlr = -1", "[train] lr = -1: must be a number > 0"),
    ("[train]\nlr = 0", "[train] lr = 0: must be a number > 0"),
    ("[train]\nlrr = 1", "unknown key [train] lrr: allowed keys are loss, optimizer, lr"),
    ("[model]\nhidden = 1.5", "[model] hidden = 1.5: must be an integer >= 1"),
    ("[model]\nhidden = true", "[model] hidden = true: must be an integer"),
    ("[model]\nhidden = 0", "[model] hidden = 0: must be an integer >= 1"),
    ("[model]\nbias = 1", "[model] bias = 1: must be true or false"),
    ("[model]\nactivation = \"sigmoid\"", "[model] activation = \"sigmoid\": must be one of relu, leaky_relu, abs, linear, tanh, gelu"),
    ("[train]\ndevice = \"gpu\"", "[train] device = \"gpu\": must be auto, cpu, cuda or cuda:N"),
    ("[train]\noptimizer = \"lbfgs\"", "must be one of gd, sgd, momentum, adam, projected_gd"),
    ("[train]\nloss = \"hinge\"", "must be one of mse, bce, cross_entropy"),
    ("[train]\ndtype = \"float16\"", "must be one of float32, float64"),
    ("[init]\nscheme = \"orthogonal\"", "must be one of xavier_normal, xavier_uniform, kaiming_normal, kaiming_uniform, normal, torch_default"),
    ("[init]\nsigns = \"+x\"", "[init] signs = \"+x\": must be a string of + and - signs"),
    ("[init]\npathological = 3", "[init] pathological = 3: must be an integer between 0 and [model] hidden = 2"),
    ("[init]\npathological = 1\nsigns = \"++\"", "[init] signs = \"++\": must be 1 signs"),
    ("[init]\nscale = 0", "[init] scale = 0: must be a number > 0"),
    ("[data]\ntest_fraction = 0.95", "[data] test_fraction = 0.95: must be a number >= 0 and <= 0.9"),
    ("[data]\nname = \"mnist\"", "[data] name = \"mnist\": must be one of abs, xor, teacher, gaussians, breast_cancer"),
    ("[nope]\na = 1", "unknown section [nope]"),
    ("model = 3", "[model] must be a table"),
    ("[train\nlr = 1", "not valid TOML"),
    ("[model]\ninputs = 1\n[init]\nhidden_weight = [[1.0, 2.0], [3.0]]", "rows of different lengths"),
    ("[model]\ninputs = 1\n[init]\nhidden_weight = [[1.0], [2.0], [3.0]]", "[init] hidden_weight: shape 3 x 1; must be 2 x 1"),
    ("[init]\noutput_weight = [[1.0, \"a\"]]", "[init] output_weight = [[1.0, \"a\"]]: must be an array of numbers"),
    ("[model]\nbias = false\n[init]\nhidden_bias_values = [0.0, 0.0]", "given, but [model] bias = false"),
    ("[train]\nloss = \"bce\"\n[model]\noutputs = 2", "[model] outputs = 2: must be 1 with [train] loss = bce"),
    ("[train]\nloss = \"cross_entropy\"", "[model] outputs = 1: must be the number of classes"),
])
def test_bad_values_are_rejected_with_one_line(text, expected):
    assert expected in reject(text)


def test_defaults_round_trip_through_toml():
    config = Config()
    assert config_from_toml(config_to_toml(config)) == config


def test_load_config_names_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")


def test_replace_validates():
    config = replace(Config(), "train", lr=0.5)
    assert config.train.lr == 0.5
    with pytest.raises(ConfigError, match="lr"):
        replace(Config(), "train", lr=-0.5)


@given(hidden=st.integers(1, 50), lr=st.floats(1e-6, 10), steps=st.integers(1, 10_000),
       activation=st.sampled_from(["relu", "leaky_relu", "abs", "linear", "tanh", "gelu"]))
def test_any_valid_config_round_trips(hidden, lr, steps, activation):
    config = config_from_dict({"model": {"hidden": hidden, "activation": activation},
                               "train": {"lr": lr, "steps": steps}})
    assert config_from_toml(config_to_toml(config)) == config
