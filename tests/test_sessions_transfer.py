"""Export / import between stores, hostile export files, CSV."""

from __future__ import annotations

import csv
import io
import pickle
import shutil
import sqlite3
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.config import Config, replace
from core.snapshot import Classification, Hop, Params, Snapshot
from sessions import Store, StoreError, write_csv


def make_snapshot(i: int, hidden: int = 3) -> Snapshot:
    k = np.arange(hidden)
    c = np.cos(0.01 * i + k) - 0.2 * k
    v = np.sin(0.02 * i + 2 * k)
    return Snapshot(
        step=i, loss=1.0 / (i + 1), test_loss=None if i % 5 == 0 else 0.5, accuracy=None, test_accuracy=None,
        c=c, w_norm=np.abs(c) + 1, v=v, v_sign=np.sign(v).astype(np.int8), signs="+", max_drift=0.0, elapsed=0.01 * i,
        hops=[Hop(i, 0, -1.0, -1.0, 1, -1)] if i % 50 == 7 else [],
        params=Params(np.full((hidden, 1), float(i)), np.zeros(hidden), np.ones((1, hidden))) if i % 100 == 0 else None,
    )


def fill(store: Store, n: int = 700) -> str:
    config = replace(Config(), "model", hidden=3)
    with store.create_session(config, {"device": "cuda:0", "torch": "2.4"}, name="remote", tags=["gpu"]) as w:
        for i in range(n):
            w.append(make_snapshot(i))
        w.put_array("extra", np.arange(5))
        w.put_json("meta", {"k": 1})
        final = Classification.from_dict({"c": [1, 2, 3], "status": ["free"] * 3, "v_sign": [1, 1, 1], "signs": "",
                                          "pathological": 0, "components": 1, "effective_components": 1})
    w.finish("completed", final)
    store.note(w.id, "from the GPU box")
    return w.id


@pytest.fixture
def exported(tmp_path) -> tuple[Store, str, Path]:
    origin = Store(tmp_path / "remote")
    sid = fill(origin)
    path = origin.export(sid[:5], tmp_path / "run.relulab")
    return origin, sid, path


def snapshot_fields(s: Snapshot) -> tuple:
    return (s.step, s.loss, s.test_loss, s.signs, s.c.tolist(), s.v_sign.tolist(), s.hops,
            None if s.params is None else s.params.hidden_weight.tolist())


def test_export_import_round_trip(tmp_path, exported):
    origin, sid, path = exported
    home = Store(tmp_path / "home")
    assert home.import_(path) == sid
    a, b = origin.load(sid), home.load(sid)
    assert a.info.to_dict() == b.info.to_dict()
    assert (a.config, a.environment, a.final, a.notes, a.hops) == (b.config, b.environment, b.final, b.notes, b.hops)
    assert [snapshot_fields(s) for s in a.snapshots()] == [snapshot_fields(s) for s in b.snapshots()]
    for key, value in a.series(max_points=100).items():
        np.testing.assert_array_equal(value, b.series(max_points=100)[key])
    np.testing.assert_array_equal(b.array("extra"), np.arange(5))
    assert b.json("meta") == {"k": 1} and b.checkpoint_steps() == a.checkpoint_steps()
    with pytest.raises(StoreError, match="already in this store"):
        home.import_(path)
    with pytest.raises(StoreError, match="already in this store"):
        origin.import_(path)
    assert len(home.list()) == 1 and len(origin.list()) == 1


def test_an_id_taken_by_another_session_gets_a_new_id(tmp_path, exported):
    _, sid, path = exported
    home = Store(tmp_path / "home")
    w = home.create_session(None, {})
    w.finish()
    db = sqlite3.connect(home.db_path)
    db.execute("UPDATE sessions SET id = ? WHERE id = ?", (sid, w.id))
    db.commit()
    new = home.import_(path)
    assert new != sid and home.load(new).name == "remote" and len(home.load(new)) == 700


def test_a_running_session_exports_as_interrupted(tmp_path):
    origin = Store(tmp_path / "remote")
    w = origin.create_session(replace(Config(), "model", hidden=3), {})
    for i in range(10):
        w.append(make_snapshot(i))
    w.flush()
    path = origin.export(w.id, tmp_path / "live.relulab")
    w.finish()
    home = Store(tmp_path / "home")
    session = home.load(home.import_(path))
    assert session.status == "interrupted" and len(session) == 10


# -- hostile or broken files ----------------------------------------------------------------------


