"""`relulab ncf` and `relulab experiment small-init`, as a person types them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lab.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def relulab(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_ncf_json_on_the_obstructed_abs_example():
    done = relulab("ncf", "examples/abs_obstructed.toml", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) >= {"kkt", "prediction", "seconds"}
    # y = |x| >= 0: y~ > 0, so -g <= 0 everywhere and every KKT direction has v > 0.
    assert report["kkt"] and all(k["sign"] == 1 for k in report["kkt"])
    for k in report["kkt"]:
        assert len(k["direction"]) == 2 and abs(np.linalg.norm(k["direction"]) - 1) < 1e-12
        assert k["residual"] < 1e-10 and k["value"] > 0
    first, second = report["prediction"]
    # Both neurons are pathological: neuron 1 (v < 0) can reach none of the directions.
    assert first["frozen"] and second["frozen"]
    assert first["reachable"] == list(range(len(report["kkt"])))
    assert second["reachable"] == [] and second["kkt"] is None
    assert first["kkt"] is not None and first["cosine"] > 1 - 1e-9


def test_ncf_with_several_outputs_gives_v_directions(tmp_path, capsys):
    path = tmp_path / "ce.toml"
    path.write_text('[model]\nhidden = 3\noutputs = 3\n[data]\nname = "gaussians"\nsamples = 60\n'
                    '[train]\nloss = "cross_entropy"\n', encoding="utf-8")
    assert main(["ncf", str(path), "--json", "--starts", "16"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kkt"]
    for k in report["kkt"]:
        assert "sign" not in k and len(k["v_direction"]) == 3
        assert abs(np.linalg.norm(k["v_direction"]) - 1) < 1e-12
        # Cross-entropy targets sum to zero over classes, and so does G(w): v lies in that plane.
        assert abs(sum(k["v_direction"])) < 1e-9
    assert all(n["reachable"] == list(range(len(report["kkt"]))) for n in report["prediction"])


@pytest.mark.parametrize("extra,word", [('activation = "tanh"', "activation"), ('activation = "gelu"', "activation"),
                                        ("output_bias = true", "output_bias")])
def test_ncf_refuses_what_the_theory_does_not_cover(tmp_path, extra, word):
    path = tmp_path / "bad.toml"
    path.write_text(f"[model]\n{extra}\n", encoding="utf-8")
    done = relulab("ncf", str(path))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relulab: ") and word in lines[0]
    assert done.stdout == ""


def test_ncf_bad_starts_is_one_line():
    done = relulab("ncf", "examples/abs_obstructed.toml", "--starts", "0")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--starts" in done.stderr


def test_experiment_small_init_json():
    done = relulab("experiment", "small-init", "--quick", "--json", "--no-save")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    rows = {r["scale"]: r["max_one_minus_cos"] for r in report["alignment"]}
    assert {1e-2, 1e-3, 1e-4, 1e-6} <= set(rows)
    errors = [rows[s] for s in (1e-2, 1e-3, 1e-4, 1e-6)]
    assert all(b < a for a, b in zip(errors, errors[1:]))
    assert report["summary"]["alignment_decreases_with_scale"] is True
    # The saddle run: the origin, then the plateau after sample 1 is fitted (loss (0.5^2)/2).
    sequence = report["sequence"]
    assert len(sequence) == 2
    assert sequence[1]["loss"] == pytest.approx(0.125, rel=1e-2)
    assert all(s["predicted_neuron"] == s["escaped_neuron"] for s in sequence)
    assert all(s["cosine"] > 1 - 1e-8 for s in sequence)


def test_experiment_scales_only_for_small_init():
    done = relulab("experiment", "toy", "--scales", "1e-3", "--no-save")
    assert done.returncode == 2 and "--scales" in done.stderr
    done = relulab("experiment", "small-init", "--scales", "2", "--no-save")
    assert done.returncode == 2 and "--scales" in done.stderr


def test_experiment_small_init_records_and_writes_files(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["experiment", "small-init", "--scales", "1e-3,1e-5", "--seeds", "2", "--steps", "1000",
                 "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["scale"] for r in report["alignment"]] == [1e-3, 1e-5]
    names = sorted(p.name for p in out.iterdir())
    assert names == ["small_init.csv", "small_init.json", "small_init_saddles.csv"]
    assert "max_one_minus_cos" in (out / "small_init.csv").read_text().splitlines()[0]
    from lab.cli.sessions import open_store

    session = open_store(None).load(report["session"])
    assert session.json("alignment") == report["alignment"]
    assert session.array("one_minus_cos").shape == (2, 2, 6)
