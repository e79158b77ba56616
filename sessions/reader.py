"""Reading a session back: metadata, series for plots, snapshots for replay, classification.

Every read is a short query, so a session still being recorded can be read at the same time:
what is returned is what the writer had committed at that moment.
"""

from __future__ import annotations

import dataclasses

import io
import math
import sqlite3
from typing import Any, Iterator

import numpy as np

from core import strict_json
from core.config import config_from_toml
from core.errors import UserError
from core.snapshot import Classification, Hop, Params, Snapshot
from sessions.blocks import BLOCK, DTYPES, NEURON, SCALARS, BlockError, Columns, decode, decode_summaries, downsample
from sessions.db import Database, StoreError
from sessions.info import MAX_FEATURES, SessionInfo, info_from_row

REPLAY_BATCH = 8  # blocks per query while replaying
# A downsampled series reads every snapshot while there are at most this many (snapshot, neuron)
# cells (~100 MB at float32), and only the block summaries beyond: fast at any length.
RAW_CELLS = 8_000_000


def load_npy(data: bytes, what: str) -> np.ndarray:
    """An array from .npy bytes, never unpickling anything, and never allocating more than the
    bytes hold: the header's declared shape is checked against the data's length first (a file
    from elsewhere may declare 10^12 elements in a few bytes)."""
    from numpy.lib import format as npy

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise StoreError(f"{what}: not an array (no bytes)")
    stream = io.BytesIO(data)
    try:
        version = npy.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = npy.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = npy.read_array_header_2_0(stream)
        else:
            raise ValueError(f".npy format version {version[0]}.{version[1]}")
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as e:
        raise StoreError(f"{what}: not a plain numeric array ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields is not None:
        raise StoreError(f"{what}: holds {dtype} values, not plain numbers")
    if any(n < 0 for n in shape):
        raise StoreError(f"{what}: damaged array: its header declares shape {shape}")
    declared = math.prod(shape) * dtype.itemsize
    available = len(data) - stream.tell()
    if declared != available:
        raise StoreError(f"{what}: damaged array: its header declares shape {shape} "
                         f"({declared:,} bytes) but {available:,} bytes follow")
    flat = np.frombuffer(data, dtype=dtype, offset=stream.tell())
    return flat.reshape(shape, order="F" if fortran else "C").copy()


def _classification(text: str | None) -> Classification | None:
    if text is None:
        return None
    value = strict_json.loads(text)
    if not isinstance(value, dict):
        raise TypeError("a classification is not a JSON object")
    return Classification.from_dict(value)


class Session:
    """A recorded session. Made by `Store.load`."""

    def __init__(self, database: Database, row: sqlite3.Row):
        self.database = database
        self.id: str = row["id"]
        self.info: SessionInfo = info_from_row(row)
        where = f"session {self.id}"
        if self.info.damaged:
            raise StoreError(f"{where} is damaged ({self.info.damaged}); "
                             f"'relulab sessions delete {self.id}' removes it")
        try:
            self.config = config_from_toml(row["config"], where) if row["config"] else None
            self.environment: dict = strict_json.loads(row["environment"])
            if not isinstance(self.environment, dict):
                raise TypeError("environment is not a JSON object")
            self.initial = _classification(row["initial"])
            self.final = _classification(row["final"])
            for field in ("inputs", "outputs"):
                value = row[field]
                if value is not None and not (isinstance(value, int) and 1 <= value <= MAX_FEATURES):
                    raise ValueError(f"{field} = {str(value)[:30]} is not a count up to {MAX_FEATURES:,}")
            if row["array_dtype"] not in (None, *DTYPES):
                raise ValueError(f"array_dtype = {str(row['array_dtype'])[:20]!r}")
            if not isinstance(row["notes"], str):
                raise TypeError("notes are not text")
        except UserError as e:
            raise StoreError(f"{where}: stored config is not valid: {e}") from None
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as e:
            raise StoreError(f"{where} is damaged ({e}); 'relulab sessions delete {self.id}' removes it") from None
        self.notes: str = row["notes"]
        self.hidden: int | None = row["hidden"]
        self.inputs: int | None = row["inputs"]
        self.outputs: int | None = row["outputs"]
        self.dtype: str | None = row["array_dtype"]
        self.hops: list[Hop] = self._hops()

    # The SessionInfo fields, for convenience.
    name = property(lambda self: self.info.name)
    status = property(lambda self: self.info.status)
    created = property(lambda self: self.info.created)
    ended = property(lambda self: self.info.ended)
    kind = property(lambda self: self.info.kind)
    tags = property(lambda self: self.info.tags)

    def __len__(self) -> int:
        """Snapshots committed when the session was loaded."""
        return self.info.snapshots

    def to_dict(self) -> dict:
        """Everything `sessions show --json` prints."""
        from core.config import config_to_dict

        return {
            **self.info.to_dict(),
            "config": config_to_dict(self.config) if self.config else None,
            "environment": self.environment,
            "initial": self.initial.to_dict() if self.initial else None,
            "classification": self.final.to_dict() if self.final else None,
            "hops": [h.to_dict() for h in self.hops],
            "checkpoints": self.checkpoint_steps(),
            "results": self.result_names(),
            "notes": self.notes,
        }

    # -- queries --------------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self.database.errors(f"cannot read session {self.id}"):
            return self.database.conn().execute(sql, params).fetchall()

    def _hops(self) -> list[Hop]:
        rows = self._query(
            "SELECT step, neuron, c_before, c_after, sign_before, sign_after FROM hops WHERE session = ? "
            "ORDER BY step, rowid", (self.id,))
        return [Hop(*tuple(r)) for r in rows]

    def _decode(self, row: sqlite3.Row) -> Columns:
        try:
            return decode(row, row["count"], self.hidden, self.dtype)
        except BlockError as e:
            raise StoreError(f"session {self.id}: block {row['block']} is damaged ({e})") from None

    def _blocks(self, first: int = 0, limit: int = -1) -> list[Columns]:
        rows = self._query(
            "SELECT b.block, b.count, d.* FROM blocks b JOIN block_data d ON d.session = b.session AND d.block = b.block "
            "WHERE b.session = ? AND b.block >= ? ORDER BY b.block LIMIT ?", (self.id, first, limit))
        return [self._decode(r) for r in rows]

    # -- series for plots -----------------------------------------------------------------------

    def series(self, max_points: int | None = None, raw_cells: int = RAW_CELLS) -> dict[str, np.ndarray]:
        """Every series by step: step, loss, test_loss, accuracy, test_accuracy, max_drift, elapsed
        (n,) and c, w_norm, v (n, hidden). With `max_points`, at most that many points, each
        bucket of steps keeping its minimum and maximum (see blocks.downsample). Beyond RAW_CELLS
        only block summaries are read: then at most two points per block of BLOCK snapshots
        (`raw_cells` lowers that bound for a caller that reads many sessions at once)."""
        if max_points is not None and max_points < 2:
            raise ValueError("max_points must be at least 2")
        if not self.hidden or not self.dtype:
            return self._as_series(np.zeros(0, np.int64), np.zeros((0, len(SCALARS))),
                                   np.zeros((0, len(NEURON), self.hidden or 0)))
        total = self._query("SELECT coalesce(sum(count), 0) FROM blocks WHERE session = ?", (self.id,))[0][0]
        if max_points and total > max_points and total * self.hidden > raw_cells:
            # A long run: the block summaries are all we read. At most two points per block,
            # so a plot may get fewer points than it asked for.
            rows = self._query(
                "SELECT step_first, step_last, summary FROM blocks WHERE session = ? ORDER BY block", (self.id,))
            try:
                scalars, neuron = decode_summaries([r["summary"] for r in rows], self.hidden, self.dtype)
            except BlockError as e:
                raise StoreError(f"session {self.id}: {e}") from None
            first = np.array([r["step_first"] for r in rows], np.int64)
            last = np.array([r["step_last"] for r in rows], np.int64)
            groups = min(max_points // 2, len(rows))
            steps, s = downsample(first, last, *(scalars[:, k] for k in range(4)), groups)
            _, n = downsample(first, last, *(neuron[:, k] for k in range(4)), groups)
            return self._as_series(steps, s, n)
        blocks = self._blocks()
        if not blocks:
            return self.series_empty()
        cols = Columns.concat(blocks)
        neuron = np.stack([cols.c, cols.w_norm, cols.v], axis=1)
        if not max_points or len(cols) <= max_points:
            return self._as_series(cols.step, cols.scalars, neuron)
        groups = max_points // 2
        steps, s = downsample(cols.step, cols.step, cols.scalars, cols.scalars, cols.scalars, cols.scalars, groups)
        _, n = downsample(cols.step, cols.step, neuron, neuron, neuron, neuron, groups)
        return self._as_series(steps, s, n)

    def series_empty(self) -> dict[str, np.ndarray]:
        return self._as_series(np.zeros(0, np.int64), np.zeros((0, len(SCALARS))),
                               np.zeros((0, len(NEURON), self.hidden or 0)))

    @staticmethod
    def _as_series(steps: np.ndarray, scalars: np.ndarray, neuron: np.ndarray) -> dict[str, np.ndarray]:
        out = {"step": steps}
        out.update({name: scalars[:, k] for k, name in enumerate(SCALARS)})
        out.update({name: neuron[:, k] for k, name in enumerate(NEURON)})
        return out

    # -- replay ---------------------------------------------------------------------------------

    def snapshots(self, start_step: int = 0) -> Iterator[Snapshot]:
        """Snapshots in step order from `start_step`, with their hops and checkpointed params.

        Reads a few blocks per query, so a replay of a session still being recorded follows it
        and ends once it has caught up. The caller sets the pace.
        """
        for cols, before in self.columns(start_step):
            first, last = int(cols.step[0]), int(cols.step[-1])
            low = before if before is not None else first - 1
            hops = [Hop(*tuple(r)) for r in self._query(
                "SELECT step, neuron, c_before, c_after, sign_before, sign_after FROM hops "
                "WHERE session = ? AND step > ? AND step <= ? ORDER BY step, rowid", (self.id, low, last))]
            params = self._checkpoints_between(first, last)
            for i in range(len(cols)):
                snap = cols.snapshot(i)
                snap.hops = [h for h in hops if h.step <= snap.step]  # the hops since the previous snapshot
                hops = hops[len(snap.hops):]
                snap.params = params.get(snap.step)
                yield snap

    def columns(self, start_step: int = 0) -> Iterator[tuple[Columns, int | None]]:
        """Consecutive runs of snapshots from `start_step` on, each with the step recorded just
        before it (None at the start). Follows a live writer until it has caught up."""
        if not self.hidden or not self.dtype:
            return
        found = self._query("SELECT min(block) FROM blocks WHERE session = ? AND step_last >= ?", (self.id, start_step))
        block = found[0][0]
        if block is None:
            return
        before_rows = self._query("SELECT step_last FROM blocks WHERE session = ? AND block = ?", (self.id, block - 1))
        before = before_rows[0][0] if before_rows else None
        after = start_step - 1  # the newest step handed out
        while True:
            blocks = self._blocks(block, REPLAY_BATCH)
            if not blocks:
                return
            cols = Columns.concat(blocks)
            start = int(np.searchsorted(cols.step, after, side="right"))
            if start == len(cols):
                return  # caught up with the writer
            if start > 0:
                before = int(cols.step[start - 1])
            yield cols.slice(start), before
            before = after = int(cols.step[-1])
            # The last block read may still be filling up: read it again next time.
            block += len(blocks) - (1 if len(blocks[-1]) < BLOCK else 0)

    # -- classification -------------------------------------------------------------------------

    def classification_at(self, step: int) -> Classification:
        """The component classification at the newest recorded snapshot at or before `step`."""
        from core.invariants import classify

        rows = self._query(
            "SELECT b.block, b.count, d.* FROM blocks b JOIN block_data d ON d.session = b.session AND d.block = b.block "
            "WHERE b.session = ? AND b.step_first <= ? ORDER BY b.block DESC LIMIT 1", (self.id, step))
        if not rows:
            if self.initial is not None:
                return self.initial
            raise StoreError(f"session {self.id}: no snapshot at or before step {step}")
        cols = self._decode(rows[0])
        i = int(np.searchsorted(cols.step, step, side="right")) - 1
        c = cols.c[i].astype(np.float64)
        v = cols.v[i].astype(np.float64)
        scale = cols.w_norm[i].astype(np.float64) ** 2 + v**2  # ||W_k||^2 + ||v_k||^2
        activation = self.config.model.activation if self.config is not None else "relu"
        cl = classify(c, cols.v_sign[i], self.d_eff(), self.outputs or 1, scale, activation=activation)
        # The store keeps v_k's sign, not w_k's, so the recorded name covers d_eff = 1 free neurons.
        return dataclasses.replace(cl, signs=cols.signs[i]) if "?" in cl.signs else cl

    def d_eff(self) -> int:
        """Input dimension of a neuron's incoming weights, with the hidden bias (d + 1) or without."""
        inputs = self.inputs
        if inputs is None:
            steps = self.checkpoint_steps()
            if steps:
                inputs = self.checkpoint(steps[0]).hidden_weight.shape[1]
        if inputs is None:
            raise StoreError(f"session {self.id}: the input dimension was not recorded, so components cannot be counted")
        bias = self.config.model.bias if self.config is not None else False
        return inputs + int(bias)

    # -- checkpoints and results ----------------------------------------------------------------

    def checkpoint_steps(self) -> list[int]:
        return [r[0] for r in self._query(
            "SELECT DISTINCT step FROM checkpoints WHERE session = ? ORDER BY step", (self.id,))]

    def checkpoint(self, step: int) -> Params:
        """The parameters saved at the newest checkpoint at or before `step`."""
        rows = self._query("SELECT max(step) FROM checkpoints WHERE session = ? AND step <= ?", (self.id, step))
        if rows[0][0] is None:
            raise StoreError(f"session {self.id}: no parameter checkpoint at or before step {step}")
        return self._checkpoints_between(rows[0][0], rows[0][0])[rows[0][0]]

    def _checkpoints_between(self, first: int, last: int) -> dict[int, Params]:
        rows = self._query("SELECT step, name, data FROM checkpoints WHERE session = ? AND step BETWEEN ? AND ?",
                           (self.id, first, last))
        arrays: dict[int, dict[str, np.ndarray]] = {}
        for r in rows:
            arrays.setdefault(r["step"], {})[r["name"]] = load_npy(r["data"], f"session {self.id} checkpoint {r['step']}")
        try:
            return {step: Params.from_arrays(a) for step, a in arrays.items()}
        except KeyError as e:
            raise StoreError(f"session {self.id}: a checkpoint lacks {e}") from None

    def result_names(self) -> list[str]:
        return [r[0] for r in self._query("SELECT name FROM results WHERE session = ? ORDER BY name", (self.id,))]

    def _result(self, name: str, kind: str) -> bytes:
        rows = self._query("SELECT kind, data FROM results WHERE session = ? AND name = ?", (self.id, name))
        if not rows or rows[0]["kind"] != kind:
            raise StoreError(f"session {self.id}: no {kind} result named {name!r}")
        return rows[0]["data"]

    def array(self, name: str) -> np.ndarray:
        return load_npy(self._result(name, "array"), f"session {self.id} result {name!r}")

    def json(self, name: str) -> Any:
        try:
            return strict_json.loads(self._result(name, "json"))
        except (ValueError, UnicodeDecodeError) as e:
            raise StoreError(f"session {self.id}: result {name!r} is not valid JSON ({e})") from None
