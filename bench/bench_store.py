"""Session store benchmarks: replay of a long run, and what recording costs a live run.

Replay: a session of 1,000,000 snapshots x 64 neurons is written through the normal writer, then
a fresh process opens the store, loads the session and asks for its series downsampled for a
plot (1,000 points). Target: under 1 s.

Recording overhead: a live Trainer run (hidden = 64, log_every = 1, CPU, 100,000 steps: a few
seconds) with every snapshot recorded, consumed batch by batch the way `relulab run` and the
console do: the time spent inside the recorder's calls, and recorded vs not recorded runs in
alternating rounds (wall time, and CPU time of the training thread). Target: at most 5% slower.
Also the writer's cost per snapshot alone, fed batches or single snapshots.

    python bench/bench_store.py [--snapshots 1000000] [--steps 100000] [--rounds 6] [--repeats 5]
                                [--skip-replay] [--skip-overhead]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.config import Config, replace  # noqa: E402
from core.snapshot import SnapshotBatch  # noqa: E402
from sessions import Store  # noqa: E402

HIDDEN = 64
CHUNK = 10_000  # snapshots generated at a time, to keep memory flat


def bench_config(steps: int = 1000) -> Config:
    config = replace(Config(), "model", hidden=HIDDEN)
    return replace(config, "train", log_every=1, steps=steps, device="cpu", dtype="float32")


def synthetic_batches(n: int, size: int = 256, hidden: int = HIDDEN):
    """SnapshotBatches shaped like the trainer's (float64 arrays), with slowly drifting c_k and noise."""
    rng = np.random.default_rng(0)
    c0 = rng.standard_normal(hidden)
    for start in range(0, n, size):
        steps = np.arange(start, min(n, start + size))
        c = c0 + 1e-6 * steps[:, None] + 1e-3 * rng.standard_normal((len(steps), hidden))
        v = rng.standard_normal((len(steps), hidden))
        yield SnapshotBatch(steps, 1.0 / (1 + steps), None, None, None, c, np.sqrt(np.abs(c) + v**2), v,
                            np.sign(v).astype(np.int8), ["+-"] * len(steps), 1e-6 * steps, 1e-4 * steps)


def write_session(path: Path, n: int) -> tuple[str, float]:
    store = Store(path)
    started = time.perf_counter()
    with store.create_session(bench_config(n), {"device": "cpu"}, name="bench") as w:
        for batch in synthetic_batches(n):
            w.append_batch(batch)
    return w.id, time.perf_counter() - started


OPEN_AND_PLOT = """
import sys, time
t0 = time.perf_counter()
sys.path.insert(0, {repo!r})
from sessions import Store
t1 = time.perf_counter()
store = Store({path!r})
session = store.load({sid!r})
series = session.series(max_points={points})
t2 = time.perf_counter()
assert len(series["step"]) <= {points} and series["c"].shape[1] == {hidden}
print(t1 - t0, t2 - t1, len(session))
"""


