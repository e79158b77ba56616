"""Moving sessions between machines (export / import) and out to CSV.

An export file is an SQLite database with the store's own schema holding exactly one session:
one self-contained file, readable with any SQLite tool. Importing treats the file as hostile:
it is opened read-only and immutable (nothing is written next to it), must carry our
application id and a known version, must pass SQLite's integrity check, must contain exactly our
tables, and every value is checked (arrays are sized raw buffers or .npy read with
allow_pickle=False) while it is copied inside one transaction, so a bad file adds nothing.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import os
import re
import sqlite3
import stat
from pathlib import Path
from typing import Any

import numpy as np

from core import strict_json
from core.config import config_from_toml
from core.errors import UserError
from core.snapshot import Classification
from sessions import db as schema
from sessions.blocks import BLOCK, DTYPES, SCALARS, BlockError, decode, decode_summaries, summaries, summary_size
from sessions.reader import Session, load_npy
from sessions.db import Database, StoreError
from sessions.info import INFO_COLUMNS, KINDS, MAX_FEATURES, MAX_HIDDEN, STATUSES, info_from_row, is_time, live_status
from sessions.writer import PARAM_NAMES

SQLITE_MAGIC = b"SQLite format 3\x00"


# -- export ---------------------------------------------------------------------------------------

# Only in export files: the SHA-256 of everything else in the file (see content_checksum), so a
# file damaged on the way (a flipped bit in a number) is refused instead of imported.
EXPORT_TABLE = "CREATE TABLE export (checksum TEXT NOT NULL)"
# Every table in a fixed row order; hops have no key, so their order is the order in the file.
CHECKSUM_ORDER = {
    "sessions": "id", "blocks": "session, block", "block_data": "session, block", "hops": "rowid",
    "checkpoints": "session, step, name", "results": "session, name",
}


def content_checksum(db: sqlite3.Connection, schema_name: str = "main") -> str:
    """SHA-256 over every value of every table, each with its type, in a fixed order."""
    digest = hashlib.sha256()
    for table, order in CHECKSUM_ORDER.items():
        digest.update(f"table {table}\n".encode())
        cursor = db.execute(f"SELECT * FROM {schema_name}.{table} ORDER BY {order}")
        for row in cursor:
            for value in row:
                digest.update(_value_bytes(value))
            digest.update(b"\n")
    return digest.hexdigest()


def _value_bytes(value) -> bytes:
    if value is None:
        return b"N;"
    if isinstance(value, int):
        return b"I%d;" % value
    if isinstance(value, float):
        return b"F" + value.hex().encode() + b";"
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
        return b"S%d:" % len(value) + value
    return b"B%d:" % len(value) + bytes(value)


def export_session(database: Database, session_id: str, path: Path) -> Path:
    """Copy one session into a new single-file database at `path` (replaced atomically)."""
    if path.is_dir():
        raise StoreError(f"{path}: is a directory; give the export a file name")
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    _remove_stale_partials(path)
    try:
        partial.unlink(missing_ok=True)
        db = schema.connect(partial.resolve().as_uri(), uri=True)
    except (OSError, sqlite3.Error) as e:
        raise StoreError(f"{path}: cannot write the export: {getattr(e, 'strerror', None) or e}") from None
    try:
        db.execute("PRAGMA journal_mode = DELETE")  # one file, no -wal beside it
        database.conn()  # opens the store the way it can be opened (read-only, or even immutable)
        db.execute("ATTACH DATABASE ? AS store", (database.uri(),))
        db.execute("BEGIN")  # one read snapshot of the store, even while the session is recorded
        schema.create_tables(db)
        for table in schema.TABLES:
            cols = ", ".join(schema.columns(db, table))
            key = "id" if table == "sessions" else "session"
            db.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM store.{table} WHERE {key} = ?",
                       (session_id,))
        db.row_factory = sqlite3.Row
        row = db.execute(f"SELECT {INFO_COLUMNS} FROM main.sessions WHERE id = ?", (session_id,)).fetchone()
        status = live_status(row)
        # The copy has no writer: a run exported while recording arrives as interrupted.
        db.execute("UPDATE main.sessions SET status = ?, writer_pid = NULL, writer_token = NULL WHERE id = ?",
                   ("interrupted" if status == "running" else status, session_id))
        db.execute(EXPORT_TABLE)
        db.execute("INSERT INTO main.export (checksum) VALUES (?)", (content_checksum(db),))
        db.execute("COMMIT")
        db.execute("DETACH DATABASE store")
        db.close()
        os.replace(partial, path)
    except (OSError, sqlite3.Error) as e:
        db.close()
        for leftover in (partial, partial.with_name(partial.name + "-journal")):
            try:
                leftover.unlink(missing_ok=True)
            except OSError:
                pass
        raise StoreError(f"{path}: cannot write the export: {getattr(e, 'strerror', None) or e}") from None
    return path


def _remove_stale_partials(path: Path) -> None:
    """Remove what an export to `path` killed halfway left behind (its process is gone)."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.partial*"):
        pid = stale.name[len(path.name) + 2:].split(".")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # another export to the same name is under way
        except ProcessLookupError:
            pass
        except OSError:
            continue
        try:
            stale.unlink()
        except OSError:
            pass


