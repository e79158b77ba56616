"""Recording a run: snapshots are packed into blocks as they come and committed about once a second.

The work is split between the training loop's thread and a writer thread:
- `append_batch` takes the trainer's batches of snapshots as columns (`append` single Snapshots);
  once PACK snapshots are queued they are packed into blocks and encoded in the training loop,
  while they are still in the CPU cache (the trainer has just made them);
- the writer thread commits the encoded blocks about once a second in one transaction, many
  blocks per INSERT (SQLite lets go of the GIL while it writes, and every time the writer takes
  it back the training loop is interrupted), refreshes the session's heartbeat, and folds the
  write-ahead log into the database.
Packing stays in the training loop on purpose: a Python training loop holds the GIL, and a
thread packing snapshots beside it makes the two hand the GIL back and forth thousands of times
a second, which measured about twice the cost (bench/bench_store.py). A slow run (fewer than
PACK snapshots a second) is packed by the writer thread, which then has little to do.

After `kill -9` the store holds every snapshot up to the last commit, and the session reads
`interrupted` because its writer is gone (see liveness.py). A database error (a full disk) is
raised as StoreError from `append`, `append_batch`, `flush` or `finish`; what was committed before
stays intact.
"""

from __future__ import annotations

import atexit
import sqlite3
import threading
import time
from itertools import groupby
from typing import Any

import numpy as np

from core import strict_json
from core.invariants import count_pathological
from core.snapshot import Classification, Hop, Params, Snapshot, SnapshotBatch
from sessions.blocks import BLOCK, Columns, encode, encode_blocks
from sessions.liveness import HEARTBEAT_SECONDS
from sessions.db import Database, StoreError

FINAL_STATUSES = ("completed", "interrupted", "diverged", "failed")
PARAM_NAMES = ("hidden_weight", "hidden_bias", "output_weight", "output_bias")
PACK = 2 * BLOCK  # snapshots packed at a time: few enough to be still in the CPU cache
ROWS_PER_INSERT = 64  # blocks per INSERT statement (10 values each; SQLite allows 32,766)
# Disk space held back for marking a session `failed` when the disk fills up: the status update
# writes a few 64 KiB pages to the log, and a full disk has no room for even one.
RESERVE_NAME = "space-reserve"
RESERVE_BYTES = 1 << 20


def npy_bytes(array: np.ndarray) -> bytes:
    """An array as .npy bytes (format 1.0); object arrays are refused (they would need pickle).

    Written by hand for plain numeric arrays: np.save spends ~10 us on the header alone, and
    checkpoints are saved while training."""
    a = np.asarray(array)
    if a.dtype.hasobject:
        raise ValueError("object arrays cannot be stored: they would need pickle")
    if a.dtype.kind not in "biufc" or a.dtype.fields is not None:
        import io

        out = io.BytesIO()
        np.save(out, a, allow_pickle=False)
        return out.getvalue()
    a = a if a.flags.c_contiguous else a.copy(order="C")  # (ascontiguousarray would make 0-d 1-d)
    header = "{'descr': %r, 'fortran_order': False, 'shape': %r, }" % (a.dtype.str, a.shape)
    header += " " * (-(len(header) + 11) % 64) + "\n"  # the whole header a multiple of 64 bytes
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1") + a.tobytes()


def last_scalars(s: Snapshot) -> str:
    """The newest snapshot's numbers for `sessions list`, as JSON."""
    return strict_json.dumps({  # a diverged run's NaN loss is stored as null
        "step": int(s.step), "loss": float(s.loss),
        "test_loss": None if s.test_loss is None else float(s.test_loss),
        "accuracy": None if s.accuracy is None else float(s.accuracy),
        "test_accuracy": None if s.test_accuracy is None else float(s.test_accuracy),
        "max_drift": float(s.max_drift), "elapsed": float(s.elapsed),
        "signs": s.signs, "pathological": count_pathological(s.c, s.w_norm**2 + s.v**2),
    })


