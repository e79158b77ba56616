import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lab.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_json_report_of_the_obstructed_example(capsys):
    assert main(["run", str(EXAMPLES / "abs_obstructed.toml"), "--json", "--steps", "1500"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed" and out["device"] == "cpu" and out["steps"] == 1500
    assert out["final"]["loss"] > 0.05
    assert out["initial"]["c"] == pytest.approx([0.36 - 1.0, 0.36 - 1.0])
    assert len(out["final"]["c"]) == 2 and out["max_c_drift"] > 0
    for when in ("initial", "final"):
        c = out["classification"][when]
        assert (c["pathological"], c["components"], c["effective_components"], c["signs"]) == (2, 4, 3, "+-")
    assert out["hops"] == []
    assert isinstance(out["session"], str) and len(out["session"]) >= 6


def test_the_run_is_recorded_in_the_store(capsys, tmp_path):
    store = tmp_path / "s"
    assert main(["run", str(EXAMPLES / "abs_free.toml"), "--json", "--steps", "200", "--store", str(store)]) == 0
    sid = json.loads(capsys.readouterr().out)["session"]
    assert main(["sessions", "show", sid, "--json", "--store", str(store)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"].startswith(sid) and shown["status"] == "completed"


def test_overrides_and_no_save(capsys):
    assert main(["run", str(EXAMPLES / "breast_cancer.toml"), "--json", "--steps", "30", "--seed", "4", "--no-save"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 30 and out["session"] is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_exits_2_with_one_line():
    r = subprocess.run([sys.executable, "-m", "lab.cli", "run", str(EXAMPLES / "abs_free.toml"), "--device", "cuda"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "CUDA is not available" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "[train] steps = 0: must be an integer >= 1"),
    (["--device", "tpu"], '[train] device = "tpu"'),
])
def test_bad_overrides_exit_2(args, message):
    r = subprocess.run([sys.executable, "-m", "lab.cli", "run", str(EXAMPLES / "abs_free.toml"), *args],
                       capture_output=True, text=True)
    assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1


def test_ctrl_c_stops_gracefully_as_interrupted(tmp_path):
    config = tmp_path / "long.toml"
    config.write_text((EXAMPLES / "abs_free.toml").read_text().replace("steps = 3000", "steps = 100000000"))
    proc = subprocess.Popen([sys.executable, "-m", "lab.cli", "run", str(config), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Ctrl-C once training is under way: a first snapshot committed to the store (not a fixed
    # sleep, which a loaded machine can outrun before torch is even imported).
    from sessions import Store

    store = Store(os.environ["RELULAB_STORE"])
    deadline = time.monotonic() + 120
    while not any(i.snapshots > 0 for i in store.list()):
        assert proc.poll() is None and time.monotonic() < deadline, "the run never recorded a snapshot"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err  # INTERRUPTED (docs/cli.md)
    report = json.loads(out)
    assert report["status"] == "interrupted" and 0 < report["steps"] < 100000000
