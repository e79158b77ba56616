"""Opening the compare view of 12 sessions of 100,000 snapshots each: time to the first frame.

    python bench/bench_compare.py [--sessions 12] [--snapshots 100000] [--hidden 8] [--rounds 3]

Records the sessions into a scratch store (not timed), then, in a headless app (Textual's
pilot, 100x30), times from pushing the compare screen to the first drawn chart, and, in the same
run as a baseline, the same for a compare view of one session. Prints the rows read per run
(the downsampled series) and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import Config, replace  # noqa: E402
from core.snapshot import SnapshotBatch  # noqa: E402
from lab.app import RelulabApp  # noqa: E402
from lab.screens.compare_screen import CompareScreen  # noqa: E402
from lab.widgets.compare_plot import ComparePlot  # noqa: E402
from sessions import Store  # noqa: E402


def record(store: Store, run: int, snapshots: int, hidden: int) -> str:
    config = replace(replace(Config(), "model", hidden=hidden), "train", lr=0.01 * (run + 1))
    writer = store.create_session(config, {"device": "cpu", "inputs": 1}, name=f"bench{run}")
    rng = np.random.default_rng(run)
    chunk = 4096
    for first in range(0, snapshots, chunk):
        n = min(chunk, snapshots - first)
        steps = np.arange(first, first + n)
        c = -0.5 + 0.01 * rng.standard_normal((n, hidden))
        v = 1.0 + 0.01 * rng.standard_normal((n, hidden))
        writer.append_batch(SnapshotBatch(
            step=steps, loss=1.0 / (steps + 1.0), test_loss=None, accuracy=None, test_accuracy=None, c=c,
            w_norm=np.sqrt(np.maximum(c + v**2, 0)), v=v, v_sign=np.sign(v).astype(np.int8),
            signs=["+" * hidden] * n, max_drift=np.zeros(n), elapsed=steps / 1e4))
    writer.finish("completed")
    return writer.id


async def first_frame(store_path: str, ids: list[str]) -> tuple[float, int]:
    app = RelulabApp(store_path=store_path, prewarm=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.2)
        started = time.perf_counter()
        screen = CompareScreen(ids)
        app.push_screen(screen)
        while not (screen.runs and screen.query_one(ComparePlot).chart is not None):
            await pilot.pause(0.005)
        await pilot.pause(0)  # let the plot render once
        seconds = time.perf_counter() - started
        rows = int(np.mean([len(r.series["step"]) for r in screen.runs]))
    return seconds, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=12)
    ap.add_argument("--snapshots", type=int, default=100_000)
    ap.add_argument("--hidden", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store")
        t = time.perf_counter()
        ids = [record(store, i, args.snapshots, args.hidden) for i in range(args.sessions)]
        print(f"recorded {args.sessions} x {args.snapshots} snapshots (hidden {args.hidden}) "
              f"in {time.perf_counter() - t:.1f} s")
        many, one = [], []
        for _ in range(args.rounds):  # alternate, so machine load hits both alike
            one.append(asyncio.run(first_frame(str(store.path), ids[:1])))
            many.append(asyncio.run(first_frame(str(store.path), ids)))
        m = statistics.median(s for s, _ in many)
        o = statistics.median(s for s, _ in one)
        print(f"first frame, {args.sessions} sessions: median {m:.3f} s over {args.rounds} rounds "
              f"({', '.join(f'{s:.3f}' for s, _ in many)}); rows read per session {many[0][1]}")
        print(f"first frame, 1 session (baseline): median {o:.3f} s; ratio {m / o:.1f}x")


if __name__ == "__main__":
    main()
