"""The session store: a directory holding one SQLite database in WAL mode.

WAL lets one process record a run while others list and replay it, and lets two runs record
into the same store at once (each commit waits its turn on the busy timeout). Every SQLite fault
reaches the user as one StoreError line naming the store.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from core.config import Config, config_to_toml, summary
from sessions import liveness, schema
from sessions.schema import StoreError
from sessions.writer import SessionWriter

DB_NAME = "sessions.db"
STATUSES = ("running", "completed", "interrupted", "diverged", "failed")
KINDS = ("run", "sweep", "experiment", "atlas")
ID_BYTES = 4  # 8 hex characters; commands accept any unique prefix


def default_store_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("relulab")) / "sessions"


def open_store(path: str | os.PathLike | None = None) -> "Store":
    """The store named by `path` (--store), else $RELULAB_STORE, else the user data directory."""
    chosen = path or os.environ.get("RELULAB_STORE") or default_store_path()
    return Store(chosen)


def _finite(x):
    """JSON-safe number: NaN and infinities (a diverged run) become None."""
    return None if isinstance(x, float) and not math.isfinite(x) else x


@dataclass
class SessionInfo:
    """One line of `sessions list`: what can be shown without reading any snapshot."""

    id: str
    name: str | None
    kind: str
    status: str
    created: float  # unix time
    ended: float | None
    tags: list[str]
    summary: str  # the config in a few words
    hidden: int | None
    snapshots: int
    final: dict  # the newest snapshot's step, loss, test_loss, accuracy, test_accuracy, signs
    pathological: int | None
    components: int | None
    host: str | None
    error: str | None = None

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "created": iso_time(self.created),
            "ended": iso_time(self.ended) if self.ended else None,
            "tags": list(self.tags),
            "summary": self.summary,
            "hidden": self.hidden,
            "snapshots": self.snapshots,
            "final": {k: _finite(v) for k, v in self.final.items()},
            "pathological": self.pathological,
            "components": self.components,
            "host": self.host,
            "error": self.error,
        }


def iso_time(t: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")


INFO_COLUMNS = (
    "id, name, kind, status, created, ended, tags, summary, hidden, snapshots, last, initial, final, "
    "writer_host, writer_pid, writer_token, heartbeat, error"
)


def live_status(row: sqlite3.Row) -> str:
    """A `running` session whose writer is gone reads `interrupted`."""
    if row["status"] == "running" and not liveness.writer_alive(
        row["writer_host"], row["writer_pid"], row["writer_token"], row["heartbeat"]
    ):
        return "interrupted"
    return row["status"]


def info_from_row(row: sqlite3.Row) -> SessionInfo:
    status = live_status(row)
    last = json.loads(row["last"]) if row["last"] else {}
    classification = json.loads(row["final"] or row["initial"] or "null") or {}
    ended = row["ended"]
    if status == "interrupted" and ended is None:
        ended = row["heartbeat"]  # the last sign of life
    final = {k: last.get(k) for k in ("step", "loss", "test_loss", "accuracy", "test_accuracy", "signs")}
    return SessionInfo(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        status=status,
        created=row["created"],
        ended=ended,
        tags=json.loads(row["tags"]),
        summary=row["summary"],
        hidden=row["hidden"],
        snapshots=row["snapshots"],
        final=final,
        pathological=classification.get("pathological", last.get("pathological")),
        components=classification.get("components"),
        host=row["writer_host"],
        error=row["error"],
    )


class Store:
    """A directory of recorded sessions. Safe to use from several threads and processes."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser()
        self.db_path = self.path / DB_NAME
        self._local = threading.local()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"{self.path}: cannot create the session store: {e.strerror or e}") from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise StoreError(f"{self.path}: the session store is not writable")
        with self._errors("cannot open the session store"):
            self._init_schema(self._db())

    # -- connections and errors ----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = schema.connect(self.db_path)
            # Snapshot blocks are blobs of tens of kB: large pages mean fewer overflow pages to
            # chain through and fewer writes per commit. Takes effect only on a new, empty file,
            # and only before anything is read from it.
            conn.execute("PRAGMA page_size = 65536")
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA synchronous = NORMAL")  # WAL: a crash loses nothing committed
            conn.execute(f"PRAGMA journal_size_limit = {32 << 20}")  # shrink the log after a big commit
            return conn
        except sqlite3.Error as e:
            raise StoreError(self._describe(e, "cannot open the session store")) from None

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (sqlite3 connections are not shared between threads here)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _describe(self, e: sqlite3.Error, action: str) -> str:
        text = str(e)
        if "full" in text:
            reason = "the disk is full (database or disk is full)"
        elif "not a database" in text:
            reason = f"{DB_NAME} is not a relulab store (not an SQLite database)"
        elif "malformed" in text or "corrupt" in text:
            reason = f"{DB_NAME} is damaged ({text})"
        elif "readonly" in text or "read-only" in text or "unable to open" in text:
            reason = f"the store is not writable ({text})"
        elif "locked" in text or "busy" in text:
            reason = f"another process kept the store locked for {schema.BUSY_TIMEOUT:g} s ({text})"
        else:
            reason = text
        return f"{self.path}: {action}: {reason}"

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as e:
            raise StoreError(self._describe(e, action)) from None

    @contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        db = self._db()
        with self._errors(action):
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _init_schema(self, db: sqlite3.Connection) -> None:
        what = str(self.db_path)
        if schema.check_ours(db, what):
            return
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # lets delete hand space back; only on an empty file
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            if schema.check_ours(db, what) == 0:  # another process may have won the race
                schema.create_tables(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- writing ------------------------------------------------------------------------------

    def create_session(
        self,
        config: Config | None,
        environment: dict | None = None,
        name: str | None = None,
        tags: list[str] | tuple = (),
        kind: str = "run",
        flush_interval: float = 1.0,
    ) -> SessionWriter:
        """Start recording a new session; returns its writer (status `running` until finish)."""
        import platform
        import sys

        env = {"host": liveness.this_host(), "python": sys.version.split()[0], "platform": platform.platform()}
        env.update(environment or {})
        hidden = config.model.hidden if config is not None else None
        outputs = config.model.outputs if config is not None else None
        inputs = _inputs(config, env)
        pid = os.getpid()
        with self._transaction("cannot create a session") as db:
            session_id = self._new_id(db)
            db.execute(
                "INSERT INTO sessions (id, name, kind, status, created, config, summary, environment, tags, hidden, "
                "inputs, outputs, writer_host, writer_pid, writer_token, heartbeat) "
                "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, name, kind, time.time(), config_to_toml(config) if config is not None else None,
                 (summary(config) if config else ""), json.dumps(env, default=str), json.dumps(_clean_tags(tags)), hidden,
                 inputs, outputs, liveness.this_host(), pid, liveness.process_token(pid), time.time()),
            )
        # Per-neuron series keep the run's precision: a float32 run's c_k has no more digits than
        # float32 holds (its sign always survives), and it halves what a long run costs on disk.
        dtype = None if config is None else "<f4" if config.train.dtype == "float32" else "<f8"
        return SessionWriter(self, session_id, hidden, dtype, flush_interval=flush_interval)

    def _new_id(self, db: sqlite3.Connection) -> str:
        while True:
            session_id = secrets.token_hex(ID_BYTES)
            if not db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone():
                return session_id

    def delete(self, id_or_prefix: str) -> str:
        session_id = self.resolve(id_or_prefix)
        with self._transaction(f"cannot delete session {session_id}") as db:
            row = db.execute(f"SELECT {INFO_COLUMNS} FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if live_status(row) == "running":
                raise StoreError(f"session {session_id} is still being recorded (pid {row['writer_pid']} on "
                                 f"{row['writer_host']}): stop that run first")
            for table in schema.TABLES:
                key = "id" if table == "sessions" else "session"
                db.execute(f"DELETE FROM {table} WHERE {key} = ?", (session_id,))
        with self._errors("cannot reclaim space"):
            self._db().execute("PRAGMA incremental_vacuum")
        return session_id

    def rename(self, id_or_prefix: str, name: str | None) -> str:
        session_id = self.resolve(id_or_prefix)
        with self._transaction("cannot rename") as db:
            db.execute("UPDATE sessions SET name = ? WHERE id = ?", (name or None, session_id))
        return session_id

    def tag(self, id_or_prefix: str, tags: list[str], remove: bool = False) -> list[str]:
        """Add (or remove) tags; returns the session's tags afterwards."""
        session_id = self.resolve(id_or_prefix)
        with self._transaction("cannot tag") as db:
            current = json.loads(db.execute("SELECT tags FROM sessions WHERE id = ?", (session_id,)).fetchone()[0])
            wanted = _clean_tags(tags)
            if remove:
                current = [t for t in current if t not in wanted]
            else:
                current += [t for t in wanted if t not in current]
            db.execute("UPDATE sessions SET tags = ? WHERE id = ?", (json.dumps(current), session_id))
        return current

    def note(self, id_or_prefix: str, text: str, replace: bool = False) -> str:
        """Append a paragraph to the session's notes (or replace them); returns the notes."""
        session_id = self.resolve(id_or_prefix)
        with self._transaction("cannot save the note") as db:
            notes = db.execute("SELECT notes FROM sessions WHERE id = ?", (session_id,)).fetchone()[0]
            notes = text if replace or not notes else f"{notes}\n\n{text}"
            db.execute("UPDATE sessions SET notes = ? WHERE id = ?", (notes, session_id))
        return notes

    # -- reading ------------------------------------------------------------------------------

    def list(self, tag: str | None = None, status: str | None = None) -> list[SessionInfo]:
        """Sessions newest first, optionally only those with a tag and/or a status."""
        with self._errors("cannot list sessions"):
            rows = self._db().execute(f"SELECT {INFO_COLUMNS} FROM sessions ORDER BY created DESC, id").fetchall()
        infos = [info_from_row(r) for r in rows]
        return [i for i in infos if (tag is None or tag in i.tags) and (status is None or i.status == status)]

    def resolve(self, id_or_prefix: str) -> str:
        """The full id of a session given a unique id prefix (or its exact name)."""
        text = str(id_or_prefix).strip()
        with self._errors("cannot look up sessions"):
            db = self._db()
            matches = []
            if re.fullmatch(r"[0-9a-fA-F]{1,32}", text):
                matches = [r[0] for r in db.execute("SELECT id FROM sessions WHERE id LIKE ? ORDER BY id",
                                                    (text.lower() + "%",))]
            if not matches:
                matches = [r[0] for r in db.execute("SELECT id FROM sessions WHERE name = ? ORDER BY id", (text,))]
        if len(matches) == 1:
            return matches[0]
        if matches:
            shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
            raise StoreError(f"session id {text!r} is ambiguous: it matches {shown}; give more characters")
        raise StoreError(f"no session {text!r} in {self.path} ('relulab sessions list' shows the ids)")

    def load(self, id_or_prefix: str):
        """A recorded (or still recording) session: metadata, series, replay."""
        from sessions.reader import Session

        session_id = self.resolve(id_or_prefix)
        with self._errors(f"cannot read session {session_id}"):
            row = self._db().execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise StoreError(f"session {session_id} was deleted meanwhile")
        return Session(self, row)

    # -- files --------------------------------------------------------------------------------

    def export(self, id_or_prefix: str, path: str | os.PathLike) -> Path:
        """Write one session into a single self-contained file (see transfer.py)."""
        from sessions.transfer import export_session

        return export_session(self, self.resolve(id_or_prefix), Path(path))

    def import_(self, path: str | os.PathLike) -> str:
        """Add the session in an export file to this store; returns its id here."""
        from sessions.transfer import import_session

        return import_session(self, Path(path))


def _clean_tags(tags) -> list[str]:
    out = []
    for t in tags or ():
        t = str(t).strip()
        if not t:
            raise StoreError("a tag cannot be empty")
        if t not in out:
            out.append(t)
    return out


def _inputs(config: Config | None, environment: dict) -> int | None:
    """Input features d, needed later to classify (d_eff = d + bias); None when unknown yet."""
    if config is None:
        return None
    if config.model.inputs:
        return config.model.inputs
    if isinstance(environment.get("inputs"), int):
        return environment["inputs"]
    if config.data.path:
        return None  # a checkpoint's weights will tell
    try:
        from core.data import dataset_inputs

        return dataset_inputs(config)
    except Exception:
        return None
