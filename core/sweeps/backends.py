"""Where chunks run: `local` (in this process, one chunk after another, each using the machine's
cores through torch) or `ray` (one Ray task per chunk, on a cluster or a Ray started here).

Both call `runner.run_payload` on the same payloads and hand each chunk's arrays back to the
driver through `on_done(chunk_index, arrays)`, in completion order; the driver is the only writer
to the store. Ray is imported here only, and only when asked for.
"""

from __future__ import annotations

import os
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


def run_local(payloads: Iterable[dict], on_done: Done, on_start: Started | None = None,
              on_progress: Progress | None = None) -> None:
    for payload in payloads:
        k = payload["chunk"]
        if on_start:
            on_start(k)
        arrays = run_payload(payload, (lambda f, k=k: on_progress(k, f)) if on_progress else None)
        on_done(k, arrays)


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
