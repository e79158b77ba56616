"""The store under attack: hostile imports, damaged stores, read-only stores and flipped bits.

Every case goes through the command line as a user types it and must end in exit status 2 with
one line on stderr (never a traceback), with the store byte for byte as it was when an import
is refused, and with the other sessions still listed when one row is damaged.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
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
from sessions.transfer import content_checksum

REPO = Path(__file__).resolve().parents[1]


def make_snapshot(i: int) -> Snapshot:
    c = np.array([np.cos(0.01 * i), -0.5])
    return Snapshot(step=i, loss=1.0 / (i + 1), test_loss=2.0 / (i + 1), accuracy=None, test_accuracy=None, c=c,
                    w_norm=np.abs(c), v=c, v_sign=np.sign(c).astype(np.int8), signs="-", max_drift=0.0, elapsed=0.0)


def record(store: Store, n: int = 300, **kwargs) -> str:
    w = store.create_session(replace(Config(), "model", hidden=2), {"device": "cpu"}, **kwargs)
    for i in range(n):
        w.append(make_snapshot(i))
    w.put_array("weights", np.arange(6.0).reshape(2, 3))
    w.put_json("meta", {"k": [1, 2]})
    w.finish("completed")
    return w.id


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # every column shown in full


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv: str, match: str = "") -> str:
    """The command fails the way a user mistake or a hostile file must: status 2, one line."""
    code, out, err = cli(capsys, *argv)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relulab: "), err
    assert match in lines[0], lines[0]
    return lines[0]


def fingerprint(store_dir: Path) -> dict[str, str]:
    """SHA-256 of every file in the store directory."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(store_dir.iterdir())}


def contents(store_dir: Path) -> str:
    """Every value in the store, hashed (for a store this process still holds open, whose files
    SQLite may rearrange without changing what they hold)."""
    db = sqlite3.connect(store_dir / "sessions.db")
    try:
        return content_checksum(db)
    finally:
        db.close()


@pytest.fixture
def home(tmp_path) -> Path:
    """A store holding one session of its own, closed (its log folded into the database file)."""
    path = tmp_path / "home"
    store = Store(path)
    record(store, name="mine")
    store.close()
    return path


@pytest.fixture
def export(tmp_path) -> Path:
    origin = Store(tmp_path / "origin")
    sid = record(origin, name="theirs", tags=["gpu"])
    path = origin.export(sid, tmp_path / "theirs.relulab")
    origin.close()
    return path


def tampered(export: Path, sql: str, params: tuple = (), restamp: bool = True) -> Path:
    """A copy of `export` changed by `sql`, its checksum recomputed (so the check under test,
    not the checksum, is what has to catch it) unless `restamp` is False."""
    out = export.with_name(f"hostile-{hashlib.sha1((sql + repr(params)).encode()).hexdigest()[:8]}.relulab")
    shutil.copy(export, out)
    db = sqlite3.connect(out)
    db.execute(sql, params)
    if restamp:
        db.execute("UPDATE export SET checksum = ?", (content_checksum(db),))
    db.commit()
    db.close()
    return out


