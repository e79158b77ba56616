"""Recording a run: snapshots are buffered in memory and committed about once a second.

`append` only puts the snapshot on a list, so the training loop pays next to nothing. A
background thread commits whatever has accumulated every `flush_interval` seconds in one
transaction, and refreshes the session's heartbeat. After `kill -9` the store holds every
snapshot up to the last commit; the session reads `interrupted` because its writer is gone
(see liveness.py). A database error in the thread (a full disk) is raised as StoreError from
the next `append` or `finish`; everything committed before it stays intact.
"""

from __future__ import annotations

import atexit
import io
import json
import sqlite3
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from core.snapshot import Classification, Hop, Snapshot
from sessions.blocks import BLOCK, Columns, encode
from sessions.liveness import HEARTBEAT_SECONDS
from sessions.schema import StoreError

if TYPE_CHECKING:
    from sessions.store import Store

FINAL_STATUSES = ("completed", "interrupted", "diverged", "failed")


def npy_bytes(array: np.ndarray) -> bytes:
    """An array as .npy bytes; object arrays are refused (they would need pickle)."""
    out = io.BytesIO()
    np.save(out, np.asarray(array), allow_pickle=False)
    return out.getvalue()


def last_scalars(s: Snapshot) -> str:
    """The newest snapshot's numbers for `sessions list`, as JSON."""
    return json.dumps({
        "step": int(s.step), "loss": float(s.loss),
        "test_loss": None if s.test_loss is None else float(s.test_loss),
        "accuracy": None if s.accuracy is None else float(s.accuracy),
        "test_accuracy": None if s.test_accuracy is None else float(s.test_accuracy),
        "max_drift": float(s.max_drift), "elapsed": float(s.elapsed),
        "signs": s.signs, "pathological": len(s.signs),
    })