# -- import ---------------------------------------------------------------------------------------


def import_session(database: Database, path: Path) -> str:
    """Validate the export file at `path` and add its session to `database`; returns the id it got."""
    what = str(path)
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer; it is refused below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise StoreError(f"{what}: no such file") from None
    except OSError as e:
        raise StoreError(f"{what}: cannot read: {e.strerror or e}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StoreError(f"{what}: not a regular file (a directory, pipe or device), so not a session export")
        head = os.read(fd, len(SQLITE_MAGIC))
    except OSError as e:
        raise StoreError(f"{what}: cannot read: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if head != SQLITE_MAGIC:
        raise StoreError(f"{what}: not a relulab session export (it is not an SQLite file)")
    try:
        src = schema.connect(path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as e:
        raise StoreError(f"{what}: cannot open the export ({e})") from None
    src.row_factory = sqlite3.Row
    try:
        _check_file(src, what)
        return _copy(src, database, what)
    except sqlite3.Error as e:
        raise StoreError(f"{what}: damaged or truncated session export ({e})") from None
    finally:
        src.close()


def _check_file(src: sqlite3.Connection, what: str) -> None:
    if schema.check_ours(src, what) == 0:
        raise StoreError(f"{what}: not a relulab session export (an empty SQLite database)")
    problems = [r[0] for r in src.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise StoreError(f"{what}: damaged or truncated session export ({problems[0]})")
    objects = {(r[0], r[1]) for r in src.execute("SELECT type, name FROM sqlite_master") if not r[1].startswith("sqlite_autoindex_")}
    expected = {("table", t) for t in schema.TABLES} | {("index", i) for i in schema.INDEXES} | {("table", "export")}
    if ("table", "export") not in objects and objects | {("table", "export")} == expected:
        raise StoreError(f"{what}: an export without a checksum (written before relulab checked exports); "
                         f"export the session again from its store")
    if objects != expected:
        extra = sorted(f"{t} {n}" for t, n in objects - expected)
        raise StoreError(f"{what}: not a relulab session export (unexpected contents: {', '.join(extra) or 'tables missing'})")
    reference = sqlite3.connect(":memory:")
    for sql in schema.TABLES.values():
        reference.execute(sql)
    for table in schema.TABLES:
        if schema.columns(src, table) != schema.columns(reference, table):
            raise StoreError(f"{what}: not a relulab session export (table {table} has other columns)")
    reference.close()
    count = src.execute("SELECT count(*) FROM sessions").fetchone()[0]
    if count != 1:
        raise StoreError(f"{what}: a session export holds exactly one session; this file holds {count}")
    stamped = src.execute("SELECT checksum FROM export").fetchall()
    if len(stamped) != 1 or stamped[0][0] != content_checksum(src):
        raise StoreError(f"{what}: damaged session export: its contents do not match the checksum written with it")


def _fail(what: str, problem: str) -> StoreError:
    return StoreError(f"{what}: damaged session export: {problem}")


def _check_session(row: sqlite3.Row, what: str) -> dict:
    """The session row as a dict, every field checked."""
    s = dict(row)

    def need(ok: bool, field: str) -> None:
        if not ok:
            shown = repr(s[field])
            raise _fail(what, f"sessions.{field} = {shown[:40]}")

    def opt(field: str, kind) -> None:
        need(s[field] is None or (isinstance(s[field], kind) and not isinstance(s[field], bool)), field)

    def json_field(field: str, kind, optional: bool = False) -> Any:
        if optional and s[field] is None:
            return None
        try:
            value = strict_json.loads(s[field])
        except (TypeError, ValueError):
            value = None
        need(isinstance(value, kind), field)
        return value

    need(isinstance(s["id"], str) and re.fullmatch(r"[0-9a-f]{1,32}", s["id"]) is not None, "id")
    need(s["kind"] in KINDS, "kind")
    need(s["status"] in STATUSES, "status")
    need(is_time(s["created"]), "created")
    for field in ("ended", "heartbeat"):
        need(s[field] is None or is_time(s[field]), field)
    for field in ("name", "config", "error", "writer_host", "last"):
        opt(field, str)
    for field in ("summary", "notes"):
        need(isinstance(s[field], str), field)
    for field, largest in (("hidden", MAX_HIDDEN), ("inputs", MAX_FEATURES), ("outputs", MAX_FEATURES)):
        opt(field, int)
        need(s[field] is None or 1 <= s[field] <= largest, field)
    need(isinstance(s["snapshots"], int) and s["snapshots"] >= 0, "snapshots")
    need(s["array_dtype"] is None or s["array_dtype"] in DTYPES, "array_dtype")
    json_field("environment", dict)
    tags = json_field("tags", list)
    need(all(isinstance(t, str) for t in tags), "tags")
    json_field("last", dict, optional=True)
    for field in ("initial", "final"):
        value = json_field(field, dict, optional=True)
        if value is not None:
            try:
                Classification.from_dict(value)
            except (KeyError, TypeError, ValueError):
                need(False, field)
    if s["config"] is not None:
        try:
            config_from_toml(s["config"], "config")
        except UserError as e:
            raise StoreError(f"{what}: damaged session export: {e}") from None
    s["writer_pid"] = s["writer_token"] = None  # that process lives on another machine, if at all
    if s["status"] == "running":
        s["status"] = "interrupted"
    damaged = info_from_row(s).damaged  # what `sessions list` will need of the row
    if damaged:
        raise _fail(what, damaged)
    return s


def _copy(src: sqlite3.Connection, database: Database, what: str) -> str:
    session = _check_session(src.execute("SELECT * FROM sessions").fetchone(), what)
    old_id = session["id"]
    with database.transaction(f"cannot import {what}") as db:
        same = db.execute("SELECT id FROM sessions WHERE created = ? AND writer_host IS ? AND kind = ?",
                          (session["created"], session["writer_host"], session["kind"])).fetchone()
        if same is not None:
            raise StoreError(f"{what}: this session is already in this store (as {same[0]})")
        # An id of another form (one character, or a prefix of ids here) could never be told
        # apart from others by `show` or `delete`: such a session, or one whose id is taken,
        # gets a new id of the usual form.
        odd = re.fullmatch(f"[0-9a-f]{{{2 * schema.ID_BYTES}}}", old_id) is None
        if odd or db.execute("SELECT 1 FROM sessions WHERE id = ? OR id LIKE ? OR ? LIKE id || '%'",
                             (old_id, old_id + "%", old_id)).fetchone():
            session["id"] = database.new_id(db)
        new_id = session["id"]
        cols = schema.columns(db, "sessions")
        db.execute(f"INSERT INTO sessions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                   [session[c] for c in cols])
        total = _copy_blocks(src, db, session, old_id, what)
        if total != session["snapshots"]:
            raise _fail(what, f"{total} snapshots stored, {session['snapshots']} announced")
        _copy_rest(src, db, old_id, new_id, what)
    return new_id


def _copy_blocks(src: sqlite3.Connection, db: sqlite3.Connection, session: dict, old_id: str, what: str) -> int:
    hidden, dtype = session["hidden"], session["array_dtype"]
    n_blocks = src.execute("SELECT count(*) FROM blocks").fetchone()[0]
    n_data = src.execute("SELECT count(*) FROM block_data").fetchone()[0]
    if n_blocks != n_data:
        raise _fail(what, f"{n_blocks} block summaries but {n_data} blocks of data")
    if n_blocks and (hidden is None or dtype is None):
        raise _fail(what, "snapshots without a neuron count or number type")
    rows = src.execute(
        "SELECT b.session AS owner, b.block, b.count, b.step_first, b.step_last, b.summary, d.session AS data_owner, "
        "d.steps, d.scalars, d.present, d.c, d.w_norm, d.v, d.v_sign, d.signs FROM blocks b "
        "LEFT JOIN block_data d ON d.session = b.session AND d.block = b.block ORDER BY b.block")
    total, last_step = 0, None
    size = summary_size(hidden, dtype) if n_blocks else 0
    for expected_block, r in enumerate(rows):
        where = f"block {r['block']}"
        if r["owner"] != old_id or r["data_owner"] != old_id or r["block"] != expected_block:
            raise _fail(what, f"{where} does not belong to the session's sequence of blocks")
        count = r["count"]
        if not isinstance(count, int) or not 1 <= count <= BLOCK or (expected_block < n_blocks - 1 and count != BLOCK):
            raise _fail(what, f"{where} holds {count!r} snapshots")
        try:
            cols = decode(r, count, hidden, dtype)
        except BlockError as e:
            raise _fail(what, f"{where}: {e}") from None
        steps = cols.step
        if np.any(np.diff(steps) <= 0) or (last_step is not None and steps[0] <= last_step) or (
                r["step_first"], r["step_last"]) != (int(steps[0]), int(steps[-1])):
            raise _fail(what, f"{where}: steps out of order")
        if not isinstance(r["summary"], bytes) or len(r["summary"]) != size:
            raise _fail(what, f"{where}: summary has the wrong size")
        stored = decode_summaries([r["summary"]], hidden, dtype)
        computed = decode_summaries([summaries(cols, count)[0]], hidden, dtype)
        if not all(np.array_equal(a, b, equal_nan=True) for a, b in zip(stored, computed)):
            raise _fail(what, f"{where}: summary does not match the snapshots")
        last_step = int(steps[-1])
        total += count
        db.execute("INSERT INTO blocks (session, block, count, step_first, step_last, summary) VALUES (?, ?, ?, ?, ?, ?)",
                   (session["id"], r["block"], count, r["step_first"], r["step_last"], r["summary"]))
        db.execute("INSERT INTO block_data (session, block, steps, scalars, present, c, w_norm, v, v_sign, signs) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (session["id"], r["block"], r["steps"], r["scalars"], r["present"], r["c"], r["w_norm"], r["v"],
                    r["v_sign"], r["signs"]))
    return total


def _copy_rest(src: sqlite3.Connection, db: sqlite3.Connection, old_id: str, new_id: str, what: str) -> None:
    for r in src.execute("SELECT * FROM hops"):
        ints = (r["step"], r["neuron"], r["sign_before"], r["sign_after"])
        floats = (r["c_before"], r["c_after"])
        if r["session"] != old_id or not all(isinstance(x, int) for x in ints) or not all(
                isinstance(x, (int, float)) for x in floats):
            raise _fail(what, f"a hop at step {r['step']!r} is malformed")
        db.execute("INSERT INTO hops (session, step, neuron, c_before, c_after, sign_before, sign_after) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", (new_id, *ints[:2], *floats, *ints[2:]))
    for r in src.execute("SELECT * FROM checkpoints"):
        if r["session"] != old_id or not isinstance(r["step"], int) or r["name"] not in PARAM_NAMES:
            raise _fail(what, f"checkpoint {r['name']!r} at step {r['step']!r} is malformed")
        _check_array(r["data"], f"{what}: checkpoint {r['name']} at step {r['step']}")
        db.execute("INSERT INTO checkpoints (session, step, name, data) VALUES (?, ?, ?, ?)",
                   (new_id, r["step"], r["name"], r["data"]))
    for r in src.execute("SELECT * FROM results"):
        where = f"{what}: result {r['name']!r}"
        if r["session"] != old_id or not isinstance(r["name"], str) or r["kind"] not in ("array", "json"):
            raise _fail(what, f"result {r['name']!r} is malformed")
        if r["kind"] == "array":
            _check_array(r["data"], where)
        else:
            try:
                strict_json.loads(r["data"])
            except (TypeError, ValueError):
                raise StoreError(f"{where}: not valid JSON") from None
        db.execute("INSERT INTO results (session, name, kind, data) VALUES (?, ?, ?, ?)",
                   (new_id, r["name"], r["kind"], r["data"]))


def _check_array(data: Any, what: str) -> None:
    if not isinstance(data, bytes):
        raise StoreError(f"{what}: not an array")
    load_npy(data, what)  # plain numbers only, sized by the bytes present; a pickle is refused, never run


# -- CSV ------------------------------------------------------------------------------------------


def write_csv(session: "Session", directory: Path, max_points: int | None = None) -> list[Path]:
    """The session's series as CSV in `directory`: <id>_series.csv (step and the scalar series)
    and <id>_c.csv, <id>_v.csv, <id>_w_norm.csv (step and one column per neuron).

    Each file is written under a temporary name and renamed when all four are complete, so a
    full disk or a kill leaves no half-written CSV behind."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"{directory}: cannot create the directory: {e.strerror or e}") from None
    hidden = session.hidden or 0
    paths = {name: directory / f"{session.id}_{name}.csv" for name in ("series", "c", "v", "w_norm")}
    partial = {name: p.with_name(f".{p.name}.{os.getpid()}.partial") for name, p in paths.items()}
    digits = "%.9g" if session.dtype == "<f4" else "%.17g"
    files: dict = {}
    try:
        for name, p in partial.items():
            files[name] = open(p, "w", newline="", encoding="utf-8")
        series = csv.writer(files["series"])
        series.writerow(("step",) + SCALARS)
        for name in ("c", "v", "w_norm"):
            files[name].write(",".join(["step"] + [f"{name}_{k}" for k in range(hidden)]) + "\n")
        for chunk in _csv_chunks(session, max_points):
            steps, scalars, present, neuron = chunk
            for i in range(len(steps)):
                row = [int(steps[i])] + [_number(x) for x in scalars[i]]
                for k in range(len(present[i])):
                    if not present[i][k]:
                        row[2 + k] = ""  # test_loss, accuracy, test_accuracy that were never measured
                series.writerow(row)
            for name, values in neuron.items():
                table = np.column_stack([steps.astype(np.float64), values.astype(np.float64)])
                np.savetxt(files[name], table, delimiter=",", fmt=["%d"] + [digits] * hidden)
        while files:
            files.popitem()[1].close()  # close() writes the last buffer: it can fail too
        for name, p in partial.items():
            os.replace(p, paths[name])
    except OSError as e:
        raise StoreError(f"{directory}: cannot write the CSV files: {e.strerror or e}") from None
    finally:
        for f in files.values():
            try:
                f.close()
            except OSError:
                pass  # the error that brought us here is the one to report
        for p in partial.values():
            try:
                p.unlink(missing_ok=True)
            except OSError:
                pass
    return list(paths.values())


def _csv_chunks(session: "Session", max_points: int | None):
    if max_points:
        s = session.series(max_points)
        scalars = np.column_stack([s[name] for name in SCALARS]) if len(s["step"]) else np.zeros((0, len(SCALARS)))
        present = ~np.isnan(scalars[:, 1:4])
        yield s["step"], scalars, present, {name: s[name] for name in ("c", "v", "w_norm")}
        return
    for cols, _ in session.columns():
        yield cols.step, cols.scalars, cols.present, {"c": cols.c, "v": cols.v, "w_norm": cols.w_norm}


def _number(x: float) -> str:
    return repr(float(x))
