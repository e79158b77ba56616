"""A full disk: a run reports it once and ends `failed` with the reason, what was saved stays
readable, read-only commands keep working, and CSV or export files are never left half written.

The disk is a real 16 MB tmpfs when this process may mount one (root); elsewhere SQLite's own
size limit (PRAGMA max_page_count) makes it answer "database or disk is full" the same way, and
the CSV / export cases, which need a real filesystem, are skipped.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from lab.cli.main import main
from sessions import Store
from sessions.db import Database


def _mount(path: Path) -> bool:
    path.mkdir()
    try:
        return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(path)],
                              capture_output=True).returncode == 0
    except OSError:  # no mount command
        return False


@pytest.fixture
def full_disk(tmp_path, monkeypatch):
    """(directory on a small disk, whether it is a real filesystem)."""
    disk = tmp_path / "disk"
    if _mount(disk):
        yield disk, True
        subprocess.run(["umount", "--lazy", str(disk)])  # this process may still hold the store open
        return
    connect = Database.connect

    def limited(self) -> sqlite3.Connection:
        conn = connect(self)
        conn.execute("PRAGMA max_page_count = 200")  # 200 pages of 64 KiB: 12.5 MiB
        return conn

    monkeypatch.setattr(Database, "connect", limited)
    yield disk, False


def test_a_run_into_a_full_disk_fails_once_and_keeps_what_it_saved(tmp_path, full_disk, capsys, monkeypatch):
    disk, real = full_disk
    monkeypatch.setenv("COLUMNS", "300")
    store = str(disk / "store")
    config = tmp_path / "long.toml"
    config.write_text("[model]\nhidden = 100\n[train]\nsteps = 20000\nlog_every = 2\n")
    # Commit every pack of snapshots, not every second: on a loaded machine a second of snapshots
    # can be more than the whole disk, and then nothing is saved at all (the test flaked so).
    create = Store.create_session
    monkeypatch.setattr(Store, "create_session", lambda self, *a, **k: create(self, *a, **{**k, "flush_interval": 0.01}))
    code = main(["run", str(config), "--json", "--store", store])
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relulab: ") and "the disk is full" in lines[0], err
    report = json.loads(out)  # the run itself finished: a store fault stops recording, not training
    assert report["status"] == "completed" and report["steps"] == 20000
    sid = report["session"]

    # Read-only commands work on the full disk.
    assert main(["sessions", "list", "--json", "--store", store]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == "failed" and "the disk is full" in row["error"]
    saved = row["snapshots"]
    assert 0 < saved < 10000  # some commits made it, the rest did not fit
    assert f"the {saved} snapshots saved before are intact" in lines[0]
    assert main(["sessions", "show", sid, "--store", store]) == 0
    assert "failed" in capsys.readouterr().out
    session = Store(store, readonly=True).load(sid)
    steps = session.series()["step"]
    assert len(steps) == saved and list(steps[:3]) == [0, 2, 4]

    if not real:
        return
    # Writing files onto the full disk: one line, nothing half written left behind.
    for argv in (["csv", sid, "-o", str(disk / "csv")], ["export", sid, "-o", str(disk / "x.relulab")]):
        code = main(["sessions", *argv, "--store", store])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and "No space left" in err or "full" in err, err
    assert not (disk / "x.relulab").exists()
    assert [p for p in (disk / "csv").iterdir()] == []
    assert sorted(p.name for p in disk.iterdir()) == ["csv", "store"]  # no partial export either
