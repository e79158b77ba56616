"""Where chunks run: `local` (on this machine: `workers` chunks at a time in worker processes, each
on one CPU thread, or in this process when one worker is enough) or `ray` (one Ray task per chunk,
on a cluster or a Ray started here).

Both call `runner.run_payload` on the same payloads and hand each chunk's arrays back to the
driver through `on_done(chunk_index, arrays)`, in completion order; the driver is the only writer
to the store. Ray is imported here only, and only when asked for.
"""

from __future__ import annotations

import concurrent.futures
import concurrent.futures.process
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from core.errors import UserError
from core.sweeps.runner import run_payload

BACKENDS = ("local", "ray")
RAY_RETRIES = 3  # a chunk whose worker died is run again, up to this many times


class ChunkFailed(Exception):
    """A chunk could not be computed (its worker kept dying, or the cluster went away)."""

Done = Callable[[int, dict[str, np.ndarray]], None]
Started = Callable[[int], None]
Progress = Callable[[int, float], None]  # (chunk index, fraction of its steps)


def default_workers(device_type: str) -> int:
    """Chunks trained at once by the local backend: the CPUs this process may use; one on a GPU
    (its kernels queue on one device anyway, and CUDA does not survive in a second process)."""
    if device_type != "cpu":
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# Worker processes only pay for themselves on a sweep of at least this much estimated work
# (runner.RATES' nominal seconds): starting one (importing torch) takes a second or two.
PROCESS_SECONDS = 60.0


def local_workers(asked: int | None, device_type: str, chunks: int, estimated_seconds: float) -> int:
    """How many chunks the local backend trains at once: `asked` (--workers), else one per CPU for
    a sweep big enough to pay for worker processes; never more than there are chunks."""
    if asked is None:
        asked = default_workers(device_type) if estimated_seconds >= PROCESS_SECONDS else 1
    return max(1, min(asked, chunks))


