"""Strict JSON wherever JSON is written: a diverged run's NaN and infinities become null in
`run --json`, `sessions list/show --json`, the stored fields and an export."""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np
import pytest

from core import strict_json
from lab.cli.main import main


def strict(text: str):
    """Parse as any strict JSON reader would: NaN, Infinity and -Infinity are not JSON."""
    def refuse(name):
        raise AssertionError(f"not strict JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def test_plain_turns_non_finite_numbers_into_null():
    data = {"a": float("nan"), "b": [np.float32("inf"), -math.inf, 1.5], "c": np.array([np.nan, 2.0]),
            "d": np.int64(3), "e": (np.bool_(True),)}
    assert strict(strict_json.dumps(data)) == {"a": None, "b": [None, None, 1.5], "c": [None, 2.0], "d": 3, "e": [True]}


def test_loads_refuses_nesting_deeper_than_the_bound_without_recursing():
    assert strict_json.loads('{"a": [[1], "[[[[[[[["]}', max_depth=3) == {"a": [[1], "[[[[[[[["]}
    with pytest.raises(ValueError, match="nested more than 3"):
        strict_json.loads("[[[[1]]]]", max_depth=3)
    with pytest.raises(ValueError, match="nested more than"):
        strict_json.loads("[" * 1_000_000 + "]" * 1_000_000)


def test_a_diverged_run_writes_strict_json_everywhere(tmp_path, capsys):
    config = tmp_path / "diverge.toml"
    config.write_text('[model]\nhidden = 4\n[data]\nname = "teacher"\nsamples = 50\n'
                      '[train]\nlr = 50.0\nsteps = 2000\nlog_every = 1\n')
    store = str(tmp_path / "store")
    assert main(["run", str(config), "--json", "--store", store]) == 3  # diverged
    report = strict(capsys.readouterr().out)
    assert report["status"] == "diverged"
    sid = report["session"]
    assert main(["sessions", "list", "--json", "--store", store]) == 0
    assert strict(capsys.readouterr().out)[0]["status"] == "diverged"
    assert main(["sessions", "show", sid, "--json", "--store", store]) == 0
    strict(capsys.readouterr().out)
    export = tmp_path / "diverged.relulab"
    assert main(["sessions", "export", sid, "-o", str(export), "--store", store]) == 0
    for path in (tmp_path / "store" / "sessions.db", export):
        db = sqlite3.connect(path)
        row = db.execute("SELECT environment, tags, initial, final, last FROM sessions").fetchone()
        db.close()
        for text in row:
            if text is not None:
                strict(text)


def test_analysis_commands_print_strict_json(capsys):
    """atlas, ncf (and connect, sweep) write their --json through core.strict_json: a reader that
    refuses NaN / Infinity accepts their output."""
    from pathlib import Path

    from lab.cli.main import main

    examples = Path(__file__).resolve().parents[1] / "examples"

    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    for argv in (["ncf", str(examples / "small_init.toml"), "--json"],
                 ["atlas", str(examples / "abs_obstructed.toml"), "--restarts", "2", "--steps", "20", "--json",
                  "--no-save"]):
        assert main(argv) in (0, 3)
        json.loads(capsys.readouterr().out, parse_constant=refuse)
