"""`relulab sessions ...`: output, --store / RELULAB_STORE, and exit status 2 with one line for faults."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.config import Config, replace
from core.snapshot import Snapshot
from lab.cli.main import main
from sessions import Store

REPO = Path(__file__).resolve().parents[1]


def make_snapshot(i: int) -> Snapshot:
    c = np.array([np.cos(0.01 * i), -0.5])
    return Snapshot(step=i, loss=1.0 / (i + 1), test_loss=2.0 / (i + 1), accuracy=None, test_accuracy=None, c=c,
                    w_norm=np.abs(c), v=c, v_sign=np.sign(c).astype(np.int8), signs="-", max_drift=0.0, elapsed=0.0)


def record(store: Store, n: int = 400, status: str = "completed", **kwargs) -> str:
    w = store.create_session(replace(Config(), "model", hidden=2), {"device": "cpu"}, **kwargs)
    for i in range(n):
        w.append(make_snapshot(i))
    w.finish(status)
    return w.id


@pytest.fixture
def store_dir(tmp_path, monkeypatch) -> Path:
    """A store named by RELULAB_STORE, as a user would set it."""
    path = tmp_path / "store"
    monkeypatch.setenv("RELULAB_STORE", str(path))
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["sessions", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return json.loads(out)


def test_list_and_show(store_dir, capsys):
    store = Store(store_dir)
    old = record(store, name="old", tags=["abs"])
    new = record(store, 50, status="diverged", name="new")
    listed = run_json(capsys, "list", "--json")
    assert [e["id"] for e in listed] == [new, old]
    entry = listed[1]
    assert entry["status"] == "completed" and entry["created"][:2] == "20"
    assert entry["final"]["loss"] == pytest.approx(1 / 400) and entry["final"]["test_loss"] == pytest.approx(2 / 400)
    assert [e["id"] for e in run_json(capsys, "list", "--json", "--tag", "abs")] == [old]
    assert [e["id"] for e in run_json(capsys, "list", "--json", "--status", "diverged")] == [new]
    code, out, _ = run(capsys, "list")
    assert code == 0 and old in out and new in out and "diverged" in out
    shown = run_json(capsys, "show", old[:4], "--json")
    assert (shown["id"], shown["status"], shown["name"]) == (old, "completed", "old")
    assert shown["final"]["step"] == 399 and shown["config"]["model"]["hidden"] == 2
    code, out, _ = run(capsys, "show", "new")
    assert code == 0 and new in out and "diverged" in out


def test_store_option_wins_over_the_environment(tmp_path, store_dir, capsys):
    other = tmp_path / "other"
    sid = record(Store(other))
    assert run_json(capsys, "list", "--json") == []
    assert [e["id"] for e in run_json(capsys, "list", "--json", "--store", str(other))] == [sid]
    assert [e["id"] for e in run_json(capsys, "--store", str(other), "list", "--json")] == [sid]


def test_edit_export_import_csv_delete(tmp_path, store_dir, capsys):
    sid = record(Store(store_dir))
    assert run(capsys, "rename", sid[:3], "baseline")[0] == 0
    assert run(capsys, "tag", "baseline", "a", "b")[1].strip() == f"{sid}: a, b"
    assert run(capsys, "tag", sid, "a", "--remove")[0] == 0
    assert run(capsys, "note", sid, "looks", "obstructed")[0] == 0
    shown = run_json(capsys, "show", sid, "--json")
    assert (shown["name"], shown["tags"], shown["notes"]) == ("baseline", ["b"], "looks obstructed")

    export = tmp_path / "out.relulab"
    code, out, err = run(capsys, "export", sid, "-o", str(export))
    assert code == 0 and export.exists(), err
    home = tmp_path / "home"
    code, out, err = run(capsys, "import", str(export), "--store", str(home))
    assert code == 0 and out.strip() == sid, err
    assert run_json(capsys, "show", sid, "--json", "--store", str(home))["notes"] == "looks obstructed"

    code, out, err = run(capsys, "csv", sid, "-o", str(tmp_path / "csv"))
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "csv" / f"{sid}_series.csv")))
    assert len(rows) == 400 and float(rows[1]["loss"]) == 0.5
    assert open(tmp_path / "csv" / f"{sid}_c.csv").readline().strip() == "step,c_0,c_1"

    code, out, err = run(capsys, "delete", sid)  # not at a terminal: nothing to ask, so nothing deleted
    assert code == 2 and "--yes" in err and err.count("\n") == 1
    assert run(capsys, "delete", sid, "--yes")[0] == 0
    assert run_json(capsys, "list", "--json") == []


# -- faults: exit status 2 and a single line ------------------------------------------------------


def fails(capsys, *argv, match: str = "") -> str:
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relulab: "), err
    assert match in lines[0], lines[0]
    return lines[0]


def test_unknown_and_ambiguous_ids(store_dir, capsys):
    store = Store(store_dir)
    ids = [record(store, 3) for _ in range(17)]
    first = [i[0] for i in ids]
    shared = next(c for c in first if first.count(c) > 1)
    fails(capsys, "show", "zzzz", match="no session 'zzzz'")
    fails(capsys, "show", shared, match="ambiguous")
    for action in (["delete"], ["export"], ["csv"], ["rename"], ["tag"], ["note"]):
        extra = {"rename": ["x"], "tag": ["x"], "note": ["x"]}.get(action[0], [])
        fails(capsys, *action, "0000zz", *extra, match="no session")


def test_bad_stores(tmp_path, capsys):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "sessions.db").write_bytes(b"garbage " * 1000)
    fails(capsys, "list", "--store", str(junk), match="not a relulab store")

    newer = tmp_path / "newer"
    Store(newer)
    db = sqlite3.connect(newer / "sessions.db")
    db.execute("PRAGMA user_version = 5")
    db.close()
    fails(capsys, "list", "--store", str(newer), match="newer relulab")

    (tmp_path / "file").write_text("x")
    fails(capsys, "list", "--store", str(tmp_path / "file" / "store"), match="is not a directory")
    fails(capsys, "tag", "x", "t", "--store", str(tmp_path / "file" / "store"), match="cannot create")

    truncated = tmp_path / "truncated"
    store = Store(truncated)
    sid = record(store, 3000)
    store.close()  # the last connection folds the write-ahead log into the file
    data = (truncated / "sessions.db").read_bytes()
    (truncated / "sessions.db").write_bytes(data[: len(data) // 3])
    fails(capsys, "csv", sid, "-o", str(tmp_path / "csv"), "--store", str(truncated), match="damaged")


def test_bad_files(tmp_path, store_dir, capsys):
    sid = record(Store(store_dir))
    fails(capsys, "import", str(tmp_path / "missing.relulab"), match="no such file")
    (tmp_path / "notes.txt").write_text("hello")
    fails(capsys, "import", str(tmp_path / "notes.txt"), match="not a relulab session export")
    export = tmp_path / "x.relulab"
    assert run(capsys, "export", sid, "-o", str(export))[0] == 0
    (tmp_path / "half.relulab").write_bytes(export.read_bytes()[:3000])
    fails(capsys, "import", str(tmp_path / "half.relulab"), match="half.relulab")
    newer = tmp_path / "newer.relulab"
    newer.write_bytes(export.read_bytes())
    db = sqlite3.connect(newer)
    db.execute("PRAGMA user_version = 9")
    db.close()
    fails(capsys, "import", str(newer), match="newer relulab")
    fails(capsys, "import", str(export), match="already in this store")
    fails(capsys, "export", sid, "-o", str(tmp_path), match="is a directory")
    fails(capsys, "export", sid, "-o", str(tmp_path / "notes.txt" / "x.relulab"), match="cannot write")
    fails(capsys, "csv", sid, "-o", str(tmp_path / "notes.txt" / "dir"), match="cannot create")
    fails(capsys, "csv", sid, "--max-points", "1", match="--max-points")
    assert [e["id"] for e in run_json(capsys, "list", "--json")] == [sid]  # nothing else happened


def test_real_process_exit_status(tmp_path):
    """The installed entry point, as a shell sees it."""
    env = {"RELULAB_STORE": str(tmp_path / "store"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "lab.cli", "sessions", "show", "abc"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"relulab: no session 'abc' in {tmp_path / 'store'} "
                                                "('relulab sessions list' shows the ids)"]
    done = subprocess.run([sys.executable, "-m", "lab.cli", "sessions", "list", "--json"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and json.loads(done.stdout) == []
