"""What `sessions list` shows of a session, read from its row alone (no snapshot data)."""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass

from core import strict_json
from core.snapshot import exact_count
from sessions import liveness

STATUSES = ("running", "completed", "interrupted", "diverged", "failed")
KINDS = ("run", "sweep", "experiment", "connect", "atlas")


def finite(x):
    """JSON-safe number: NaN and infinities (a diverged run) become None."""
    return None if isinstance(x, float) and not math.isfinite(x) else x


# Times a calendar can show: 1970 to the end of year 9999. A stored time outside (from an
# imported file, or a damaged row) marks the session damaged instead of crashing a listing.
LATEST_TIME = 253402300799.0
# Sizes beyond these cannot be a real session: config.py allows at most MAX_HIDDEN neurons.
MAX_HIDDEN = 100_000
MAX_FEATURES = 1_000_000


@dataclass
class SessionInfo:
    """One line of `sessions list`: what can be shown without reading any snapshot.

    Every field has the type written here even for a damaged row: a row that does not add up
    keeps what could be read, status `damaged`, and the reason in `damaged`."""

    id: str
    name: str | None
    kind: str
    status: str
    created: float  # unix time, within 1970..9999 (0 when unknown)
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
    damaged: str | None = None  # why this row could not be read, if it could not

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "created": iso_time(self.created) if self.created else None,
            "ended": iso_time(self.ended) if self.ended else None,
            "tags": list(self.tags),
            "summary": self.summary,
            "hidden": self.hidden,
            "snapshots": self.snapshots,
            "final": {k: finite(v) for k, v in self.final.items()},
            "pathological": self.pathological,
            "components": exact_count(self.components) if self.components is not None else None,
            "components_log2": self.components.bit_length() - 1 if self.components is not None else None,
            "host": self.host,
            "error": self.error,
            "damaged": self.damaged,
        }


def iso_time(t: float) -> str | None:
    import datetime

    try:
        return datetime.datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):
        return None


INFO_COLUMNS = (
    "id, name, kind, status, created, ended, tags, summary, hidden, snapshots, last, initial, final, "
    "writer_host, writer_pid, writer_token, heartbeat, error"
)


def live_status(row: sqlite3.Row) -> str:
    """A `running` session whose writer is gone reads `interrupted`."""
    if row["status"] == "running" and not _alive(row):
        return "interrupted"
    return row["status"]


def _alive(row: sqlite3.Row) -> bool:
    host, pid, token, beat = row["writer_host"], row["writer_pid"], row["writer_token"], row["heartbeat"]
    if not (isinstance(pid, int) and 0 < pid < 2**31) or not isinstance(beat, (int, float, type(None))):
        return False  # no process of ours has such a pid
    return liveness.writer_alive(host if isinstance(host, str) else None, pid,
                                 token if isinstance(token, str) else None, beat)


class Damaged(ValueError):
    """A stored value that does not add up; the message names the field."""


def is_time(t) -> bool:
    return isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t <= LATEST_TIME


def _json(row: sqlite3.Row, field: str, kind: type, default):
    text = row[field]
    if text is None:
        return default
    try:
        value = strict_json.loads(text)
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        raise Damaged(f"{field} is not valid JSON ({e})") from None
    if value is None:
        return default
    if not isinstance(value, kind):
        raise Damaged(f"{field} holds a JSON {type(value).__name__}, not a {kind.__name__}")
    return value


def _count(value, field: str, largest: int) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= largest:
        raise Damaged(f"{field} = {str(value)[:30]!r} is not a count up to {largest:,}")
    return value


def _components(classification: dict) -> int | None:
    """The exact count; recorded as components_log2 alone when it is too big for JSON."""
    if classification.get("components") is not None:
        return classification["components"]
    log2 = classification.get("components_log2")
    if log2 is None:
        return None
    # One or two pieces per neuron: at most 2^hidden. A file claiming 2^(10^12) is damaged, not
    # a number to build.
    if not isinstance(log2, int) or isinstance(log2, bool) or not 0 <= log2 <= MAX_HIDDEN:
        raise Damaged(f"components_log2 = {str(log2)[:30]!r} is not a count of neurons up to {MAX_HIDDEN:,}")
    return 2**log2


def info_from_row(row: sqlite3.Row) -> SessionInfo:
    """The row as a SessionInfo; a row that does not add up reads `damaged` with the reason."""
    try:
        return _info(row)
    except Damaged as e:
        return _damaged(row, str(e))


def _info(row: sqlite3.Row) -> SessionInfo:
    if not isinstance(row["id"], str):
        raise Damaged("id is not text")
    for field in ("name", "writer_host", "error"):
        if row[field] is not None and not isinstance(row[field], str):
            raise Damaged(f"{field} is not text")
    if not isinstance(row["summary"], str):
        raise Damaged("summary is not text")
    if row["kind"] not in KINDS or row["status"] not in STATUSES:
        raise Damaged(f"kind {str(row['kind'])[:20]!r} / status {str(row['status'])[:20]!r} unknown")
    if not is_time(row["created"]):
        raise Damaged(f"created = {str(row['created'])[:30]} is not a time between 1970 and 9999")
    for field in ("ended", "heartbeat"):
        if row[field] is not None and not is_time(row[field]):
            raise Damaged(f"{field} = {str(row[field])[:30]} is not a time between 1970 and 9999")
    status = live_status(row)
    last = _json(row, "last", dict, {})
    classification = _json(row, "final" if row["final"] is not None else "initial", dict, {})
    tags = _json(row, "tags", list, [])
    if not all(isinstance(t, str) for t in tags):
        raise Damaged("tags holds something other than text")
    ended = row["ended"]
    if status == "interrupted" and ended is None:
        ended = row["heartbeat"]  # the last sign of life
    final = {k: last.get(k) for k in ("step", "loss", "test_loss", "accuracy", "test_accuracy", "signs")}
    if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for k, v in final.items() if k != "signs"):
        raise Damaged("last holds a value that is not a number")
    if final["signs"] is not None and not isinstance(final["signs"], str):
        raise Damaged("last.signs is not text")
    pathological = classification.get("pathological", last.get("pathological"))
    components = _components(classification)
    _count(pathological, "pathological", MAX_HIDDEN)
    _count(components, "components", 2**MAX_HIDDEN)  # 2^k components for k pathological neurons
    return SessionInfo(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        status=status,
        created=float(row["created"]),
        ended=ended,
        tags=tags,
        summary=row["summary"],
        hidden=_count(row["hidden"], "hidden", MAX_HIDDEN),
        snapshots=_count(row["snapshots"], "snapshots", 2**62) or 0,
        final=final,
        pathological=pathological,
        components=components,
        host=row["writer_host"],
        error=row["error"],
    )


def _damaged(row: sqlite3.Row, reason: str) -> SessionInfo:
    """What can still be shown of a damaged row: its id, and any field that reads."""

    def text(field: str) -> str | None:
        return row[field] if isinstance(row[field], str) else None

    return SessionInfo(
        id=row["id"] if isinstance(row["id"], str) else str(row["id"]),
        name=text("name"),
        kind=row["kind"] if row["kind"] in KINDS else "run",
        status="damaged",
        created=float(row["created"]) if is_time(row["created"]) else 0.0,
        ended=None,
        tags=[],
        summary=text("summary") or "",
        hidden=None,
        snapshots=0,
        final={k: None for k in ("step", "loss", "test_loss", "accuracy", "test_accuracy", "signs")},
        pathological=None,
        components=None,
        host=text("writer_host"),
        error=text("error"),
        damaged=reason,
    )
