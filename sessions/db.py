"""The bottom of the store: the on-disk format, connections, transactions and the one error type.

One SQLite database per store, the same tables in an export file.

A store database and an export file share this schema; an export simply holds one session.
`PRAGMA application_id` marks a file as ours and `PRAGMA user_version` carries the schema
version, so a file from a newer relulab, or any other SQLite file, is refused by name.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from core.errors import UserError

SCHEMA_VERSION = 1
APPLICATION_ID = 0x524C4142  # "RLAB"

# Seconds a connection waits for another writer's transaction before giving up. Writers commit
# small batches about once a second, so this only runs out when something is badly wrong.
BUSY_TIMEOUT = 30.0


class StoreError(UserError):
    """A fault of the session store or of a session file; the message is one line."""

    LONGEST = 400  # characters: SQLite quotes whole table definitions from a damaged file

    def __init__(self, message: str):
        line = " ".join(str(message).split())
        if len(line) > self.LONGEST:
            line = line[: self.LONGEST - 3] + "..."
        super().__init__(line)


TABLES = {
    # One row per session. `last` is the newest snapshot's scalars (JSON) so `list` never has to
    # read snapshot data; writer_* identify the recording process for crash detection.
    "sessions": """
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            name TEXT,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            created REAL NOT NULL,
            ended REAL,
            config TEXT,
            summary TEXT NOT NULL DEFAULT '',
            environment TEXT NOT NULL DEFAULT '{}',
            tags TEXT NOT NULL DEFAULT '[]',
            notes TEXT NOT NULL DEFAULT '',
            hidden INTEGER,
            inputs INTEGER,
            outputs INTEGER,
            array_dtype TEXT,
            initial TEXT,
            final TEXT,
            snapshots INTEGER NOT NULL DEFAULT 0,
            last TEXT,
            error TEXT,
            writer_host TEXT,
            writer_pid INTEGER,
            writer_token TEXT,
            heartbeat REAL
        )""",
    # Snapshots come in fixed-size blocks. This small table holds each block's step range and a
    # summary (first / min / max / last of every series), which is all a downsampled plot needs.
    "blocks": """
        CREATE TABLE blocks (
            session TEXT NOT NULL,
            block INTEGER NOT NULL,
            count INTEGER NOT NULL,
            step_first INTEGER NOT NULL,
            step_last INTEGER NOT NULL,
            summary BLOB NOT NULL,
            PRIMARY KEY (session, block)
        )""",
    # The full-resolution columns of each block, as raw little-endian buffers.
    "block_data": """
        CREATE TABLE block_data (
            session TEXT NOT NULL,
            block INTEGER NOT NULL,
            steps BLOB NOT NULL,
            scalars BLOB NOT NULL,
            present BLOB NOT NULL,
            c BLOB NOT NULL,
            w_norm BLOB NOT NULL,
            v BLOB NOT NULL,
            v_sign BLOB NOT NULL,
            signs TEXT NOT NULL,
            PRIMARY KEY (session, block)
        )""",
    "hops": """
        CREATE TABLE hops (
            session TEXT NOT NULL,
            step INTEGER NOT NULL,
            neuron INTEGER NOT NULL,
            c_before REAL NOT NULL,
            c_after REAL NOT NULL,
            sign_before INTEGER NOT NULL,
            sign_after INTEGER NOT NULL
        )""",
    # Parameter checkpoints: one .npy blob per array (read back with allow_pickle=False).
    "checkpoints": """
        CREATE TABLE checkpoints (
            session TEXT NOT NULL,
            step INTEGER NOT NULL,
            name TEXT NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (session, step, name)
        )""",
    # Named results of sweeps and experiments: kind 'array' (.npy bytes) or 'json' (text).
    "results": """
        CREATE TABLE results (
            session TEXT NOT NULL,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            data BLOB NOT NULL,
            PRIMARY KEY (session, name)
        )""",
}

INDEXES = {
    "hops_by_session": "CREATE INDEX hops_by_session ON hops (session, step)",
    "sessions_by_created": "CREATE INDEX sessions_by_created ON sessions (created)",
}


def connect(path: str | Path, *, uri: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode: every transaction is an explicit BEGIN ... COMMIT."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False, uri=uri)
    # Views and triggers in a file from elsewhere may not call functions with side effects.
    conn.execute("PRAGMA trusted_schema = OFF")
    return conn


def create_tables(conn: sqlite3.Connection) -> None:
    """Create the schema inside the caller's transaction and stamp the file as ours."""
    for sql in TABLES.values():
        conn.execute(sql)
    for sql in INDEXES.values():
        conn.execute(sql)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")


