"""The session store: recording, reading back, downsampling, ids, faults, crash detection."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import Config, replace
from core.snapshot import Classification, Hop, Params, Snapshot
from sessions import Store, StoreError
from sessions import liveness
from sessions.blocks import BLOCK, Columns, decode, downsample, encode

REPO = Path(__file__).resolve().parents[1]


def make_config(hidden: int = 3, dtype: str = "float64") -> Config:
    return replace(replace(Config(), "model", hidden=hidden), "train", dtype=dtype)


def make_snapshot(i: int, hidden: int = 3, hops=(), params=None, test_loss=True) -> Snapshot:
    """A deterministic snapshot whose c_k wander through both signs."""
    k = np.arange(hidden)
    c = np.cos(0.01 * i + k) - 0.2 * k
    v = np.sin(0.02 * i + 2 * k)
    v_sign = np.sign(v).astype(np.int8)
    signs = "".join("+" if s >= 0 else "-" for s, ck in zip(v_sign, c) if ck < 0)
    return Snapshot(
        step=10 * i, loss=1.0 / (i + 1), test_loss=2.0 / (i + 1) if test_loss else None,
        accuracy=0.5 if i % 2 else None, test_accuracy=None, c=c, w_norm=np.abs(c) + 1.0, v=v, v_sign=v_sign,
        signs=signs, max_drift=1e-9 * i, elapsed=0.001 * i, hops=list(hops), params=params,
    )


def make_params(hidden: int = 3, seed: int = 0) -> Params:
    rng = np.random.default_rng(seed)
    return Params(rng.standard_normal((hidden, 1)), rng.standard_normal(hidden), rng.standard_normal((1, hidden)))


def record(store: Store, n: int, hidden: int = 3, **kwargs) -> str:
    with store.create_session(make_config(hidden), {"device": "cpu"}, **kwargs) as w:
        for i in range(n):
            w.append(make_snapshot(i, hidden))
    return w.id


def assert_snapshot_equal(a: Snapshot, b: Snapshot) -> None:
    assert (a.step, a.loss, a.test_loss, a.accuracy, a.test_accuracy, a.signs, a.max_drift, a.elapsed) == (
        b.step, b.loss, b.test_loss, b.accuracy, b.test_accuracy, b.signs, b.max_drift, b.elapsed)
    for name in ("c", "w_norm", "v", "v_sign"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.hops == b.hops
    assert (a.params is None) == (b.params is None)
    if a.params is not None:
        for key, value in a.params.to_arrays().items():
            np.testing.assert_array_equal(value, b.params.to_arrays()[key])


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "store")


# -- recording and reading back ----------------------------------------------------------------


def test_snapshots_hops_and_checkpoints_read_back_exactly(store):
    written = []
    with store.create_session(make_config(), {"device": "cpu", "torch": "2.x"}, name="abs", tags=["a", "b"]) as w:
        w.set_initial(Classification.from_dict({"c": [1, -1, 2], "status": ["free", "pathological", "free"],
                                                "v_sign": [1, -1, 1], "signs": "-", "pathological": 1,
                                                "components": 2, "effective_components": 2}))
        for i in range(BLOCK * 3 + 37):  # three full blocks and a partial one (BLOCK >= 128)
            hops = [Hop(10 * i, 1, -0.5, -0.4, 1, -1)] if i % 97 == 3 else []
            params = make_params(seed=i) if i % 100 == 0 else None
            snap = make_snapshot(i, hops=hops, params=params, test_loss=i % 3 != 0)
            written.append(snap)
            w.append(snap)
            if i == 300:
                w.flush()  # a flush in the middle: the partial block is rewritten later
    session = store.load(w.id)
    assert session.status == "completed" and len(session) == len(written)
    assert session.name == "abs" and session.tags == ["a", "b"]
    assert session.environment["device"] == "cpu" and session.environment["host"] == liveness.this_host()
    assert session.config == make_config()
    assert session.initial.signs == "-" and session.final is None
    assert session.hops == [h for s in written for h in s.hops]
    assert session.checkpoint_steps() == [s.step for s in written if s.params is not None]
    read = list(session.snapshots())
    assert len(read) == len(written)
    for a, b in zip(written, read):
        assert_snapshot_equal(a, b)
    # From the middle of a block, hops of skipped snapshots are not handed out.
    tail = list(session.snapshots(start_step=written[400].step - 5))
    assert tail[0].step == written[400].step
    assert [s.step for s in tail] == [s.step for s in written[400:]]


def test_float32_runs_store_float32_and_series_is_full_resolution(store):
    with store.create_session(make_config(dtype="float32"), {}) as w:
        snaps = [make_snapshot(i) for i in range(300)]
        for s in snaps:
            w.append(s)
    series = store.load(w.id).series()
    assert series["c"].dtype == np.float32 and series["c"].shape == (300, 3)
    np.testing.assert_array_equal(series["step"], [s.step for s in snaps])
    np.testing.assert_array_equal(series["c"], np.array([s.c for s in snaps], np.float32))
    np.testing.assert_array_equal(series["loss"], [s.loss for s in snaps])
    assert series["test_loss"][0] == 2.0


@pytest.mark.parametrize("n, max_points, raw_cells", [
    (5000, 20, 0), (5000, 400, 0), (5000, 4000, 0),  # from block summaries only (a long run)
    (5000, 20, 10**9), (5000, 400, 10**9), (1000, 999, 10**9),  # from every snapshot
])
def test_downsampled_series_keeps_extremes(store, monkeypatch, n, max_points, raw_cells):
    monkeypatch.setattr("sessions.reader.RAW_CELLS", raw_cells)
    rng = np.random.default_rng(1)
    with store.create_session(make_config(), {}) as w:
        snaps = [make_snapshot(i) for i in range(n)]
        for s in snaps:
            s.loss = float(rng.random())
        snaps[n // 3].loss = 7.0  # a spike that must survive
        snaps[2 * n // 3].c = np.array([-9.0, 0.0, 9.0])
        for s in snaps:
            w.append(s)
    full = store.load(w.id).series()
    small = store.load(w.id).series(max_points=max_points)
    assert len(small["step"]) <= max_points
    if raw_cells == 0:
        assert len(small["step"]) >= min(max_points - 1, 2 * (n // BLOCK)) - 2
    else:
        assert len(small["step"]) >= max_points - 1
    assert np.all(np.diff(small["step"]) >= 0)
    for name in ("loss", "max_drift", "c", "v", "w_norm"):
        assert np.array_equal(np.nanmax(small[name], axis=0), np.nanmax(full[name], axis=0)), name
        assert np.array_equal(np.nanmin(small[name], axis=0), np.nanmin(full[name], axis=0)), name
        assert len(small[name]) == len(small["step"])
    assert small["step"][0] == 0 and small["step"][-1] == full["step"][-1]
    assert set(small["loss"]) <= set(full["loss"])  # every point is a recorded value


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=300), st.integers(1, 50))
def test_downsample_property(values, groups):
    x = np.array(values)
    steps = np.arange(len(x))
    s, v = downsample(steps, steps, x, x, x, x, groups)
    assert len(s) <= 2 * groups and np.all(np.diff(s) >= 0)
    assert v.max() == x.max() and v.min() == x.min()
    assert set(v) <= set(x)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(1, 6), st.sampled_from(["<f4", "<f8"]))
def test_block_encoding_round_trip(n, hidden, dtype):
    snaps = [make_snapshot(i, hidden, test_loss=i % 2 == 0) for i in range(n)]
    cols = Columns.from_snapshots(snaps, hidden, dtype)
    blob = encode(cols)
    back = decode(blob, n, hidden, dtype)
    for i, s in enumerate(snaps):
        r = back.snapshot(i)
        assert (r.step, r.loss, r.test_loss, r.accuracy, r.signs) == (s.step, s.loss, s.test_loss, s.accuracy, s.signs)
        np.testing.assert_array_equal(r.c, s.c.astype(dtype))


def test_classification_at_a_step(store):
    from core.invariants import classify

    with store.create_session(make_config(), {}) as w:
        snaps = [make_snapshot(i) for i in range(500)]
        for s in snaps:
            w.append(s)
    session = store.load(w.id)
    assert session.d_eff() == 2  # the abs dataset: one input, plus the hidden bias
    for i in (0, 1, 137, 499):
        s = snaps[i]
        got = session.classification_at(s.step + 5)  # the nearest recorded step at or before
        want = classify(s.c, s.v_sign, 2, 1, s.w_norm**2 + s.v**2)
        assert got.to_dict() == want.to_dict()
    assert session.classification_at(10**9).to_dict() == classify(snaps[-1].c, snaps[-1].v_sign, 2, 1, snaps[-1].w_norm**2 + snaps[-1].v**2).to_dict()
    with pytest.raises(StoreError, match="no snapshot"):
        session.classification_at(-1)


def test_named_results(store):
    with store.create_session(None, {}, kind="sweep") as w:
        w.put_array("grid", np.arange(12.0).reshape(3, 4))
        w.put_json("summary", {"p": 0.25, "runs": [1, 2]})
        with pytest.raises(ValueError):
            w.put_array("bad", np.array([object()], dtype=object))
    session = store.load(w.id)
    assert session.kind == "sweep" and session.config is None
    np.testing.assert_array_equal(session.array("grid"), np.arange(12.0).reshape(3, 4))
    assert session.json("summary") == {"p": 0.25, "runs": [1, 2]}
    assert session.result_names() == ["grid", "summary"]
    assert session.series()["step"].shape == (0,)
    assert list(session.snapshots()) == []


# -- listing, ids, edits ------------------------------------------------------------------------


def test_list_newest_first_with_filters(store):
    a = record(store, 5, tags=["x"])
    b = record(store, 5, tags=["x", "y"])
    w = store.create_session(make_config(), {})
    w.append(make_snapshot(0))
    w.finish("diverged")
    assert [i.id for i in store.list()] == [w.id, b, a]
    assert [i.id for i in store.list(tag="x")] == [b, a]
    assert [i.id for i in store.list(status="diverged")] == [w.id]
    info = store.list(tag="y")[0]
    assert info.status == "completed" and info.final["step"] == 40 and info.final["loss"] == pytest.approx(0.2)
    assert info.snapshots == 5 and info.hidden == 3


def test_ids_prefixes_and_names(store):
    ids = [record(store, 1) for _ in range(17)]  # 17 ids: two share a first character
    assert all(len(i) == 8 for i in ids)
    for i in ids:
        assert store.resolve(i[:7]) == i and store.load(i[:7]).id == i
    first = [i[0] for i in ids]
    shared = next(c for c in first if first.count(c) > 1)
    with pytest.raises(StoreError, match="ambiguous"):
        store.resolve(shared)
    with pytest.raises(StoreError, match="no session 'zzz'"):
        store.load("zzz")
    store.rename(ids[0], "baseline")
    assert store.resolve("baseline") == ids[0]


def test_rename_tag_note_delete(store):
    sid = record(store, 3)
    store.rename(sid[:4], "first")
    assert store.tag(sid, ["a", "b", "a"]) == ["a", "b"]
    assert store.tag(sid, ["a"], remove=True) == ["b"]
    store.note(sid, "line one")
    assert store.note(sid, "line two") == "line one\n\nline two"
    session = store.load(sid)
    assert (session.name, session.tags, session.notes) == ("first", ["b"], "line one\n\nline two")
    store.delete(sid)
    assert store.list() == []
    db = sqlite3.connect(store.db_path)
    for table in ("blocks", "block_data", "hops", "checkpoints", "results"):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
    with pytest.raises(StoreError):
        store.delete(sid)


def test_a_session_being_recorded_cannot_be_deleted(store):
    w = store.create_session(make_config(), {})
    with pytest.raises(StoreError, match="still being recorded"):
        store.delete(w.id)
    w.finish()
    store.delete(w.id)


def test_writer_context_manager_marks_failures(store):
    with pytest.raises(RuntimeError):
        with store.create_session(make_config(), {}) as w:
            w.append(make_snapshot(0))
            raise RuntimeError("boom")
    session = store.load(w.id)
    assert session.status == "failed" and len(session) == 1
    with pytest.raises(StoreError, match="finished"):
        w.append(make_snapshot(1))


# -- faults ---------------------------------------------------------------------------------------


def test_newer_store_version_is_refused(tmp_path):
    Store(tmp_path / "s")
    db = sqlite3.connect(tmp_path / "s" / "sessions.db")
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreError, match="newer relulab"):
        Store(tmp_path / "s")


def test_files_that_are_not_a_store(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "sessions.db").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="not a relulab store"):
        Store(tmp_path / "junk")
    (tmp_path / "other").mkdir()
    other = sqlite3.connect(tmp_path / "other" / "sessions.db")
    other.execute("CREATE TABLE accounts (x)")
    other.commit()
    other.close()
    with pytest.raises(StoreError, match="not a relulab file"):
        Store(tmp_path / "other")


def test_corrupt_database_gives_store_errors(tmp_path):
    s = Store(tmp_path / "s")
    sid = record(s, 3000)
    s.close()
    path = tmp_path / "s" / "sessions.db"
    data = bytearray(path.read_bytes())
    assert not (tmp_path / "s" / "sessions.db-wal").exists() or (tmp_path / "s" / "sessions.db-wal").stat().st_size == 0
    rng = np.random.default_rng(0)
    data[4096:] = rng.integers(0, 256, len(data) - 4096, dtype=np.uint8).tobytes()  # all but the first page
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged|not a relulab"):
        s2 = Store(tmp_path / "s")
        s2.load(sid).series()
    path.write_bytes(bytes(data[:5000]))  # truncated
    with pytest.raises(StoreError):
        s3 = Store(tmp_path / "s")
        s3.list()


def test_store_path_that_cannot_be_created(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create"):
        Store(tmp_path / "file" / "store")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_store_directory(tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    try:
        with pytest.raises(StoreError, match="not writable"):
            Store(tmp_path / "ro")
    finally:
        (tmp_path / "ro").chmod(0o700)


def test_full_disk_during_a_run_keeps_earlier_data(store):
    other = record(store, 10)
    w = store.create_session(make_config(hidden=64), {}, flush_interval=3600)
    for i in range(300):
        w.append(make_snapshot(i, 64))
    w.flush()
    with w._commit_lock:  # a full disk, simulated: this connection may not grow the file any further
        pages = w._db.execute("PRAGMA page_count").fetchone()[0]
        w._db.execute(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(StoreError, match="disk is full") as e:  # from the writer thread, or from flush
        for i in range(300, 20000):
            w.append(make_snapshot(i, 64))
        w.flush()
    assert "300 snapshots saved before are intact" in str(e.value)
    with pytest.raises(StoreError, match="disk is full"):
        w.append(make_snapshot(20000, 64))  # the run learns it at its next append
    with pytest.raises(StoreError):
        w.finish()
    session = store.load(w.id)
    assert session.status == "failed" and len(session) == 300
    assert [s.step for s in session.snapshots()] == [10 * i for i in range(300)]
    assert len(store.load(other)) == 10
    assert sqlite3.connect(store.db_path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# -- crash detection and concurrency ------------------------------------------------------------

RECORDER = r"""
import sys, time
import numpy as np
sys.path.insert(0, {repo!r})
from core.config import Config, replace
from core.snapshot import Snapshot
from sessions import Store
config = replace(Config(), "model", hidden=8)
store = Store({store!r})
w = store.create_session(config, {{"device": "cpu"}}, name={name!r}, flush_interval={flush})
print(w.id, time.time(), flush=True)
start = time.time()
for i in range({n}):
    c = np.linspace(-1, 1, 8) + 0.001 * i
    w.append(Snapshot(i, 1.0 / (i + 1), None, None, None, c, np.abs(c), c, np.sign(c).astype(np.int8), "", 0.0,
                      time.time() - start))
    if {pause}:
        time.sleep({pause})
{end}
"""


def spawn(store_path: Path, n: int, name: str = "child", flush: float = 1.0, pause: float = 0.0, end: str = "w.finish()"):
    code = RECORDER.format(repo=str(REPO), store=str(store_path), name=name, flush=flush, n=n, pause=pause, end=end)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_9_while_recording_leaves_an_interrupted_session(tmp_path):
    store = Store(tmp_path / "s")
    child = spawn(tmp_path / "s", n=10**7, pause=0.0005)
    try:
        sid, started = child.stdout.readline().split()
        deadline = time.time() + 20
        while len(store.load(sid)) < 500 and time.time() < deadline:
            time.sleep(0.05)
        # Alive: listed as running, and readable while it is written.
        assert store.list()[0].status == "running"
        live = store.load(sid)
        replayed = list(live.snapshots())
        assert len(replayed) >= len(live) >= 500
        assert [s.step for s in replayed] == list(range(len(replayed)))
        time.sleep(1.3)
        killed_at = time.time()
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    session = store.load(sid)
    assert session.status == "interrupted"
    assert store.list(status="interrupted")[0].id == sid
    n = len(session)
    steps = [s.step for s in session.snapshots()]
    assert steps == list(range(n)) and n > len(replayed)
    # Committed up to the last flush: the newest saved snapshot is at most about a second old.
    last = session.series()["elapsed"][-1]
    assert killed_at - float(started) - last < 3.0  # a flush every second, plus slack for a busy machine
    assert session.info.ended is not None


def test_kill_9_of_relulab_run_keeps_the_batches_committed_before(tmp_path):
    # The real recording path: `relulab run` hands the trainer's batches to the writer.
    store_path = tmp_path / "s"
    config = tmp_path / "every_step.toml"
    config.write_text((REPO / "examples" / "abs_obstructed.toml").read_text().replace("log_every = 10", "log_every = 1"))
    child = subprocess.Popen(
        [sys.executable, "-m", "lab.cli", "run", str(config), "--steps", "100000000", "--store", str(store_path), "--json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            time.sleep(0.1)
            infos = Store(store_path).list() if (store_path / "sessions.db").exists() else []
            if infos and infos[0].snapshots >= 2000:
                break
        assert infos and infos[0].status == "running", child.stderr.read() if child.poll() is not None else ""
        time.sleep(1.2)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    session = Store(store_path).load(infos[0].id)
    assert session.status == "interrupted"
    steps = [s.step for s in session.snapshots()]
    assert len(steps) > 2000 and steps == list(range(len(steps)))
    assert session.checkpoint_steps()[:2] == [0, 100]  # checkpoints come with their batches


def test_two_processes_record_into_one_store(tmp_path):
    Store(tmp_path / "s")
    children = [spawn(tmp_path / "s", n=4000, name=f"p{k}", flush=0.01, pause=0.0002) for k in range(2)]
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
    infos = Store(tmp_path / "s").list()
    assert sorted(i.name for i in infos) == ["p0", "p1"]
    assert all(i.status == "completed" and i.snapshots == 4000 for i in infos)
    for i in infos:
        assert len(list(Store(tmp_path / "s").load(i.id).snapshots())) == 4000


def test_exit_without_finish_saves_what_was_queued(tmp_path):
    Store(tmp_path / "s")
    child = spawn(tmp_path / "s", n=700, flush=60.0, end="")  # never flushes on its own, never finishes
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    session = Store(tmp_path / "s").load(out.split()[0])
    assert session.status == "interrupted" and len(session) == 700


def test_liveness_rules(store):
    w = store.create_session(make_config(), {})
    assert store.load(w.id).status == "running"
    db = sqlite3.connect(store.db_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()

    def status_with(**fields):
        sets = ", ".join(f"{k} = ?" for k in fields)
        db.execute(f"UPDATE sessions SET {sets} WHERE id = ?", (*fields.values(), w.id))
        db.commit()
        return store.load(w.id).status

    assert status_with(writer_pid=dead.pid) == "interrupted"
    assert status_with(writer_pid=os.getpid(), writer_token="0:0") == "interrupted"  # a recycled pid
    assert status_with(writer_token=liveness.process_token(os.getpid())) == "running"
    assert status_with(writer_host="elsewhere", heartbeat=time.time()) == "running"
    assert status_with(heartbeat=time.time() - 3600) == "interrupted"
    status_with(writer_host=liveness.this_host(), heartbeat=time.time())
    w.finish()
    assert store.load(w.id).status == "completed"


@pytest.mark.parametrize("array", [np.arange(5.0), np.zeros((3, 4), np.float32), np.array(3), np.zeros((2, 0, 3)),
                                   np.arange(6).reshape(2, 3).T, np.arange(4, dtype=">f4"), np.array([1 + 2j])])
def test_npy_bytes_reads_back_with_numpy(array):
    import io

    from sessions.writer import npy_bytes

    back = np.load(io.BytesIO(npy_bytes(array)), allow_pickle=False)
    assert back.dtype == array.dtype and back.shape == array.shape and np.array_equal(back, array)
    with pytest.raises(ValueError, match="pickle"):
        npy_bytes(np.array([None, 1], dtype=object))


# -- batches, as the trainer hands them over -----------------------------------------------------


def test_batches_and_single_snapshots_record_the_same_bytes(store):
    from core.snapshot import SnapshotBatch
    from sessions.writer import ROWS_PER_INSERT

    def snap(i):
        hops = [Hop(10 * i, 2, -0.3, -0.2, -1, 1)] if i % 501 == 7 else []
        return make_snapshot(i, hops=hops, params=make_params(seed=i) if i % 1000 == 0 else None)

    # More blocks than one INSERT statement takes, chunks that straddle blocks, single appends between.
    n = 2 * ROWS_PER_INSERT * BLOCK + 77
    written = [snap(i) for i in range(n)]
    for s in written:
        s.accuracy = None  # a batch measures a quantity at every snapshot or at none
    sizes = [1, 300, 5, ROWS_PER_INSERT * BLOCK + 3, 129]
    by_batch = store.create_session(make_config(), {})
    i = k = 0
    while i < n:
        size = sizes[k % len(sizes)]
        if k % 3 == 2:
            for s in written[i:i + size]:
                by_batch.append(s)
        else:
            by_batch.append_batch(SnapshotBatch.of(written[i:i + size]))
        i, k = i + size, k + 1
    by_batch.finish()
    by_snapshot = store.create_session(make_config(), {})
    for s in written:
        by_snapshot.append(s)
    by_snapshot.finish()

    session = store.load(by_batch.id)
    read = list(session.snapshots())
    assert len(read) == n
    for a, b in zip(written, read):
        assert_snapshot_equal(a, b)
    assert session.hops == [h for s in written for h in s.hops]
    assert session.checkpoint_steps() == [s.step for s in written if s.params is not None]
    db = sqlite3.connect(store.db_path)
    rows = [db.execute("SELECT block, steps, scalars, present, c, w_norm, v, v_sign, signs FROM block_data "
                       "WHERE session = ? ORDER BY block", (sid,)).fetchall() for sid in (by_batch.id, by_snapshot.id)]
    summaries = [db.execute("SELECT block, count, step_first, step_last, summary FROM blocks WHERE session = ? ORDER BY block", (sid,)).fetchall()
                 for sid in (by_batch.id, by_snapshot.id)]
    assert rows[0] == rows[1] and summaries[0] == summaries[1]


def test_a_batch_must_measure_a_quantity_everywhere_or_nowhere():
    from core.snapshot import SnapshotBatch

    with pytest.raises(ValueError, match="accuracy is measured in some"):
        SnapshotBatch.of([make_snapshot(0), make_snapshot(1)])  # accuracy None, then 0.5


def test_an_empty_batch_records_nothing(store):
    from core.snapshot import SnapshotBatch

    with store.create_session(make_config(), {}) as w:
        w.append_batch(SnapshotBatch.of([]))
        w.append(make_snapshot(0))
        w.append_batch(SnapshotBatch.of([]))
    session = store.load(w.id)
    assert session.status == "completed" and [s.step for s in session.snapshots()] == [0]
