"""A recorded sweep read back: its spec, which chunks are done, and one table row per member.

A sweep session (kind "sweep", made by `relulab sweep`) holds the named results
    sweep            the spec (base config, axes), the chunking options and each chunk's members
    chunk NNNNN      one finished chunk: its members and their per-member results (JSON)
    chunk NNNNN series_loss / series_c / series_steps   (arrays, when the spec asks for series)
Chunks are recorded as they finish, so a sweep that was killed keeps every finished chunk.
"""

from __future__ import annotations

import math
from pathlib import Path

from core.sweeps.runner import RESULT_NAMES

SWEEP = "sweep"
CHUNK = "chunk {:05d}"


def chunk_name(index: int) -> str:
    return CHUNK.format(index)


def is_user_sweep(session) -> bool:
    """A session recorded by `relulab sweep` (the built-in experiments are kind "sweep" too)."""
    return session.kind == "sweep" and SWEEP in session.result_names()


def finished_chunks(session) -> dict[int, dict]:
    """Chunk index -> its stored record ({"members": [...], "results": {...}, ...})."""
    out = {}
    for name in session.result_names():
        if name.startswith("chunk ") and len(name) == len(CHUNK.format(0)):
            out[int(name[6:])] = session.json(name)
    return out


def member_table(session) -> tuple[list[str], list[list]]:
    """(columns, rows): one row per member in member order, one column per axis key and result.
    Members of chunks that never finished have status 'pending' and empty results."""
    info = session.json(SWEEP)
    axis_keys = info["spec"]["axis_keys"]
    points = info["points"]
    columns = ["member", *axis_keys, *RESULT_NAMES]
    rows = [[i, *[p.get(k) for k in axis_keys], "pending", *[None] * (len(RESULT_NAMES) - 1)]
            for i, p in enumerate(points)]
    for record in finished_chunks(session).values():
        results = record["results"]
        for j, i in enumerate(record["members"]):
            if 0 <= i < len(rows):
                rows[i][1 + len(axis_keys):] = [results[name][j] for name in RESULT_NAMES]
    return columns, rows


def csv_value(x) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return repr(x) if math.isfinite(x) else ("nan" if x != x else ("inf" if x > 0 else "-inf"))
    if isinstance(x, (list, dict)):
        import json

        return json.dumps(x)
    return str(x)


def write_members_csv(session, directory) -> Path:
    """<id>_members.csv: one row per member, one column per axis key and result."""
    import csv

    from sessions import StoreError

    directory = Path(directory)
    columns, rows = member_table(session)
    path = directory / f"{session.id}_members.csv"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(columns)
            out.writerows([csv_value(x) for x in row] for row in rows)
    except OSError as e:
        raise StoreError(f"{directory}: cannot write: {e.strerror or e}") from None
    return path


def summary_lines(session) -> list[str]:
    """What `sessions show` says about a sweep: size, axes, progress and outcomes."""
    info = session.json(SWEEP)
    columns, rows = member_table(session)
    status = [r[columns.index("status")] for r in rows]
    chunks = finished_chunks(session)
    lines = [
        f"sweep: {len(rows)} members over {', '.join(info['spec']['axis_keys'])}; "
        f"{len(chunks)} of {len(info['chunks'])} chunks done",
        f"members: {status.count('completed')} completed, {status.count('diverged')} diverged, "
        f"{status.count('pending')} not run",
    ]
    if info.get("resumed_from"):
        lines.append(f"resumed from session {info['resumed_from']}")
    return lines


def heat_grid(columns: list[str], rows: list[list], value: str, x_axis: str, y_axis: str):
    """A result over two axes: (x values, y values, mean, standard error, count), each (Y, X),
    every cell over the members at that point (so over the remaining axes). Members without a
    finite value (pending, diverged NaN) are left out of a cell."""
    import numpy as np

    ix, iy, iv = columns.index(x_axis), columns.index(y_axis), columns.index(value)

    def order(values):
        unique = list(dict.fromkeys(values))
        try:
            return sorted(unique)
        except TypeError:
            return unique

    xs, ys = order([r[ix] for r in rows]), order([r[iy] for r in rows])
    cells: dict[tuple[int, int], list[float]] = {}
    for r in rows:
        v = r[iv]
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            cells.setdefault((ys.index(r[iy]), xs.index(r[ix])), []).append(float(v))
    mean = np.full((len(ys), len(xs)), np.nan)
    se = np.full_like(mean, np.nan)
    count = np.zeros(mean.shape, int)
    for (i, j), vals in cells.items():
        a = np.asarray(vals)
        mean[i, j], count[i, j] = a.mean(), len(a)
        if len(a) > 1:
            se[i, j] = a.std(ddof=1) / math.sqrt(len(a))
    return xs, ys, mean, se, count