def npy_with_pickle() -> bytes:
    out = io.BytesIO()
    np.save(out, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    return out.getvalue()


def edit(path: Path, *statements) -> Path:
    db = sqlite3.connect(path)
    for sql in statements:
        db.execute(sql) if isinstance(sql, str) else db.execute(*sql)
    db.commit()
    db.close()
    return path


def crafted(kind: str, tmp_path: Path, good: Path) -> Path:
    bad = tmp_path / f"{kind}.relulab"
    if kind == "pickle":
        bad.write_bytes(pickle.dumps({"x": 1}))
    elif kind == "zip":
        with zipfile.ZipFile(bad, "w") as z:
            z.writestr("../../escaped.txt", "gotcha")
            z.writestr("/abs/escaped.txt", "gotcha")
    elif kind == "empty":
        bad.write_bytes(b"")
    elif kind == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "empty_sqlite":
        sqlite3.connect(bad).execute("CREATE TABLE t (x)").connection.commit()
    else:
        shutil.copy(good, bad)
        edits = {
            "newer": ["PRAGMA user_version = 7"],
            "foreign": ["PRAGMA application_id = 1"],
            "pickle_checkpoint": [("UPDATE checkpoints SET data = ? WHERE name = 'hidden_weight'", (npy_with_pickle(),))],
            "pickle_result": [("UPDATE results SET data = ? WHERE name = 'extra'", (npy_with_pickle(),))],
            "raw_pickle_result": [("UPDATE results SET kind = 'json', data = ? WHERE name = 'meta'",
                                   (pickle.dumps(object),))],
            "short_block": [("UPDATE block_data SET c = ? WHERE block = 1", (b"\0" * 10,))],
            "steps_out_of_order": [("UPDATE block_data SET steps = ? WHERE block = 0",
                                    (np.arange(256, 0, -1, dtype="<i8").tobytes(),))],
            "trigger": ["CREATE TRIGGER t AFTER INSERT ON hops BEGIN DELETE FROM sessions; END"],
            "view": ["CREATE VIEW v AS SELECT 1"],
            "two_sessions": ["INSERT INTO sessions (id, kind, status, created) SELECT 'ffffffff', kind, status, created "
                             "FROM sessions"],
            "bad_config": ["UPDATE sessions SET config = '[model]\nhidden = -4\n'"],
            "bad_status": ["UPDATE sessions SET status = 'exploded'"],
            "odd_id": ["UPDATE sessions SET id = '../../x'"],
            "missing_block": ["DELETE FROM block_data WHERE block = 1", "DELETE FROM blocks WHERE block = 1"],
        }[kind]
        edit(bad, *edits)
    return bad


KINDS = ["pickle", "zip", "empty", "truncated", "empty_sqlite", "newer", "foreign", "pickle_checkpoint",
         "pickle_result", "raw_pickle_result", "short_block", "steps_out_of_order", "trigger", "view",
         "two_sessions", "bad_config", "bad_status", "odd_id", "missing_block"]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_export_files_are_refused_and_change_nothing(tmp_path, exported, kind):
    _, sid, good = exported
    bad = crafted(kind, tmp_path, good)
    home = Store(tmp_path / "home")
    keep = fill(home, 20)
    before_files = sorted(p for p in tmp_path.rglob("*") if "home" not in p.parts)
    with pytest.raises(StoreError) as e:
        home.import_(bad)
    message = str(e.value)
    assert "\n" not in message and str(bad) in message
    if kind == "newer":
        assert "newer relulab" in message
    assert [i.id for i in home.list()] == [keep] and len(home.load(keep)) == 20
    db = sqlite3.connect(home.db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM blocks WHERE session != ?", (keep,)).fetchone()[0] == 0
    after_files = sorted(p for p in tmp_path.rglob("*") if "home" not in p.parts)
    assert after_files == before_files  # nothing written next to the file or anywhere else
    assert not list(Path("/").glob("abs/escaped.txt")) and not (tmp_path.parent / "escaped.txt").exists()


def test_import_of_missing_file_or_directory(tmp_path):
    home = Store(tmp_path / "home")
    with pytest.raises(StoreError, match="no such file"):
        home.import_(tmp_path / "nope.relulab")
    with pytest.raises(StoreError, match="directory"):
        home.import_(tmp_path)


def test_export_to_a_bad_place(tmp_path, exported):
    origin, sid, _ = exported
    with pytest.raises(StoreError, match="directory"):
        origin.export(sid, tmp_path)
    with pytest.raises(StoreError, match="cannot write"):
        origin.export(sid, tmp_path / "no" / "such" / "dir" / "x.relulab")


# -- CSV ------------------------------------------------------------------------------------------


def test_csv_files_hold_the_series(tmp_path, exported):
    origin, sid, _ = exported
    session = origin.load(sid)
    paths = write_csv(session, tmp_path / "csv")
    assert [p.name for p in paths] == [f"{sid}_series.csv", f"{sid}_c.csv", f"{sid}_v.csv", f"{sid}_w_norm.csv"]
    rows = list(csv.DictReader(open(paths[0])))
    assert len(rows) == 700 and rows[3]["step"] == "3" and float(rows[3]["loss"]) == 0.25
    assert rows[0]["test_loss"] == "" and rows[1]["test_loss"] == "0.5"
    c = np.loadtxt(paths[1], delimiter=",", skiprows=1)
    assert open(paths[1]).readline().strip() == "step,c_0,c_1,c_2"
    np.testing.assert_array_equal(c[:, 0], np.arange(700))
    assert session.dtype == "<f4"  # a float32 run: 9 significant digits give back every bit
    np.testing.assert_array_equal(c[:, 1:].astype(np.float32), session.series()["c"])
    small = write_csv(session, tmp_path / "small", max_points=50)
    assert len(list(csv.DictReader(open(small[0])))) <= 50
