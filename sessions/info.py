"""What `sessions list` shows of a session, read from its row alone (no snapshot data)."""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass

from core.snapshot import exact_count
from sessions import liveness

STATUSES = ("running", "completed", "interrupted", "diverged", "failed")
KINDS = ("run", "sweep", "experiment", "connect")


def finite(x):
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
            "final": {k: finite(v) for k, v in self.final.items()},
            "pathological": self.pathological,
            "components": exact_count(self.components) if self.components is not None else None,
            "components_log2": self.components.bit_length() - 1 if self.components is not None else None,
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


def _components(classification: dict) -> int | None:
    """The exact count; recorded as components_log2 alone when it is too big for JSON."""
    if classification.get("components") is not None:
        return classification["components"]
    if isinstance(classification.get("components_log2"), int):
        return 2 ** classification["components_log2"]
    return None


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
        components=_components(classification),
        host=row["writer_host"],
        error=row["error"],
    )
