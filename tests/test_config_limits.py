"""Configs and data a careless hand (or a fuzzer) can write: each is refused with exit status 2
and one line naming the field, before anything large is allocated."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import config_from_toml
from core.data import load_dataset
from core.memory import training_bytes
from lab.cli.main import main


def one_line(capsys, argv: list[str]) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("relulab: "), (code, out, err)
    return lines[0]


CASES = {
    "lr": ("[train]\nlr = 1e308\n", "[train] lr = 1e+308: must be a number > 0 and <= 1e+30"),
    "negative_slope": ('[model]\nactivation = "leaky_relu"\nnegative_slope = 1e308\n', "[model] negative_slope"),
    "weight_decay": ("[train]\nweight_decay = 1e308\n", "[train] weight_decay"),
    "scale": ("[init]\nscale = 1e300\n", "[init] scale"),
    "noise": ("[data]\nnoise = 1e300\n", "[data] noise = 1e+300: must be a number >= 0 and <= 1e+30"),
    "date": ("[train]\nlr = 1979-05-27\n", '[train] lr = "1979-05-27": must be a number'),
    "time as a path": ("[data]\npath = 07:32:00\n", '[data] path = "07:32:00": must be a string'),
    "cross_entropy on abs": ('[model]\noutputs = 2\n[train]\nloss = "cross_entropy"\n', "real-valued targets"),
    "weights against the data": ("[model]\nhidden = 2\n[init]\nhidden_weight = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]\n",
                                 "[init] hidden_weight: shape 2 x 3; must be 2 x 1"),
    "path too long": (f'[data]\npath = "{"a" * 5000}.csv"\n', "File name too long"),
    "samples": ('[data]\nname = "teacher"\nsamples = 1000000000000\n', "[data] samples = 1000000000000: needs about"),
    "inputs": ('[model]\ninputs = 1000000\n[data]\nname = "teacher"\n', "[model] inputs = 1000000"),
    "outputs": ('[model]\noutputs = 1000000\n[data]\nname = "teacher"\n', "[model] outputs = 1000000"),
    "memory": ('[model]\nhidden = 100000\ninputs = 100000\n[data]\nname = "teacher"\n',
               "[model] hidden = 100000, inputs = 100000, outputs = 1: needs about"),
    "nesting": ("[model]\nhidden = " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
}


@pytest.mark.parametrize("name", CASES)
def test_bad_configs_are_one_line_naming_the_field(tmp_path, capsys, name):
    text, expected = CASES[name]
    path = tmp_path / "bad.toml"
    path.write_text(text)
    line = one_line(capsys, ["run", str(path), "--no-save", "--json"])
    assert expected in line


def test_memory_is_estimated_before_allocating_and_the_figure_is_given(capsys):
    config = config_from_toml('[model]\nhidden = 100000\ninputs = 100000\n[data]\nname = "teacher"\n')
    need = training_bytes(config, 100_000, 256)
    assert need > 16 * 100_000 * 100_000  # the float64 weights, drawn and copied
    line = one_line(capsys, ["check", "--hidden", "100000", "--inputs", "100000"])
    weights_only = training_bytes(config_from_toml("[model]\nhidden = 100000\ninputs = 100000\n"), 100_000, 0)
    assert f"needs about {weights_only / 1e9:,.1f} GB of memory" in line  # check draws weights, no data
    assert line.startswith("relulab: [model] hidden = 100000, inputs = 100000") and "GB is available" in line
    # a normal config is far below any machine
    assert training_bytes(config_from_toml(""), 1, 64) < 100 << 20


def test_npz_targets_must_match_the_rows(tmp_path):
    from core.config import ConfigError

    np.savez(tmp_path / "d.npz", x=np.zeros((10, 2)), y=np.zeros(7))
    config = config_from_toml(f'[data]\npath = "{tmp_path / "d.npz"}"\n')
    with pytest.raises(ConfigError, match="10 rows of features but 7 targets"):
        load_dataset(config)


def test_xor_trains_with_cross_entropy_on_two_classes(tmp_path, capsys):
    path = tmp_path / "xor.toml"
    path.write_text('[data]\nname = "xor"\n[model]\noutputs = 2\n[train]\nloss = "cross_entropy"\nsteps = 5\n')
    assert main(["run", str(path), "--no-save", "--json"]) == 0
    labels = load_dataset(config_from_toml(path.read_text())).y_train
    assert labels.dtype == np.int64 and set(labels.tolist()) == {0, 1}