def bench_replay(n: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store"
        sid, seconds = write_session(path, n)
        size = sum(f.stat().st_size for f in path.iterdir()) / 1e6
        print(f"replay: wrote {n:,} snapshots x {HIDDEN} neurons in {seconds:.1f} s "
              f"({n / seconds:,.0f} snapshots/s through the writer), store {size:,.0f} MB")
        for points in (1000, 20000):  # a plot; the replay screen's scrubbing series
            times = []
            for _ in range(repeats):
                code = OPEN_AND_PLOT.format(repo=str(REPO), path=str(path), sid=sid, points=points, hidden=HIDDEN)
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
                imports, open_and_series, count = out.split()
                assert int(count) == n
                times.append(float(open_and_series))
            print(f"replay: open store + load + series(max_points={points}) in a fresh process: "
                  f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
                  f"over {repeats} runs (target < 1000 ms; importing sessions/numpy {float(imports) * 1000:.0f} ms more)")
        store = Store(path)
        session = store.load(sid)
        started = time.perf_counter()
        count = sum(1 for _ in session.snapshots(start_step=n - 50_000))
        seconds = time.perf_counter() - started
        print(f"replay: iterating snapshots: {count / seconds:,.0f} snapshots/s")


def run_trainer(config: Config, store: Store | None) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of the training thread, seconds spent inside the recorder's calls)."""
    from core.train import Trainer

    trainer = Trainer(config)
    clock = time.perf_counter
    inside = 0.0
    started, cpu = clock(), time.thread_time()
    # Both arms consume the run the way `relulab run` and the console do: batch by batch, every
    # snapshot made into a Snapshot; the recorded arm also hands each batch to the writer.
    if store is None:
        for batch in trainer.batches():
            for _ in batch:
                pass
    else:
        t = clock()
        w = store.create_session(config, trainer.environment)
        w.set_initial(trainer.initial)
        inside += clock() - t
        for batch in trainer.batches():
            t = clock()
            w.append_batch(batch)  # commits a batch about once a second, right here
            inside += clock() - t
            for _ in batch:
                pass
        t = clock()
        w.finish(trainer.status, trainer.final)
        inside += clock() - t
    return clock() - started, time.thread_time() - cpu, inside


def bench_overhead(steps: int, rounds: int) -> None:
    """Recording on vs off for a live Trainer run, measured two ways.

    Direct: the writer does its work inside `append_batch` (and create/finish), in the training
    loop, so the time spent inside those calls is what recording adds there; summed over the run
    it is immune to other processes slowing the whole machine down. A/B: recorded vs not
    recorded runs in rounds; each round also runs a second unrecorded run, and the order of the
    three turns every round. The A/A control (unrecorded vs unrecorded) shows how much of the
    A/B figure is the machine: on a quiet one it is 1.00 and A/B agrees with the direct figure.
    """
    try:
        import core.train  # noqa: F401
    except ImportError as e:
        print(f"overhead: core.train not importable ({e}); skipped")
        return
    import itertools

    import torch

    # Tiny tensors gain nothing from intra-op threads, and idle OpenMP workers spinning on a
    # shared machine would add noise to both sides.
    torch.set_num_threads(1)
    config = bench_config(steps)
    orders = list(itertools.permutations(("off", "on", "control")))
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "store")
        run_trainer(config, None)  # warm up torch and the page cache
        run_trainer(config, store)
        runs: dict[str, list] = {"off": [], "on": [], "control": []}
        for r in range(rounds):
            for arm in orders[r % len(orders)]:
                runs[arm].append(run_trainer(config, store if arm == "on" else None))
    off, on, control = runs["off"], runs["on"], runs["control"]
    direct = sorted(inside / (wall - inside) for wall, _, inside in on)
    print(f"overhead: Trainer hidden={HIDDEN}, log_every=1 (a snapshot every step), {steps} steps, CPU device, "
          f"torch threads 1, {rounds} rounds; target <= +5%")
    print(f"overhead (direct): time inside the recorder / the rest of the run: median "
          f"{statistics.median(direct) * 100:+.1f}% (range {direct[0] * 100:+.1f}% .. {direct[-1] * 100:+.1f}%), "
          f"{statistics.median([x[2] for x in on]) / steps * 1e6:.1f} us per snapshot")
    for k, what in ((0, "wall"), (1, "training-thread CPU")):
        a = [x[k] for x in off]
        print(f"overhead ({what}): not recorded median {statistics.median(a):.3f} s "
              f"({steps / statistics.median(a):,.0f} steps/s)")
        for name, arm in (("A/B recorded vs not", on), ("A/A control, not recorded vs not", control)):
            b = [x[k] for x in arm]
            ratios = sorted(y / x for x, y in zip(a, b))
            median = statistics.median(ratios)
            print(f"  {name}: median of per-round ratios {median:.3f} ({(median - 1) * 100:+.1f}%), "
                  f"ratios {ratios[0]:.2f} .. {ratios[-1]:.2f}")


def bench_writer_cost(n: int = 200_000) -> None:
    """The writer alone on a simulated stream, each ~10,000 snapshots committed in one go: fed
    batches of 256 (as the trainer makes them) or one Snapshot at a time."""
    batches = list(synthetic_batches(n))
    for what in ("append_batch", "append"):
        items = batches if what == "append_batch" else [s for b in batches for s in b]
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp) / "store")
            w = store.create_session(bench_config(n), {}, flush_interval=3600)
            add = getattr(w, what)
            started, done, flushed = time.perf_counter(), 0, 0
            for item in items:
                add(item)
                done += 1 if what == "append" else len(item)
                if done - flushed >= 10_000:
                    w.flush()
                    flushed = done
            w.finish()
            seconds = time.perf_counter() - started
        print(f"writer ({what}): {seconds / n * 1e6:.2f} us per snapshot, append and commit "
              f"(hidden={HIDDEN}, float32 storage)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshots", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=100_000, help="steps per training run (overhead)")
    parser.add_argument("--rounds", type=int, default=6, help="recorded / not recorded pairs (overhead)")
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes timing the replay")
    parser.add_argument("--skip-replay", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()
    bench_writer_cost()
    if not args.skip_overhead:
        bench_overhead(args.steps, max(1, args.rounds))
    if not args.skip_replay:
        bench_replay(args.snapshots, args.repeats)


if __name__ == "__main__":
    main()