def run_local(payloads: Iterable[dict], on_done: Done, on_start: Started | None = None,
              on_progress: Progress | None = None, workers: int = 1,
              should_stop: Callable[[], bool] | None = None) -> None:
    """Run the chunks on this machine, `workers` at a time: in this process for one worker, else
    in that many worker processes (started with spawn; each trains on one CPU thread, as
    `train_chunk` always does, so the numbers are the same either way). Processes rather than
    threads because a chunk's step loop holds the GIL between kernels. Callbacks run in the
    calling thread, `on_done` in completion order. On an exception or Ctrl-C the workers are told
    to stop (they end at their next step) and their chunks are dropped; a worker whose driver
    died leaves within PARENT_POLL_SECONDS.
    `should_stop()` true ends the run early the same way (no exception; unfinished chunks are
    not handed to `on_done`)."""
    stopped = should_stop or (lambda: False)
    if workers <= 1:
        for payload in payloads:
            k = payload["chunk"]
            if stopped():
                return
            if on_start:
                on_start(k)
            arrays = run_payload(payload, (lambda f, k=k: on_progress(k, f)) if on_progress else None, stopped)
            if stopped():
                return
            on_done(k, arrays)
        return
    _start_resource_tracker()
    context = multiprocessing.get_context("spawn")
    progress, stop = context.Queue(), context.Event()
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start,
                                                  initargs=(os.getpid(), progress, stop))
    todo = iter(payloads)
    running: dict[concurrent.futures.Future, int] = {}

    def submit() -> None:
        payload = next(todo, None)
        if payload is not None:
            if on_start:
                on_start(payload["chunk"])
            running[pool.submit(_worker_run, payload)] = payload["chunk"]

    try:
        for _ in range(workers):
            submit()
        while running and not stopped():
            done, _ = concurrent.futures.wait(running, timeout=0.1, return_when=concurrent.futures.FIRST_COMPLETED)
            while on_progress:
                try:
                    on_progress(*progress.get_nowait())
                except queue.Empty:
                    break
            for future in done:
                k = running.pop(future)
                try:
                    arrays = future.result()
                except concurrent.futures.process.BrokenProcessPool:
                    raise ChunkFailed(f"chunk {k}: a local worker process died (out of memory?)") from None
                on_done(k, arrays)
                submit()
    finally:
        stop.set()  # workers still training end at their next step; their chunks are dropped
        pool.shutdown(wait=True, cancel_futures=True)


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with a real stderr. It hands sys.stderr's file
    descriptor to its process; inside the console, Textual has replaced sys.stderr with an object
    whose fileno() is -1, which Python refuses ("bad value(s) in fds_to_keep")."""
    from multiprocessing import resource_tracker

    try:
        usable = sys.stderr.fileno() >= 0
    except Exception:
        usable = False
    if usable or sys.__stderr__ is None:
        resource_tracker.ensure_running()
        return
    captured, sys.stderr = sys.stderr, sys.__stderr__
    try:
        resource_tracker.ensure_running()
    finally:
        sys.stderr = captured


_PARENT: int | None = None
_PROGRESS = None
_STOP = None
PROGRESS_SECONDS = 0.25  # a worker reports a chunk's progress at most this often
PARENT_POLL_SECONDS = 0.5  # how often a worker looks whether its driver is still there


def _worker_start(parent: int, progress, stop) -> None:
    global _PARENT, _PROGRESS, _STOP
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    _PARENT, _PROGRESS, _STOP = parent, progress, stop
    # An idle worker waits on the task queue, whose write end every worker holds too, so a driver
    # killed with -9 would leave it waiting forever: it leaves once its parent is gone.
    threading.Thread(target=_leave_with_parent, args=(parent,), daemon=True).start()


def _leave_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(0)


def _worker_run(payload: dict) -> dict[str, np.ndarray]:
    k, last = payload["chunk"], [0.0]

    def report(fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_SECONDS:
            last[0] = now
            _PROGRESS.put((k, fraction))

    return run_payload(payload, report, should_stop=lambda: _STOP.is_set() or os.getppid() != _PARENT)


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("--backend ray: Ray is not installed here; pip install 'relulab[ray]'") from None
    return ray


def ray_task(payload: dict) -> dict[str, np.ndarray]:
    """What a Ray worker runs: arrays in, arrays out; no store, no files."""
    return run_payload(payload)


def start_ray(address: str | None, num_cpus: int | None = None):
    """Connect to the cluster at `address` ("auto" or HOST:PORT), or start a local Ray. Workers
    import this repository's `core` package, shipped with the job when Ray is started here."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    root = str(Path(__file__).resolve().parents[2])
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}}
    try:
        if address:
            ray.init(address=address, runtime_env={"py_modules": [str(Path(root) / "core")]},
                     log_to_driver=False, logging_level="ERROR")
        else:
            ray.init(num_cpus=num_cpus, runtime_env=env, log_to_driver=False, logging_level="ERROR",
                     include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"--address {address}" if address else "a local Ray"
        raise UserError(f"{where}: cannot start or reach Ray: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return ray


def run_ray(payloads: Iterable[dict], on_done: Done, on_start: Started | None = None,
            address: str | None = None, num_cpus: int | None = None, in_flight: int | None = None,
            max_retries: int = RAY_RETRIES) -> None:
    """One task per chunk; at most `in_flight` submitted at once (default: twice the cluster's
    CPUs), so a huge sweep does not put every payload into the object store at once."""
    ray = start_ray(address, num_cpus)
    task = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=False)(ray_task)
    limit = in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    pending: dict = {}
    queue = iter(payloads)
    exhausted = False
    while pending or not exhausted:
        while not exhausted and len(pending) < limit:
            payload = next(queue, None)
            if payload is None:
                exhausted = True
                break
            pending[task.remote(payload)] = payload["chunk"]
            if on_start:
                on_start(payload["chunk"])
        if not pending:
            break
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            k = pending.pop(ref)
            try:
                arrays = ray.get(ref)
            except ray.exceptions.RayError as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise ChunkFailed(f"chunk {k} failed on Ray after {max_retries} retries: {first}") from None
            on_done(k, arrays)