def refused_import(capsys, home: Path, path: Path, match: str = "") -> str:
    """Import in a process of its own, so that when it has ended every file of the store can be
    compared byte for byte with what was there before."""
    before = fingerprint(home)
    done = subprocess.run([sys.executable, "-m", "lab.cli", "sessions", "import", str(path), "--store", str(home)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("relulab: "), done.stderr
    assert match in lines[0], lines[0]
    assert fingerprint(home) == before, "a refused import changed the store"
    return lines[0]


def npy_header(shape: tuple, dtype: str = "<f8") -> bytes:
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %r, }" % (dtype, shape)
    header += " " * (-(len(header) + 11) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1")


# -- 1. arrays that declare more than they hold -----------------------------------------------------


@pytest.mark.parametrize("shape", [(10**12,), (10**6, 10**6), (-2, -3)])
def test_import_refuses_an_array_declaring_a_huge_shape(capsys, home, export, shape):
    blob = npy_header(shape) + b"\x00" * 48
    for table in ("results", "checkpoints"):
        if table == "results":
            path = tampered(export, "UPDATE results SET data = ? WHERE name = 'weights'", (blob,))
        else:
            path = tampered(export, "INSERT INTO checkpoints SELECT id, 0, 'hidden_weight', ? FROM sessions", (blob,))
        refused_import(capsys, home, path, match="damaged array")


def test_a_huge_array_in_the_store_is_one_line(tmp_path):
    from sessions import StoreError

    store = Store(tmp_path / "s")
    sid = record(store)
    with store.db.transaction("test") as db:
        db.execute("UPDATE results SET data = ? WHERE name = 'weights'", (npy_header((10**12,)) + b"\0" * 8,))
    with pytest.raises(StoreError, match="declares shape"):
        store.load(sid).array("weights")
    np.testing.assert_array_equal(store.load(sid).json("meta")["k"], [1, 2])


# -- 2. nesting beyond any recursion limit -----------------------------------------------------------


def test_import_refuses_deeply_nested_json_and_toml(capsys, home, export):
    deep = "[" * 100_000 + "]" * 100_000
    cases = [
        ("UPDATE sessions SET tags = ?", (deep,), "sessions.tags"),
        ("UPDATE sessions SET final = ?", ('{"a":' * 50_000 + "1" + "}" * 50_000,), "sessions.final"),
        ("UPDATE results SET data = ? WHERE name = 'meta'", (deep.encode(),), "not valid JSON"),
        ("UPDATE block_data SET signs = ?", (deep,), "sign vectors"),
        ("UPDATE sessions SET config = ?", ("[model]\nhidden = " + "[" * 5000 + "]" * 5000,), "nested too deeply"),
    ]
    for sql, params, match in cases:
        refused_import(capsys, home, tampered(export, sql, params), match=match)


def test_deeply_nested_json_in_the_store_marks_the_row_damaged(capsys, home):
    store = Store(home)
    sid = record(store, name="deep")
    with store.db.transaction("test") as db:
        db.execute("UPDATE sessions SET tags = ? WHERE id = ?", ("[" * 100_000 + "]" * 100_000, sid))
    code, out, err = cli(capsys, "sessions", "list", "--json", "--store", str(home))
    assert code == 0 and err == ""
    rows = {r["id"]: r for r in json.loads(out)}
    assert len(rows) == 2 and "nested more than" in rows[sid]["damaged"]
    assert [r["damaged"] for i, r in rows.items() if i != sid] == [None]
    refused(capsys, "sessions", "show", sid, "--store", str(home), match="is damaged")
    assert cli(capsys, "sessions", "delete", sid, "--yes", "--store", str(home))[0] == 0


# -- 3. files that are not files -----------------------------------------------------------------


def test_import_of_a_fifo_or_a_device_is_refused_at_once(tmp_path, home):
    fifo = tmp_path / "pipe.relulab"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero"), tmp_path):
        done = subprocess.run([sys.executable, "-m", "lab.cli", "sessions", "import", str(path), "--store", str(home)],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [f"relulab: {path}: not a regular file (a directory, pipe or "
                                                    "device), so not a session export"]


# -- 4. terminal escapes and rich markup in imported strings ---------------------------------------


ESCAPES = "\x1b[2J\x1b]0;pwned\x07\x9b31m\u202e"


def test_imported_strings_reach_the_terminal_as_plain_escaped_text(tmp_path, export):
    """Strings relulab itself would not accept (a name with ESC in it) arrive in a crafted file."""
    hostile = f"[bold red]x[/] [/oops] {ESCAPES}"
    origin = Store(tmp_path / "c")
    cfg = replace(Config(), "data", path=f"/data/evil{ESCAPES}[red].csv")
    w = origin.create_session(cfg, {"device": "cpu"}, name="plain")
    for i in range(3):
        w.append(make_snapshot(i))
    w.finish("completed")
    path = origin.export(w.id, tmp_path / "strings.relulab")
    path = tampered(path, "UPDATE sessions SET name = ?, tags = ?, notes = ?",
                    (hostile, json.dumps([hostile, "[link=http://x]t[/link]"]), f"first line\n{hostile}"))
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    env.update(COLUMNS="400", TERM="xterm-256color")  # a pipe: rich adds no escapes of its own

    def run(*argv: str) -> str:
        done = subprocess.run([sys.executable, "-m", "lab.cli", "sessions", *argv, "--store", str(home)], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        return done.stdout

    sid = run("import", str(path)).strip()
    for argv in (("list",), ("list", "--tsv"), ("show", sid)):
        out = run(*argv)
        assert not any(ch in out for ch in "\x1b\x07\x9b\u202e"), repr(out)
        assert "[bold red]x[/] [/oops] \\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\u202e" in out  # the tag
        assert "imported [bold red]x[/] [/oops] ?[2J?]0;pwned??31m?" in out  # the name, made a valid one
        assert "evil\\x1b[2J" in out and "\\u202e[red].csv" in out  # the data file's name, in the config column
    show = run("show", sid)
    assert "[link=http://x]t[/link]" in show and "first line\n" in show
    assert json.loads(run("show", sid, "--json"))["tags"][0] == hostile  # JSON keeps the string exactly


# -- 5. times outside the calendar, absurd sizes -------------------------------------------------------


@pytest.mark.parametrize("sql, params", [
    ("UPDATE sessions SET created = ?", (-1e15,)),  # the year -31686769
    ("UPDATE sessions SET created = ?", (2.0**70,)),
    ("UPDATE sessions SET ended = ?", (1e300,)),
    ("UPDATE sessions SET hidden = ?", (10**12,)),
    ("UPDATE sessions SET inputs = ?", (2**62,)),
])
def test_import_refuses_times_and_sizes_no_session_can_have(capsys, home, export, sql, params):
    refused_import(capsys, home, tampered(export, sql, params), match="damaged session export")


def test_a_store_holding_absurd_times_and_sizes_still_lists(capsys, tmp_path):
    store = Store(tmp_path / "s")
    good = record(store, name="good")
    bad_time, bad_end, bad_hidden = (record(store) for _ in range(3))
    with store.db.transaction("test") as db:
        db.execute("UPDATE sessions SET created = -1e15 WHERE id = ?", (bad_time,))
        db.execute("UPDATE sessions SET ended = 1e300 WHERE id = ?", (bad_end,))
        db.execute("UPDATE sessions SET hidden = ? WHERE id = ?", (10**12, bad_hidden))
    s = str(tmp_path / "s")
    code, out, err = cli(capsys, "sessions", "list", "--store", s)
    assert code == 0 and err == "" and out.count("\tdamaged\t") == 3 and "\tgood\t" in out  # a pipe: TSV
    listed = {r["id"]: r for r in json.loads(cli(capsys, "sessions", "list", "--json", "--store", s)[1])}
    assert listed[good]["damaged"] is None and listed[good]["created"] is not None
    assert "created" in listed[bad_time]["damaged"] and listed[bad_time]["created"] is None
    assert "ended" in listed[bad_end]["damaged"] and "hidden" in listed[bad_hidden]["damaged"]
    for sid in (bad_time, bad_end, bad_hidden):
        for argv in (("show", sid), ("show", sid, "--json"), ("csv", sid, "-o", str(tmp_path / "csv"))):
            refused(capsys, "sessions", *argv, "--store", s, match=f"session {sid} is damaged")
    assert cli(capsys, "sessions", "show", good, "--store", s)[0] == 0
    for sid in (bad_time, bad_end, bad_hidden):
        assert cli(capsys, "sessions", "delete", sid, "--yes", "--store", s)[0] == 0
    assert [r["id"] for r in json.loads(cli(capsys, "sessions", "list", "--json", "--store", s)[1])] == [good]


# -- 6. damaged rows: listed as damaged, the others intact, delete removes them ---------------------


def test_damaged_rows_are_listed_and_can_be_deleted(capsys, tmp_path):
    store = Store(tmp_path / "s")
    good = record(store, name="good")
    damage = {
        "tags": ("UPDATE sessions SET tags = 'not json' WHERE id = ?", "tags is not valid JSON"),
        "last": ("UPDATE sessions SET last = '{\"step\":' WHERE id = ?", "last is not valid JSON"),
        "final": ("UPDATE sessions SET final = '[1, 2]' WHERE id = ?", "final holds a JSON list"),
        "kind": ("UPDATE sessions SET kind = 'bogus' WHERE id = ?", "kind 'bogus'"),
        "env": ("UPDATE sessions SET environment = '[' WHERE id = ?", None),
    }
    ids = {}
    for what, (sql, _) in damage.items():
        ids[what] = record(store, name=f"bad {what}")
        with store.db.transaction("test") as db:
            db.execute(sql, (ids[what],))
    s = str(tmp_path / "s")
    listed = {r["id"]: r for r in json.loads(cli(capsys, "sessions", "list", "--json", "--store", s)[1])}
    assert len(listed) == 6 and listed[good]["status"] == "completed"
    for what, (_, reason) in damage.items():
        if reason:  # the environment is not needed for a listing; `show` finds it
            assert listed[ids[what]]["status"] == "damaged" and reason in listed[ids[what]]["damaged"]
        refused(capsys, "sessions", "show", ids[what], "--store", s, match="is damaged")
        refused(capsys, "sessions", "csv", ids[what], "-o", str(tmp_path / "csv"), "--store", s, match="is damaged")
    code, out, err = cli(capsys, "sessions", "list", "--store", s)
    assert code == 0 and err == "" and out.count("\tdamaged\t") == 4  # the environment: only `show` reads it
    for sid in ids.values():
        assert cli(capsys, "sessions", "delete", sid, "--yes", "--store", s)[0] == 0
    listed = json.loads(cli(capsys, "sessions", "list", "--json", "--store", s)[1])
    assert [r["id"] for r in listed] == [good]
    assert cli(capsys, "sessions", "csv", good, "-o", str(tmp_path / "csv"), "--store", s)[0] == 0


# -- 10. flipped bits, odd ids, read-only stores ---------------------------------------------------


def test_flipped_bits_never_import_different_numbers(capsys, tmp_path, home, export):
    """Flip a few bits anywhere in an export: it is refused with one line, or (a flip in unused
    bytes) imports exactly the original session."""
    original = Store(home)
    reference = original.import_(export)
    expected = original.load(reference).to_dict()
    expected_csv = [p.read_bytes() for p in _csv(capsys, home, reference, tmp_path / "ref")]
    original.delete(reference)
    original.close()
    data = export.read_bytes()
    rng = random.Random(14)
    outcomes = {"refused": 0, "identical": 0}
    for trial in range(24):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            flipped[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        path = tmp_path / f"flip{trial}.relulab"
        path.write_bytes(bytes(flipped))
        before = contents(home)
        code, out, err = cli(capsys, "sessions", "import", str(path), "--store", str(home))
        if code == 2:
            assert len(err.strip().splitlines()) == 1 and err.startswith("relulab: "), err
            assert contents(home) == before
            outcomes["refused"] += 1
            continue
        assert code == 0, err
        sid = out.strip()
        got = Store(home).load(sid).to_dict()
        assert {**got, "id": reference} == {**expected, "id": reference}
        assert [p.read_bytes() for p in _csv(capsys, home, sid, tmp_path / f"csv{trial}")] == [
            b.replace(reference.encode(), sid.encode()) for b in expected_csv]
        assert cli(capsys, "sessions", "delete", sid, "--yes", "--store", str(home))[0] == 0
        outcomes["identical"] += 1
    print(f"flipped-bit exports: {outcomes}")
    assert outcomes["refused"] >= 6, outcomes  # (12 of 24 with this seed; the rest hit unused bytes)


def _csv(capsys, home: Path, sid: str, out: Path) -> list[Path]:
    code, stdout, err = cli(capsys, "sessions", "csv", sid, "-o", str(out), "--store", str(home))
    assert code == 0, err
    return [Path(line) for line in stdout.split()]


def test_checksum_catches_a_changed_number(capsys, home, export):
    db = sqlite3.connect(export)
    loss = db.execute("SELECT scalars FROM block_data WHERE block = 0").fetchone()[0]
    db.close()
    changed = bytearray(loss)
    changed[3] ^= 0x10  # a low bit of the first loss: still a plausible number
    path = tampered(export, "UPDATE block_data SET scalars = ? WHERE block = 0", (bytes(changed),), restamp=False)
    refused_import(capsys, home, path, match="do not match the checksum")
    # With the checksum recomputed the block summary still disagrees with the data it summarises.
    path = tampered(export, "UPDATE block_data SET scalars = ? WHERE block = 0", (bytes(changed),))
    refused_import(capsys, home, path, match="summary does not match")


def test_exports_without_a_checksum_are_refused(capsys, home, export):
    refused_import(capsys, home, tampered(export, "DROP TABLE export", restamp=False), match="without a checksum")


@pytest.mark.parametrize("odd", ["a", "abc", "0123456789abcdef"])
def test_odd_imported_ids_are_rekeyed(capsys, home, export, odd):
    db = sqlite3.connect(home / "sessions.db")
    mine = db.execute("SELECT id FROM sessions").fetchone()[0]
    db.close()
    path = tampered(export, "UPDATE sessions SET id = ?", (odd,))
    for table in ("blocks", "block_data", "hops", "checkpoints", "results"):
        path = tampered(path, f"UPDATE {table} SET session = ?", (odd,))
    code, out, err = cli(capsys, "sessions", "import", str(path), "--store", str(home))
    assert code == 0, err
    sid = out.strip()
    assert sid != odd and len(sid) == 8 and int(sid, 16) >= 0
    for target in (sid, mine):
        assert cli(capsys, "sessions", "show", target, "--store", str(home))[0] == 0
    assert cli(capsys, "sessions", "delete", sid, "--yes", "--store", str(home))[0] == 0


def test_an_id_that_prefixes_ours_is_rekeyed(capsys, home, export):
    db = sqlite3.connect(home / "sessions.db")
    mine = db.execute("SELECT id FROM sessions").fetchone()[0]
    db.close()
    # Same length cannot prefix; but our own id taken by another session must be re-keyed too.
    path = export
    for table, key in (("sessions", "id"), ("blocks", "session"), ("block_data", "session"), ("hops", "session"),
                       ("checkpoints", "session"), ("results", "session")):
        path = tampered(path, f"UPDATE {table} SET {key} = ?", (mine,))
    code, out, err = cli(capsys, "sessions", "import", str(path), "--store", str(home))
    assert code == 0 and out.strip() != mine, err
    listed = json.loads(cli(capsys, "sessions", "list", "--json", "--store", str(home))[1])
    assert sorted(r["id"] for r in listed) == sorted([mine, out.strip()])


def _mount(path: Path, options: str) -> bool:
    path.mkdir(exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True).returncode == 0


def test_a_read_only_store_can_be_listed_shown_and_exported(capsys, tmp_path):
    """A real read-only filesystem (tmpfs remounted read-only); needs root to mount."""
    disk = tmp_path / "disk"
    if not _mount(disk, "size=16m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        store = Store(disk / "store")
        sid = record(store, name="kept")
        store.close()
        assert subprocess.run(["mount", "-o", "remount,ro", str(disk)]).returncode == 0
        s = str(disk / "store")
        code, out, err = cli(capsys, "sessions", "list", "--store", s)
        assert code == 0 and "kept" in out, err
        assert cli(capsys, "sessions", "show", sid, "--store", s)[0] == 0
        assert cli(capsys, "sessions", "csv", sid, "-o", str(tmp_path / "csv"), "--store", s)[0] == 0
        assert cli(capsys, "sessions", "export", sid, "-o", str(tmp_path / "ro.relulab"), "--store", s)[0] == 0
        refused(capsys, "sessions", "tag", sid, "t", "--store", s, match="not writable")
        assert Store(tmp_path / "other").import_(tmp_path / "ro.relulab") == sid
    finally:
        subprocess.run(["umount", "--lazy", str(disk)])  # this process may still hold the store open


def test_an_export_cleans_up_after_one_killed_halfway(capsys, tmp_path, home):
    sid = json.loads(cli(capsys, "sessions", "list", "--json", "--store", str(home))[1])[0]["id"]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has ended
    leftovers = [tmp_path / f".run.relulab.{pid}.partial", tmp_path / f".run.relulab.{pid}.partial-journal"]
    for p in leftovers:
        p.write_bytes(b"\0" * 4096)  # what `kill -9` during an export leaves
    mine = tmp_path / ".run.relulab.1.partial"  # process 1 is alive: another export, left alone
    mine.write_bytes(b"x")
    assert cli(capsys, "sessions", "export", sid, "-o", str(tmp_path / "run.relulab"), "--store", str(home))[0] == 0
    assert not any(p.exists() for p in leftovers) and mine.exists()
    assert Store(tmp_path / "other").import_(tmp_path / "run.relulab") == sid
