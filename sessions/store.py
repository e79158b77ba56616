"""The session store: a directory holding one SQLite database in WAL mode.

WAL lets one process record a run while others list and replay it, and lets two runs record
into the same store at once (each commit waits its turn on the busy timeout). Every SQLite fault
reaches the user as one StoreError line naming the store.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from core import strict_json
from core.config import Config, config_to_toml, summary
from sessions import liveness
from sessions.db import TABLES, Database, StoreError
from sessions.info import INFO_COLUMNS, KINDS, STATUSES, SessionInfo, info_from_row, live_status
from sessions.reader import Session
from sessions.transfer import export_session, import_session
from sessions.writer import SessionWriter

__all__ = ["Store", "open_store", "default_store_path", "SessionInfo", "STATUSES", "KINDS", "StoreError"]



def default_store_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("relulab")) / "sessions"


def open_store(path: str | os.PathLike | None = None, readonly: bool = False) -> "Store":
    """The store named by `path` (--store), else $RELULAB_STORE, else the user data directory.
    `readonly` for commands that only read: they then work on a read-only store or a full disk."""
    chosen = path or os.environ.get("RELULAB_STORE") or default_store_path()
    return Store(chosen, readonly=readonly)


class Store:
    """A directory of recorded sessions. Safe to use from several threads and processes."""

    def __init__(self, path: str | os.PathLike, readonly: bool = False):
        self.path = Path(path).expanduser()
        self.db = Database(self.path, readonly=readonly)
        self.db_path = self.db.path
        self.empty = False  # a read-only store that has no database yet: nothing to read
        if readonly:
            self.empty = not self.db_path.is_file()
            existing = next(p for p in (self.path, *self.path.parents) if p.exists())
            if not existing.is_dir():
                raise StoreError(f"{self.path}: cannot open the session store: {existing} is not a directory")
            if not self.empty:
                self.db.init_schema()
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"{self.path}: cannot create the session store: {e.strerror or e}") from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise StoreError(f"{self.path}: the session store is not writable")
        self.db.init_schema()

    def close(self) -> None:
        self.db.close()

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
        env.setdefault("provenance", provenance(config))
        hidden = config.model.hidden if config is not None else None
        outputs = config.model.outputs if config is not None else None
        inputs = _inputs(config, env)
        pid = os.getpid()
        name = check_name(name) if name is not None else None
        with self.db.transaction("cannot create a session") as db:
            self._refuse_taken(db, name)
            session_id = self.db.new_id(db)
            db.execute(
                "INSERT INTO sessions (id, name, kind, status, created, config, summary, environment, tags, hidden, "
                "inputs, outputs, writer_host, writer_pid, writer_token, heartbeat) "
                "VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, name, kind, time.time(), config_to_toml(config) if config is not None else None,
                 (summary(config) if config else ""), strict_json.dumps(env), strict_json.dumps(_clean_tags(tags)), hidden,
                 inputs, outputs, liveness.this_host(), pid, liveness.process_token(pid), time.time()),
            )
        # Per-neuron series keep the run's precision: a float32 run's c_k has no more digits than
        # float32 holds (its sign always survives), and it halves what a long run costs on disk.
        dtype = None if config is None else "<f4" if config.train.dtype == "float32" else "<f8"
        return SessionWriter(self.db, session_id, hidden, dtype, flush_interval=flush_interval)

    def delete(self, id_or_prefix: str) -> str:
        session_id = self.resolve(id_or_prefix)
        with self.db.transaction(f"cannot delete session {session_id}") as db:
            row = db.execute(f"SELECT {INFO_COLUMNS} FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if live_status(row) == "running":
                raise StoreError(f"session {session_id} is still being recorded (pid {row['writer_pid']} on "
                                 f"{row['writer_host']}): stop that run first")
            for table in TABLES:
                key = "id" if table == "sessions" else "session"
                db.execute(f"DELETE FROM {table} WHERE {key} = ?", (session_id,))
        with self.db.errors("cannot reclaim space"):
            self.db.conn().execute("PRAGMA incremental_vacuum")
        return session_id

    def rename(self, id_or_prefix: str, name: str | None) -> str:
        session_id = self.resolve(id_or_prefix)
        name = check_name(name) if name else None
        with self.db.transaction("cannot rename") as db:
            self._refuse_taken(db, name, session_id)
            db.execute("UPDATE sessions SET name = ? WHERE id = ?", (name or None, session_id))
        return session_id

    def _refuse_taken(self, db, name: str | None, session_id: str | None = None) -> None:
        if name is None:
            return
        row = db.execute("SELECT id FROM sessions WHERE name = ? AND id IS NOT ?", (name, session_id)).fetchone()
        if row is not None:
            raise StoreError(f"session name {name!r} is taken by session {row[0]}: names are unique in a store")

    def name_taken(self, name: str) -> str | None:
        """The id of the session called `name`, if any (to refuse a name before a long job)."""
        with self.db.errors("cannot look up sessions"):
            row = self.db.conn().execute("SELECT id FROM sessions WHERE name = ?", (check_name(name),)).fetchone()
        return row[0] if row is not None else None

    def free_name(self, base: str) -> str:
        """`base`, or `base (2)`, `base (3)`, ...: the first that no session has (for default names)."""
        base = check_name(base)
        with self.db.errors("cannot look up sessions"):
            taken = {r[0] for r in self.db.conn().execute(
                "SELECT name FROM sessions WHERE name = ? OR name LIKE ?", (base, base + " (%)"))}
        n = 1
        while (candidate := base if n == 1 else f"{base} ({n})") in taken:
            n += 1
        return candidate

    def tag(self, id_or_prefix: str, tags: list[str], remove: bool = False) -> list[str]:
        """Add (or remove) tags; returns the session's tags afterwards."""
        session_id = self.resolve(id_or_prefix)
        with self.db.transaction("cannot tag") as db:
            try:
                current = strict_json.loads(db.execute("SELECT tags FROM sessions WHERE id = ?", (session_id,)).fetchone()[0])
            except (ValueError, TypeError):
                current = []  # a damaged tag list: the new tags replace it
            wanted = _clean_tags(tags)
            if remove:
                current = [t for t in current if t not in wanted]
            else:
                current += [t for t in wanted if t not in current]
            db.execute("UPDATE sessions SET tags = ? WHERE id = ?", (strict_json.dumps(current), session_id))
        return current

    def note(self, id_or_prefix: str, text: str, replace: bool = False) -> str:
        """Append a paragraph to the session's notes (or replace them); returns the notes."""
        session_id = self.resolve(id_or_prefix)
        with self.db.transaction("cannot save the note") as db:
            notes = db.execute("SELECT notes FROM sessions WHERE id = ?", (session_id,)).fetchone()[0]
            notes = text if replace or not notes else f"{notes}\n\n{text}"
            db.execute("UPDATE sessions SET notes = ? WHERE id = ?", (notes, session_id))
        return notes

    # -- reading ------------------------------------------------------------------------------

    def list(self, tag: str | None = None, status: str | None = None) -> list[SessionInfo]:
        """Sessions newest first, optionally only those with a tag and/or a status."""
        if self.empty:
            return []
        with self.db.errors("cannot list sessions"):
            rows = self.db.conn().execute(f"SELECT {INFO_COLUMNS} FROM sessions ORDER BY created DESC, id").fetchall()
        infos = [info_from_row(r) for r in rows]
        return [i for i in infos if (tag is None or tag in i.tags) and (status is None or i.status == status)]

    def resolve(self, id_or_prefix: str) -> str:
        """The full id of a session given a unique id prefix (or its exact name)."""
        text = str(id_or_prefix).strip()
        if self.empty:
            raise StoreError(f"no session {text!r} in {self.path} ('relulab sessions list' shows the ids)")
        with self.db.errors("cannot look up sessions"):
            db = self.db.conn()
            matches = []
            if ID_LIKE.fullmatch(text):
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
        session_id = self.resolve(id_or_prefix)
        with self.db.errors(f"cannot read session {session_id}"):
            row = self.db.conn().execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            raise StoreError(f"session {session_id} was deleted meanwhile")
        return Session(self.db, row)

    # -- files --------------------------------------------------------------------------------

    def export(self, id_or_prefix: str, path: str | os.PathLike) -> Path:
        """Write one session into a single self-contained file (see transfer.py)."""
        return export_session(self.db, self.resolve(id_or_prefix), Path(path))

    def import_(self, path: str | os.PathLike) -> str:
        """Add the session in an export file to this store; returns its id here. A name that is
        taken here (or reads as an id) gets a suffix, so names stay unique."""
        session_id = import_session(self.db, Path(path))
        with self.db.errors("cannot look up sessions"):
            row = self.db.conn().execute("SELECT name FROM sessions WHERE id = ?", (session_id,)).fetchone()
        name = row[0] if row is not None else None
        if name:
            try:
                wanted = check_name(name)
            except StoreError:
                # Not a name this store would accept (only hex digits, control characters, too
                # long): kept readable, with what cannot be printed as '?'.
                shown = "".join(ch if ch.isprintable() else "?" for ch in str(name))
                wanted = f"imported {shown}"[:200].strip()
            with self.db.errors("cannot look up sessions"):
                clash = self.db.conn().execute("SELECT 1 FROM sessions WHERE name = ? AND id != ?",
                                               (wanted, session_id)).fetchone()
            if clash or wanted != name:
                with self.db.transaction("cannot rename the imported session") as db:
                    db.execute("UPDATE sessions SET name = NULL WHERE id = ?", (session_id,))
                self.rename(session_id, self.free_name(wanted))
        return session_id


ID_LIKE = re.compile(r"[0-9a-fA-F]{1,32}")


def check_name(name: str) -> str:
    """A session name as stored: stripped, not empty, and not something `resolve` would read as
    an id prefix (only hex digits), so a name always reaches its session."""
    text = str(name).strip()
    if not text:
        raise StoreError("a session name cannot be empty (give no name instead)")
    if ID_LIKE.fullmatch(text):
        raise StoreError(f"session name {text!r}: must not be only hex digits (0-9, a-f), "
                         "which read as an id prefix; add a word, e.g. 'run-" + text + "'")
    if len(text) > 200 or any(not ch.isprintable() for ch in text):
        raise StoreError(f"session name {text[:40]!r}: must be one line of at most 200 printable characters")
    return text


def provenance(config: Config | None) -> dict:
    """Which code ran, and on which data: recorded with every session (docs/sessions.md)."""
    from core.provenance import code_version

    out = dict(code_version())
    if config is not None:
        from core.data import data_fingerprint
        from core.errors import UserError

        try:
            out["data"] = data_fingerprint(config)
        except UserError as e:
            out["data"] = {"path": config.data.path, "error": str(e)}
    return out


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
