import json
import subprocess
import sys

import pytest

from core.probability import closed_form
from lab.cli.main import main


def run_json(capsys, *args):
    assert main(["check", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_carries_the_documented_keys(capsys):
    out = run_json(capsys, "--inputs", "2", "--hidden", "2", "--samples", "2000")
    p, s = out["probability"], out["sample"]
    for key in ("pathological", "pathological_mc", "pathological_mc_stderr", "disconnected", "all_pathological"):
        assert key in p
    for key in ("c", "pathological", "components", "effective_components", "signs"):
        assert key in s
    assert p["pathological"] == pytest.approx(closed_form("xavier_normal", 2, 2))
    assert s["components"] == 2 ** s["pathological"]
    assert s["effective_components"] == s["pathological"] + 1
    assert len(s["signs"]) == s["pathological"] == sum(c < 0 for c in s["c"])


def test_uniform_scheme_has_no_closed_form(capsys):
    out = run_json(capsys, "--init", "xavier_uniform", "--samples", "1000")
    assert out["probability"]["pathological"] is None
    assert out["probability"]["pathological_mc"] > 0


def test_no_bias_and_config_file(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('[model]\nhidden = 5\n[data]\nname = "breast_cancer"\n[train]\nloss = "bce"\n')
    out = run_json(capsys, "--config", str(path), "--no-bias", "--samples", "500")
    assert out["architecture"] == {"inputs": 30, "hidden": 5, "outputs": 1, "bias": False, "d_eff": 30}


@pytest.mark.parametrize("args, message", [
    (["--hidden", "0"], "[model] hidden = 0: must be an integer >= 1"),
    (["--hidden", "two"], '[model] hidden = "two": must be an integer'),
    (["--init", "magic"], '[init] scheme = "magic": must be one of'),
    (["--init-scale", "-1"], "[init] scale = -1"),
    (["--samples", "0"], "--samples 0: must be an integer >= 1"),
    (["--config", "/nonexistent.toml"], "/nonexistent.toml: no such file"),
])
def test_bad_flags_exit_2_with_one_line(args, message):
    r = subprocess.run([sys.executable, "-m", "lab.cli", "check", *args], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and message in r.stderr and "Traceback" not in r.stderr


def test_check_does_not_import_torch():
    code = "import sys; from lab.cli.main import main; main(['check', '--json', '--samples', '100']); assert 'torch' not in sys.modules"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_human_output_is_a_table(capsys):
    assert main(["check", "--hidden", "3", "--samples", "500"]) == 0
    out = capsys.readouterr().out
    assert "P(neuron pathological), closed form" in out and "One sampled initialisation" in out