class SessionWriter:
    """Writes one session. Made by `Store.create_session`; use as a context manager or call `finish`."""

    def __init__(self, store: "Store", session_id: str, hidden: int | None, dtype: str | None = None,
                 flush_interval: float = 1.0):
        self.store = store
        self.id = session_id
        self.flush_interval = flush_interval
        self._db = store._connect()
        self._hidden = hidden
        self._dtype = dtype  # '<f4' or '<f8' for c, w_norm, v; None: taken from the first snapshot
        self._pending: list[Snapshot] = []
        self._pending_hops: list[Hop] = []
        self._lock = threading.Lock()  # guards the pending lists
        self._io = threading.Lock()  # one transaction at a time on self._db
        self._tail: Columns | None = None  # the newest, not yet full block (already committed)
        self._tail_block = 0  # block number the tail (or the next new block) gets
        self._count = 0  # snapshots committed
        self._last_beat = time.time()
        self._error: BaseException | None = None
        self._closed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"relulab-writer-{session_id}", daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)

    # -- called by the training loop -------------------------------------------------------

    def append(self, snapshot: Snapshot) -> None:
        """Queue one snapshot (its hops and params with it). The writer takes ownership: don't
        modify its arrays afterwards."""
        if self._error is not None:
            raise self._error
        if self._closed:
            raise StoreError(f"session {self.id} is finished: nothing more can be recorded")
        with self._lock:
            self._pending.append(snapshot)

    def add_hops(self, hops: list[Hop]) -> None:
        """Hops that did not come inside a snapshot's `hops` list."""
        with self._lock:
            self._pending_hops.extend(hops)

    def set_initial(self, classification: Classification) -> None:
        self._write("UPDATE sessions SET initial = ? WHERE id = ?", (json.dumps(classification.to_dict()), self.id))

    def put_array(self, name: str, array: np.ndarray) -> None:
        """A named result (sweeps, experiments), stored as .npy bytes."""
        self._put(name, "array", npy_bytes(array))

    def put_json(self, name: str, obj: Any) -> None:
        self._put(name, "json", json.dumps(obj).encode())

    def flush(self) -> None:
        """Commit everything queued so far (the thread does this every flush_interval anyway)."""
        if self._error is not None:
            raise self._error
        self._flush(force=True)

    def finish(self, status: str = "completed", final: Classification | None = None) -> None:
        """Commit what is left and close the session with its final status."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {', '.join(FINAL_STATUSES)}, not {status!r}")
        if self._closed:
            return
        self._stop.set()
        self._thread.join()
        self._closed = True
        atexit.unregister(self._at_exit)
        try:
            if self._error is not None:
                raise self._error
            self._flush(force=True)
            final_json = json.dumps(final.to_dict()) if final is not None else None
            self._write(
                "UPDATE sessions SET status = ?, ended = ?, final = coalesce(?, final) WHERE id = ?",
                (status, time.time(), final_json, self.id),
            )
        finally:
            self._db.close()

    def __enter__(self) -> "SessionWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if self._closed:
            return
        if kind is None:
            self.finish("completed")
        elif issubclass(kind, KeyboardInterrupt):
            self.finish("interrupted")
        else:
            try:
                self.finish("failed")
            except StoreError:
                pass  # the original exception is the story

    @property
    def count(self) -> int:
        """Snapshots committed so far."""
        return self._count

    # -- the background thread ----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self._flush()
            except BaseException as e:  # surfaces in the training loop at the next append
                self._error = self._error or e
                return

    def _at_exit(self) -> None:
        """The program is ending without `finish`: save what is queued; the session reads interrupted."""
        if not self._closed and self._error is None:
            self._stop.set()
            self._thread.join()
            try:
                self.finish("interrupted")
            except Exception:
                pass

    def _flush(self, force: bool = False) -> None:
        with self._io:  # the thread and flush()/finish() must not pack the same tail twice
            with self._lock:
                snaps, self._pending = self._pending, []
                hops, self._pending_hops = self._pending_hops, []
            now = time.time()
            if not snaps and not hops and not force and now - self._last_beat < HEARTBEAT_SECONDS:
                return
            try:
                blocks, new_tail, new_tail_block, params = self._pack(snaps)
            except Exception as e:
                self._error = ValueError(f"session {self.id}: a snapshot does not fit this session: {e}")
                raise self._error from e
            hops = hops + [h for s in snaps for h in s.hops]
            count = self._count + len(snaps)
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._insert(blocks, hops, params)
                inputs = params[0][1]["hidden_weight"].shape[1] if params else None
                self._db.execute(
                    "UPDATE sessions SET snapshots = ?, last = coalesce(?, last), heartbeat = ?, "
                    "hidden = coalesce(hidden, ?), array_dtype = coalesce(array_dtype, ?), "
                    "inputs = coalesce(inputs, ?) WHERE id = ?",
                    (count, last_scalars(snaps[-1]) if snaps else None, now, self._hidden, self._dtype,
                     inputs, self.id),
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                self._error = self._fault(e)  # the writer stops here; every later call repeats this
                raise self._error from None
            self._tail, self._tail_block, self._count = new_tail, new_tail_block, count
            self._last_beat = now

    def _insert(self, blocks: list, hops: list[Hop], params: list) -> None:
        for block, cols in blocks:
            blob = encode(cols)
            self._db.execute(
                "INSERT OR REPLACE INTO blocks (session, block, count, step_first, step_last, summary) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (self.id, block, len(cols), int(cols.step[0]), int(cols.step[-1]), blob["summary"]),
            )
            self._db.execute(
                "INSERT OR REPLACE INTO block_data (session, block, steps, scalars, present, c, w_norm, v, "
                "v_sign, signs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self.id, block, blob["steps"], blob["scalars"], blob["present"], blob["c"],
                 blob["w_norm"], blob["v"], blob["v_sign"], blob["signs"]),
            )
        self._db.executemany(
            "INSERT INTO hops (session, step, neuron, c_before, c_after, sign_before, sign_after) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(self.id, int(h.step), int(h.neuron), float(h.c_before), float(h.c_after),
              int(h.sign_before), int(h.sign_after)) for h in hops],
        )
        for step, arrays in params:
            self._db.executemany(
                "INSERT OR REPLACE INTO checkpoints (session, step, name, data) VALUES (?, ?, ?, ?)",
                [(self.id, step, name, npy_bytes(a)) for name, a in arrays.items()],
            )

    def _pack(self, snaps: list[Snapshot]):
        """Cut the committed tail plus new snapshots into blocks of BLOCK; returns the blocks to
        write, the new tail (or None when the last block is full) and its block number."""
        params = [(int(s.step), s.params.to_arrays()) for s in snaps if s.params is not None]
        if not snaps:
            return [], self._tail, self._tail_block, params
        if self._hidden is None:
            self._hidden = len(snaps[0].c)
        if self._dtype is None:
            self._dtype = "<f4" if np.asarray(snaps[0].c).dtype == np.float32 else "<f8"
        new = Columns.from_snapshots(snaps, self._hidden, self._dtype)
        blocks = []
        if self._tail is not None:  # top up the partial block first; only that much is copied
            room = BLOCK - len(self._tail)
            blocks.append((self._tail_block, Columns.concat([self._tail, new.slice(0, room)])))
            new = new.slice(room)
        first = self._tail_block + len(blocks)
        blocks += [(first + k, new.slice(i, i + BLOCK)) for k, i in enumerate(range(0, len(new), BLOCK))]
        last_block, last = blocks[-1]
        if len(last) < BLOCK:
            return blocks, last, last_block, params
        return blocks, None, last_block + 1, params

    def _put(self, name: str, kind: str, data: bytes) -> None:
        self._write(
            "INSERT OR REPLACE INTO results (session, name, kind, data) VALUES (?, ?, ?, ?)", (self.id, name, kind, data)
        )

    def _write(self, sql: str, params: tuple) -> None:
        with self._io:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(sql, params)
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                raise self._fault(e) from None

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _fault(self, e: sqlite3.Error) -> StoreError:
        """Describe a database error, and mark the session failed if the database still lets us."""
        error = self.store._describe(e, f"session {self.id}: could not save")
        error = StoreError(f"{error}; the {self._count} snapshots saved before are intact")
        try:
            self._db.execute(
                "UPDATE sessions SET status = 'failed', ended = ?, error = ? WHERE id = ?", (time.time(), str(error), self.id)
            )
        except sqlite3.Error:
            pass  # a full disk may refuse even this; the dead writer then reads as interrupted
        return error