class SessionWriter:
    """Writes one session. Made by `Store.create_session`; use as a context manager or call `finish`."""

    def __init__(self, database: Database, session_id: str, hidden: int | None, dtype: str | None = None,
                 flush_interval: float = 1.0):
        self.database = database
        self.id = session_id
        self.flush_interval = flush_interval
        self._hidden = hidden
        self._dtype = dtype  # '<f4' or '<f8' for c, w_norm, v; None: taken from the first snapshot
        self._lock = threading.Lock()  # guards _pending and _extra_hops
        self._pending: list[Snapshot | SnapshotBatch] = []  # appended, not packed yet
        self._queued = 0  # snapshots in _pending
        self._extra_hops: list[Hop] = []  # from add_hops
        self._io = threading.Lock()  # guards the packed state below
        self._blocks: dict[int, dict] = {}  # encoded blocks waiting for a commit
        self._open: Columns | None = None  # the block being filled
        self._open_changed = False  # ... some of them not committed yet
        self._block = 0  # number of the block being filled
        self._hops: list[Hop] = []  # packed, waiting for a commit
        self._checkpoints: list[tuple] = []  # (step, name, .npy bytes), waiting for a commit
        self._inputs: int | None = None  # input features, learnt from a checkpoint
        self._last: Snapshot | None = None  # newest snapshot in an encoded block
        self._encoded = 0  # snapshots in encoded blocks: what the next commit will hold
        self._commit_lock = threading.Lock()  # one transaction at a time on self._db, in order
        self._reserve = database.store_path / RESERVE_NAME
        self._keep_reserve()
        self._db = database.connect()
        self._db.execute("PRAGMA wal_autocheckpoint = 0")  # done by the writer thread, see _run
        self._count = 0  # snapshots committed
        self._last_beat = time.time()
        self._due = time.monotonic() + flush_interval  # when the next commit is due
        self._error: BaseException | None = None
        self._closed = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"relulab-writer-{session_id}", daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)

    # -- called by the training loop -------------------------------------------------------

    def append(self, snapshot: Snapshot) -> None:
        """Record one snapshot (its hops and params with it). The writer takes ownership: don't
        modify the snapshot's arrays afterwards."""
        self._queue(snapshot, 1)

    def append_batch(self, batch: SnapshotBatch) -> None:
        """Record consecutive snapshots at once, as the trainer makes them: much cheaper per
        snapshot than `append`. The writer takes ownership of the batch's arrays."""
        if len(batch):
            self._queue(batch, len(batch))

    def _queue(self, item: Snapshot | SnapshotBatch, rows: int) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise StoreError(f"session {self.id} is finished: nothing more can be recorded")
        with self._lock:
            self._pending.append(item)
            self._queued += rows
            full = self._queued >= PACK
        if full:
            due = time.monotonic() >= self._due
            with self._io:
                self._pack(everything=due)
            if due:
                self._due = time.monotonic() + self.flush_interval
                self._wake.set()  # the writer thread commits it

    def add_hops(self, hops: list[Hop]) -> None:
        """Hops that did not come inside a snapshot's `hops` list."""
        with self._lock:
            self._extra_hops.extend(hops)

    def set_initial(self, classification: Classification) -> None:
        self._write("UPDATE sessions SET initial = ? WHERE id = ?", (strict_json.dumps(classification.to_dict()), self.id))

    def put_array(self, name: str, array: np.ndarray) -> None:
        """A named result (sweeps, experiments), stored as .npy bytes."""
        self._put(name, "array", npy_bytes(array))

    def put_json(self, name: str, obj: Any) -> None:
        self._put(name, "json", strict_json.dumps(obj).encode())

    def flush(self) -> None:
        """Commit everything recorded so far, now, in this thread."""
        if self._error is not None:
            raise self._error
        with self._io:
            self._pack(everything=True)
        self._commit(force=True)

    def finish(self, status: str = "completed", final: Classification | None = None, error: str | None = None) -> None:
        """Commit what is left and close the session with its final status (and, for a failed
        or diverged one, the reason)."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {', '.join(FINAL_STATUSES)}, not {status!r}")
        if self._closed:
            return
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self._closed = True
        atexit.unregister(self._at_exit)
        try:
            self.flush()
            final_json = strict_json.dumps(final.to_dict()) if final is not None else None
            self._write(
                "UPDATE sessions SET status = ?, ended = ?, final = coalesce(?, final), error = coalesce(?, error) "
                "WHERE id = ?",
                (status, time.time(), final_json, error, self.id),
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

    # -- the writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        """Commit what the loop packed when it says a batch is due (about once a second); pack
        and commit for a loop that has stopped appending; heartbeat; checkpoint."""
        tick = min(0.25, self.flush_interval)
        checkpointer = self.database.connect()  # its own connection: never waits behind a commit
        try:
            while not self._stop.is_set():
                woken = self._wake.wait(tick)  # by the training loop: a batch is due
                self._wake.clear()
                if self._stop.is_set():
                    return
                if not woken and time.monotonic() > self._due + tick:  # the loop has not packed for a while
                    with self._io:
                        self._pack(everything=True)
                    self._due = time.monotonic() + self.flush_interval
                    woken = True
                # One transaction a second keeps the GIL hand-overs with the training loop rare.
                if self._commit(force=woken):
                    try:  # PASSIVE: copies what it can without blocking the writer or any reader
                        checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    except sqlite3.Error:
                        pass  # retried after the next commit; the data is safe in the log
        except BaseException as e:  # surfaces in the training loop at the next append
            self._error = self._error or e
        finally:
            checkpointer.close()

    def _at_exit(self) -> None:
        """The program is ending without `finish`: save what is queued; the session reads interrupted."""
        if not self._closed and self._error is None:
            try:
                self.finish("interrupted")
            except Exception:
                pass

    # -- packing and committing ---------------------------------------------------------------

    def _pack(self, everything: bool = False) -> None:
        """Encode the full blocks among the appended snapshots (the caller holds self._io); with
        `everything`, also the block being filled, for a commit."""
        with self._lock:
            items, self._pending, self._queued = self._pending, [], 0
        if items:
            try:
                cols = self._columns(items)
                full = len(cols) // BLOCK * BLOCK
                if full:
                    for blob in encode_blocks(cols.slice(0, full)):
                        self._blocks[self._block] = blob
                        self._block += 1
                    self._encoded, self._last = self._block * BLOCK, cols.snapshot(full - 1)
                self._open = cols.slice(full) if full < len(cols) else None
                self._open_changed = self._open is not None
            except Exception as e:
                self._error = ValueError(f"session {self.id}: a snapshot does not fit this session: {e}")
                raise self._error from e
        if everything and self._open_changed:
            self._blocks[self._block] = encode(self._open)
            self._encoded, self._last = self._block * BLOCK + len(self._open), self._open.snapshot(len(self._open) - 1)
            self._open_changed = False

    def _columns(self, items: list[Snapshot | SnapshotBatch]) -> Columns:
        """The block being filled and the appended items as one set of columns; their hops and
        checkpoints queued for the next commit."""
        first = items[0]
        if self._hidden is None:
            self._hidden = np.shape(first.c)[-1]
        if self._dtype is None:
            self._dtype = "<f4" if np.asarray(first.c).dtype == np.float32 else "<f8"
        parts = [] if self._open is None else [self._open]
        params: list[tuple[int, Params]] = []
        # Single snapshots in a row are stacked together; batches are columns already.
        for single, group in groupby(items, key=lambda item: isinstance(item, Snapshot)):
            if single:
                group = list(group)
                parts.append(Columns.from_snapshots(group, self._hidden, self._dtype))
                self._hops += [h for s in group if s.hops for h in s.hops]
                params += [(s.step, s.params) for s in group if s.params is not None]
            else:
                for batch in group:
                    parts.append(Columns.from_batch(batch, self._hidden, self._dtype))
                    self._hops += batch.hops
                    params += batch.params.items()
        for step, p in params:
            arrays = {n: getattr(p, n) for n in PARAM_NAMES if getattr(p, n) is not None}
            self._checkpoints += [(int(step), n, npy_bytes(a)) for n, a in arrays.items()]
            self._inputs = self._inputs or np.shape(p.hidden_weight)[1]
        return Columns.concat(parts)

    def _commit(self, force: bool = False) -> bool:
        """Commit what has been packed, if `force` or the heartbeat is due; True if it did."""
        with self._commit_lock:
            now = time.time()
            if not force and now - self._last_beat < HEARTBEAT_SECONDS:
                return False
            with self._io:
                with self._lock:
                    self._hops += self._extra_hops
                    self._extra_hops = []
                blocks, hops, checkpoints = self._blocks, self._hops, self._checkpoints
                self._blocks, self._hops, self._checkpoints = {}, [], []
                encoded, last, inputs = self._encoded, self._last, self._inputs
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._insert(blocks, hops, checkpoints)
                self._db.execute(
                    "UPDATE sessions SET snapshots = ?, last = coalesce(?, last), heartbeat = ?, "
                    "hidden = coalesce(hidden, ?), array_dtype = coalesce(array_dtype, ?), "
                    "inputs = coalesce(inputs, ?) WHERE id = ?",
                    (encoded, last_scalars(last) if last else None, now, self._hidden, self._dtype, inputs, self.id),
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                self._error = self._fault(e)  # the writer stops here; every later call repeats this
                raise self._error from None
            self._count = encoded
            self._last_beat = now
            return True

    def _insert(self, blocks: dict[int, dict], hops: list[Hop], checkpoints: list[tuple]) -> None:
        # Many rows per statement: sqlite3 lets go of the GIL once per statement step, and every
        # time it takes the GIL back the training loop is interrupted (bench/bench_store.py).
        rows = list(blocks.items())
        for start in range(0, len(rows), ROWS_PER_INSERT):
            chunk = rows[start:start + ROWS_PER_INSERT]
            self._db.execute(
                "INSERT OR REPLACE INTO blocks (session, block, count, step_first, step_last, summary) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk)),
                [x for block, b in chunk for x in (self.id, block, b["count"], b["step_first"], b["step_last"],
                                                    b["summary"])],
            )
            self._db.execute(
                "INSERT OR REPLACE INTO block_data (session, block, steps, scalars, present, c, w_norm, v, v_sign, "
                "signs) VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk)),
                [x for block, b in chunk for x in (self.id, block, b["steps"], b["scalars"], b["present"], b["c"],
                                                    b["w_norm"], b["v"], b["v_sign"], b["signs"])],
            )
        self._db.executemany(
            "INSERT INTO hops (session, step, neuron, c_before, c_after, sign_before, sign_after) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(self.id, int(h.step), int(h.neuron), float(h.c_before), float(h.c_after),
              int(h.sign_before), int(h.sign_after)) for h in hops],
        )
        self._db.executemany(
            "INSERT OR REPLACE INTO checkpoints (session, step, name, data) VALUES (?, ?, ?, ?)",
            [(self.id, *c) for c in checkpoints],
        )

    def _put(self, name: str, kind: str, data: bytes) -> None:
        self._write(
            "INSERT OR REPLACE INTO results (session, name, kind, data) VALUES (?, ?, ?, ?)", (self.id, name, kind, data)
        )

    def _write(self, sql: str, params: tuple) -> None:
        with self._commit_lock:
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
        error = self.database.describe(e, f"session {self.id}: could not save")
        error = StoreError(f"{error}; the {self._count} snapshots saved before are intact")
        mark = "UPDATE sessions SET status = 'failed', ended = ?, error = ? WHERE id = ?"
        try:
            self._db.execute(mark, (time.time(), str(error), self.id))
        except sqlite3.Error:
            # A full disk: give back the reserve kept for this moment, then try once more.
            try:
                self._reserve.unlink(missing_ok=True)
                self._db.execute(mark, (time.time(), str(error), self.id))
            except (OSError, sqlite3.Error):
                pass  # still refused: the dead writer then reads as interrupted
        return error

    def _keep_reserve(self) -> None:
        """Hold RESERVE_BYTES of disk in a file beside the store, so that when the disk fills up
        there is room left to mark the session `failed` with the reason."""
        try:
            if not self._reserve.exists() or self._reserve.stat().st_size < RESERVE_BYTES:
                with open(self._reserve, "wb") as f:
                    f.write(bytes(RESERVE_BYTES))  # real bytes, not a sparse file: the space is taken
        except OSError:
            pass  # a disk already full; the session is recorded all the same