def columns(conn: sqlite3.Connection, table: str, schema: str = "main") -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA {schema}.table_info({table})")]


def check_ours(conn: sqlite3.Connection, what: str, schema: str = "main") -> int:
    """Raise StoreError unless the database is ours and not newer; return its schema version (0: empty)."""
    version = conn.execute(f"PRAGMA {schema}.user_version").fetchone()[0]
    app = conn.execute(f"PRAGMA {schema}.application_id").fetchone()[0]
    objects = conn.execute(f"SELECT count(*) FROM {schema}.sqlite_master").fetchone()[0]
    if version == 0 and app == 0 and objects == 0:
        return 0
    if app != APPLICATION_ID:
        raise StoreError(f"{what}: not a relulab file (an SQLite database of some other program)")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{what}: written by a newer relulab (format version {version}; this one reads up to "
            f"{SCHEMA_VERSION}): upgrade relulab to open it"
        )
    if version < 1:
        raise StoreError(f"{what}: not a relulab file (no format version)")
    return version


DB_NAME = "sessions.db"
ID_BYTES = 4  # 8 hex characters; commands accept any unique prefix


class Database:
    """A store's database file: one connection per thread, faults as one StoreError line."""

    def __init__(self, store_path: Path, readonly: bool = False):
        self.store_path = store_path
        self.path = store_path / DB_NAME
        self.readonly = readonly  # list / show / csv / export: never write, so a read-only store or a full disk still reads
        self.immutable = False  # read-only, and SQLite may not even make its shared-memory file
        self._local = threading.local()

    def connect(self) -> sqlite3.Connection:
        """A new connection of its own (the writer thread and its checkpointer each hold one)."""
        if self.readonly:
            try:
                return self._connect_readonly()
            except sqlite3.Error as e:
                raise StoreError(self.describe(e, "cannot open the session store")) from None
        try:
            conn = connect(self.path)
            # Snapshot blocks are blobs of tens of kB: large pages mean fewer overflow pages to
            # chain through and fewer writes per commit. Takes effect only on a new, empty file,
            # and only before anything is read from it.
            conn.execute("PRAGMA page_size = 65536")
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA synchronous = NORMAL")  # WAL: a crash loses nothing committed
            conn.execute(f"PRAGMA journal_size_limit = {32 << 20}")  # shrink the log after a big commit
            return conn
        except sqlite3.Error as e:
            raise StoreError(self.describe(e, "cannot open the session store")) from None

    def _connect_readonly(self) -> sqlite3.Connection:
        conn = connect(self.uri(), uri=True)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            # A WAL database on a read-only disk: SQLite cannot make the shared-memory file it
            # reads through. With no -wal file beside it, the database file holds every commit
            # and no writer can be at work (it would need that file), so it is read as it is.
            conn.close()
            if Path(f"{self.path}-wal").exists():
                raise
            self.immutable = True
            conn = connect(self.uri(), uri=True)
        conn.row_factory = sqlite3.Row
        return conn

    def uri(self) -> str:
        """The database as an SQLite URI, opened the way this Database opens it (for ATTACH)."""
        uri = self.path.resolve().as_uri()
        return uri + ("?mode=ro&immutable=1" if self.immutable else "?mode=ro" if self.readonly else "")

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (sqlite3 connections are not shared between threads here)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.connect()
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def describe(self, e: sqlite3.Error, action: str) -> str:
        """One line: the store, what was being done, and the reason in words."""
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
            reason = f"another process kept the store locked for {BUSY_TIMEOUT:g} s ({text})"
        else:
            reason = text
        return f"{self.store_path}: {action}: {reason}"

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as e:
            raise StoreError(self.describe(e, action)) from None

    @contextmanager
    def transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        db = self.conn()
        with self.errors(action):
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def init_schema(self) -> None:
        db = self.conn()
        what = str(self.path)
        with self.errors("cannot open the session store"):
            if check_ours(db, what) or self.readonly:
                return
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # lets delete hand space back; only on an empty file
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("BEGIN IMMEDIATE")
            try:
                if check_ours(db, what) == 0:  # another process may have won the race
                    create_tables(db)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @staticmethod
    def new_id(db: sqlite3.Connection) -> str:
        """A session id no session in `db` has yet (called inside a transaction)."""
        while True:
            session_id = secrets.token_hex(ID_BYTES)
            if not db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone():
                return session_id
