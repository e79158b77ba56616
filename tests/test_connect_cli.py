"""`relulab connect A B`: what a person types, what comes back, what is stored."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lab.cli.main import main
from sessions import open_store

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "examples" / "abs_obstructed.toml"
JSON_KEYS = {"connected", "level", "barrier", "path_length", "normalized_length", "beads", "profile", "space",
             "aligned", "permutation", "reason"}


def save_point(path: Path, w, b, v) -> str:
    np.savez(path, hidden_weight=np.array(w, float)[:, None], hidden_bias_values=np.array(b, float),
             output_weight=np.array([v], float))
    return str(path)


def run_json(capsys, *argv) -> tuple[int, dict]:
    code = main(["connect", *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_npz_solution_and_its_swapped_copy_connect_with_every_json_key(tmp_path, capsys):
    a = save_point(tmp_path / "a.npz", [1.0, -1.0], [0.0, 0.0], [1.0, 1.0])
    b = save_point(tmp_path / "b.npz", [-1.0, 1.0], [0.0, 0.0], [1.0, 1.0])
    code, report = run_json(capsys, a, b, "--config", str(TOY), "--level", "1e-3", "--no-save")
    assert code == 0
    assert JSON_KEYS <= set(report)
    assert report["connected"] is True and report["beads"] == 0
    assert report["permutation"] == [1, 0] and report["aligned"] is True
    assert report["path_length"] == 0.0 and report["unaligned_distance"] == pytest.approx(2 * 2**0.5)
    assert report["session"] is None
    assert all(len(pair) == 2 for pair in report["profile"])


def test_invariant_plus_minus_to_plus_plus_crosses_a_gap_exit_3(tmp_path, capsys):
    a = save_point(tmp_path / "a.npz", [0.6, -0.6], [0.0, 0.0], [1.0, -1.0])
    b = save_point(tmp_path / "b.npz", [0.6, -0.6], [0.0, 0.0], [1.0, 1.0])
    code, report = run_json(capsys, a, b, "--config", str(TOY), "--space", "invariant", "--level", "1.0", "--no-save")
    assert code == 3
    assert report["connected"] is False and report["space"] == "invariant"
    assert report["reason"].startswith("crosses a gap of H(c)")
    assert [g["neuron"] for g in report["gaps"]] == [1]
    # The same pair in the full space: the segment between them stays below loss 1.
    code, report = run_json(capsys, a, b, "--config", str(TOY), "--level", "1.0", "--no-save")
    assert code == 0 and report["space"] == "full"


def test_sessions_and_checkpoints_connect_and_the_result_is_stored(tmp_path, capsys):
    free = tmp_path / "free.toml"
    free.write_text(TOY.read_text().replace("output_weight = [[1.0, -1.0]]", "output_weight = [[1.0, 1.0]]"))
    assert main(["run", str(free), "--json", "--name", "free"]) == 0
    capsys.readouterr()
    code, report = run_json(capsys, "free@1000", "free", "--level-factor", "2")
    assert code == 0
    store = open_store()
    run_id = store.resolve("free")
    assert report["a"] == f"{run_id}@1000" and report["b"] == f"{run_id}@3000"
    session = store.load(report["session"])
    assert session.kind == "connect" and session.status == "completed"
    stored = session.json("connection")
    assert stored["connected"] is True and stored["level"] == report["level"]
    assert stored["normalized_length"] == report["normalized_length"]
    np.testing.assert_array_equal(session.array("profile_loss"), [p[1] for p in report["profile"]])
    assert session.array("profile_c").shape == (len(report["profile"]), 2)
    assert "connect" in [i.kind for i in store.list()]


@pytest.mark.parametrize("argv, message", [
    (["{a}", "{b}"], "give --config"),
    (["{a}", "{bad}", "--config", str(TOY)], "has shape 3 x 1"),
    (["{a}", "{pickled}", "--config", str(TOY)], "not an .npz of plain numeric arrays"),
    (["{a}", "nosuchsession", "--config", str(TOY)], "no session 'nosuchsession'"),
    (["{a}", "{b}", "--config", str(TOY), "--level", "1e-9"], "must lie above both end points"),
    (["{a}", "{other_c}", "--config", str(TOY), "--space", "invariant"], "do not share c"),
    (["{a}", "{b}", "--config", str(TOY), "--steps", "0"], "steps = 0"),
    (["{a}", "{b}", "--config", str(TOY), "--lr", "-1"], "--lr -1"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    files = {
        "a": save_point(tmp_path / "a.npz", [0.6, -0.6], [0.0, 0.0], [1.0, -1.0]),
        "b": save_point(tmp_path / "b.npz", [0.6, -0.6], [0.0, 0.0], [1.0, 1.0]),
        "other_c": save_point(tmp_path / "c.npz", [0.7, -0.6], [0.0, 0.0], [1.0, 1.0]),
        "bad": str(tmp_path / "bad.npz"),
        "pickled": str(tmp_path / "pickled.npz"),
    }
    np.savez(files["bad"], hidden_weight=np.ones((3, 1)), hidden_bias_values=np.zeros(2), output_weight=np.ones((1, 2)))
    np.savez(files["pickled"], hidden_weight=np.array([{"x": 1}, None], dtype=object),
             hidden_bias_values=np.zeros(2), output_weight=np.ones((1, 2)))
    code = main(["connect", *[a.format(**files) for a in argv], "--no-save"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("relulab: ") and message in err and err.count("\n") == 1


def test_level_and_level_factor_are_exclusive(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["connect", "a.npz", "b.npz", "--level", "1", "--level-factor", "2"])
    assert e.value.code == 2


def test_ctrl_c_stops_with_130_and_records_nothing(tmp_path):
    """A product-model connection at a tiny level with a slow descent: interrupted mid-way."""
    config = tmp_path / "product.toml"
    data = tmp_path / "line.csv"
    data.write_text("\n".join(f"{x},{x}" for x in np.linspace(-1, 1, 21)))
    config.write_text(f'[model]\ninputs = 1\nhidden = 1\nbias = false\nactivation = "linear"\n'
                      f'[data]\npath = "{data}"\n[train]\nloss = "mse"\n')
    np.savez(tmp_path / "a.npz", hidden_weight=[[0.25]], output_weight=[[4.0]])
    np.savez(tmp_path / "b.npz", hidden_weight=[[4.0]], output_weight=[[0.25]])
    store = tmp_path / "store"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.cli", "connect", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"),
         "--config", str(config), "--level", "1e-12", "--lr", "1e-6", "--steps", "100000000", "--max-beads", "1", "--store", str(store)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stderr.readline()  # the first round's line: the descent is under way
    assert "round 1" in first, first
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "stopped; nothing recorded" in err and "Traceback" not in err
    assert open_store(store).list() == []
