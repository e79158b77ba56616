"""`relulab atlas`: what a person types and what comes back."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lab.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
X = np.linspace(-1.0, 1.0, 64)


def atlas_json(capsys, *argv) -> dict:
    code = main(["atlas", *map(str, argv), "--json"])
    out = json.loads(capsys.readouterr().out)
    out["exit"] = code
    return out


def test_json_of_the_obstructed_example(capsys):
    out = atlas_json(capsys, EXAMPLES / "abs_obstructed.toml", "--restarts", 12, "--no-save")
    assert out["exit"] == 0 and out["status"] == "completed" and out["session"] is None
    floors = {r["name"]: r["floor"] for r in out["components"]}
    assert set(floors) == {"2+0-", "1+1-", "0+2-"}
    assert floors["2+0-"] < 1e-6
    assert floors["1+1-"] == pytest.approx(np.var(np.abs(X)), rel=1e-6)
    assert floors["0+2-"] == pytest.approx(np.mean(X**2), rel=1e-9)
    assert out["own"] == "1+1-" and out["best"] == "2+0-"
    assert out["gap"] == pytest.approx(floors["1+1-"] - floors["2+0-"])
    assert out["reference_floor"] <= floors["2+0-"] + 1e-9
    for r in out["components"]:
        assert r["members"] == 12 and r["kept"] + r["hopped"] + r["diverged"] == 12
        assert {"positive", "signs", "median", "spread"} <= set(r)
    assert out["seconds"] > 0


def test_flags_reach_the_training(capsys):
    out = atlas_json(capsys, EXAMPLES / "abs_obstructed.toml", "--restarts", 3, "--steps", 40, "--lr", 0.01,
                     "--seed", 7, "--device", "cpu", "--no-save")
    assert (out["restarts"], out["steps"], out["lr"], out["seed"], out["device"]) == (3, 40, 0.01, 7, "cpu")


def test_table_sorted_by_floor_with_the_own_component_marked(capsys):
    assert main(["atlas", str(EXAMPLES / "abs_obstructed.toml"), "--restarts", "8", "--no-save"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("2+0-", "1+1-", "0+2-"))]
    assert [r.split()[0] for r in rows] == ["2+0-", "1+1-", "0+2-"]
    assert "<- own" in rows[1] and "<- own" not in rows[0] + rows[2]
    assert "obstruction gap" in out and "reference" in out


def test_recorded_atlas_is_listed_and_redrawn(capsys, tmp_path):
    store = tmp_path / "s"
    first = atlas_json(capsys, EXAMPLES / "abs_obstructed.toml", "--restarts", 4, "--steps", 300, "--store", store)
    sid = first["session"]
    assert isinstance(sid, str)
    assert main(["sessions", "list", "--json", "--store", str(store)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(s["id"], s["kind"], s["status"]) for s in listed] == [(sid, "atlas", "completed")]
    again = atlas_json(capsys, sid[:5], "--store", store)
    assert again["exit"] == 0
    assert again["components"] == first["components"] and again["gap"] == first["gap"]
    assert main(["atlas", sid, "--store", str(store)]) == 0
    assert "<- own" in capsys.readouterr().out
    # `sessions show` draws the recorded atlas too: its table and the gap, as `relulab atlas` did.
    assert main(["sessions", "show", sid, "--store", str(store)]) == 0
    shown = capsys.readouterr().out
    assert "<- own" in shown and f"obstruction gap = floor(own) - floor(best) = {first['gap']:.4g}" in shown

    from sessions import open_store

    session = open_store(store).load(sid)
    assert session.array("losses").shape == (4, 4)  # 3 components + the reference, 4 restarts each
    assert session.array("best_hidden_weight").shape == (4, 2, 1)
    assert np.allclose(session.array("c"), first["c"])


def one_line_error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("relulab: ") and err.count("\n") == 1
    return err


def test_bad_inputs_exit_2_with_one_line(capsys, tmp_path):
    tanh = tmp_path / "tanh.toml"
    tanh.write_text((EXAMPLES / "abs_obstructed.toml").read_text().replace('"relu"', '"tanh"'))
    assert "not conserved" in one_line_error(["atlas", str(tanh), "--no-save"], capsys)
    assert "no such file" in one_line_error(["atlas", "missing.toml"], capsys)
    assert "--restarts 0" in one_line_error(["atlas", str(EXAMPLES / "abs_obstructed.toml"), "--restarts", "0"], capsys)
    assert "[train] lr" in one_line_error(["atlas", str(EXAMPLES / "abs_obstructed.toml"), "--lr", "-1"], capsys)
    store = str(tmp_path / "s")
    assert "no session" in one_line_error(["atlas", "abcdef", "--store", store], capsys)
    assert "training options" in one_line_error(["atlas", "abcdef", "--restarts", "3", "--store", store], capsys)
    assert main(["run", str(EXAMPLES / "abs_free.toml"), "--steps", "5", "--json", "--store", store]) == 0
    run_id = json.loads(capsys.readouterr().out)["session"]
    assert "not an atlas" in one_line_error(["atlas", run_id, "--store", store], capsys)


def test_too_many_components_exit_2(capsys, tmp_path):
    config = tmp_path / "wide.toml"
    config.write_text('[model]\nhidden = 40\n[init]\npathological = 40\n[data]\nname = "abs"\n')
    err = one_line_error(["atlas", str(config), "--no-save"], capsys)
    assert "41 effective components" in err and "--max-components" in err


def test_diverged_exits_3_and_still_reports(capsys, tmp_path):
    config = tmp_path / "bias.toml"
    config.write_text((EXAMPLES / "abs_obstructed.toml").read_text().replace("activation", "output_bias = true\nactivation"))
    out = atlas_json(capsys, config, "--restarts", 2, "--steps", 50, "--lr", 1000, "--no-save")
    assert out["exit"] == 3 and out["status"] == "diverged"
    assert sum(r["diverged"] for r in out["components"]) > 0


def test_ctrl_c_stops_reports_and_exits_130(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "lab.cli", "atlas", str(EXAMPLES / "abs_obstructed.toml"),
                          "--steps", "2000000", "--restarts", "2", "--store", str(tmp_path / "s")],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().startswith("atlas: step")  # training has begun
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "status: interrupted" in out and "session" in out


def test_experiment_atlas_floors_respect_the_sign_bounds(capsys, tmp_path):
    assert main(["experiment", "atlas", "--restarts", "4", "--steps", "300", "--json", "--device", "cpu",
                 "--out", str(tmp_path / "out"), "--figures", str(tmp_path / "fig")]) == 0
    report = json.loads(capsys.readouterr().out)
    s = report["summary"]
    toy, bc = s["toy"], s["breast-cancer"]
    # A component whose pathological neurons are all negative computes f <= 0 (no output bias),
    # all positive f >= 0: no member can go below the best such a function can do.
    assert toy["floors_by_positive"]["0"] >= toy["negative_bound"] - 1e-12
    assert toy["negative_bound"] == pytest.approx(np.mean(X**2))
    assert bc["floors_by_positive"]["0"] >= bc["negative_bound"] - 1e-6
    assert bc["floors_by_positive"]["8"] >= bc["positive_bound"] - 1e-6
    assert set(bc["floors_by_positive"]) == {str(k) for k in range(9)}
    assert toy["own"] == "1+1-" and bc["own"] == "0+8-"
    assert len(report["cells"]) == (3 + 1) + (9 + 1)
    assert any(line.startswith("breast cancer, l = l_- = 8") for line in s["conclusions"])
    assert isinstance(report["session"], str)
    assert (tmp_path / "out" / "atlas.csv").read_text().startswith("part,component,positive,floor")
    assert str(tmp_path / "fig" / "atlas_floors.png") in report["files"]
    assert (tmp_path / "fig" / "atlas_floors.png").read_bytes()[:4] == b"\x89PNG"


def test_experiment_restarts_only_for_the_atlas(capsys):
    assert main(["experiment", "toy", "--restarts", "3", "--no-save"]) == 2
    assert "--restarts: not used by the toy experiment" in capsys.readouterr().err


def test_an_atlas_moves_between_stores_and_redraws(capsys, tmp_path):
    first = atlas_json(capsys, EXAMPLES / "abs_obstructed.toml", "--restarts", 2, "--steps", 50,
                       "--store", tmp_path / "a")
    sid = first["session"]
    assert main(["sessions", "export", sid, "-o", str(tmp_path / "x.relulab"), "--store", str(tmp_path / "a")]) == 0
    assert main(["sessions", "import", str(tmp_path / "x.relulab"), "--store", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    again = atlas_json(capsys, sid, "--store", tmp_path / "b")
    assert again["components"] == first["components"] and again["gap"] == first["gap"]


def test_names_are_unique_default_names_count_up(capsys, tmp_path):
    store = tmp_path / "s"
    ids = [atlas_json(capsys, EXAMPLES / "abs_obstructed.toml", "--restarts", 1, "--steps", 5, "--store", store)["session"]
           for _ in range(2)]
    assert main(["sessions", "list", "--json", "--store", str(store)]) == 0
    names = {s["id"]: s["name"] for s in json.loads(capsys.readouterr().out)}
    assert sorted(names[i] for i in ids) == ["atlas abs_obstructed", "atlas abs_obstructed (2)"]
    err = one_line_error(["atlas", str(EXAMPLES / "abs_obstructed.toml"), "--name", "atlas abs_obstructed",
                          "--store", str(store)], capsys)
    assert "taken by session" in err
