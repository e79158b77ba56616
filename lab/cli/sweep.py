"""`relulab sweep SPEC.toml`: your own grid over any config key, batched, locally or on Ray.

The spec is a base config and a [sweep] table of axes (docs/sweeps.md):

    base = "breast_cancer.toml"
    [sweep]
    "init.seed" = "0-99"
    "train.lr" = [0.01, 0.1]

Every member is validated before any work. Members that differ only in [init] train together as
one batched sweep, cut into chunks; each finished chunk is recorded at once, so `--resume ID`
continues a sweep that was stopped or killed without recomputing its finished chunks. A member's
numbers do not depend on the chunking, the backend or the number of workers (bitwise on the CPU).
Exit status: 0 every member completed, 3 some diverged (their results are recorded all the same),
2 a mistake in the input, 130 interrupted, 1 a chunk that failed (on Ray after its retries, or a
local worker process that died).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

from core import strict_json
from lab.cli.sessions import add_store_argument

BACKENDS = ("local", "ray")  # core.sweeps.backends.BACKENDS, without importing torch
MAX_WORKERS = 4096  # --workers and a recorded chunking's "parallel"
MAX_CHUNK_SECONDS = 1e7


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("sweep", help="your own grid over any config key, batched (local or Ray)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", metavar="SPEC.toml", nargs="?", help="the sweep spec (optional with --resume)")
    p.add_argument("--backend", choices=BACKENDS, default="local",
                   help="local: this machine, --workers chunks at a time (default); ray: one Ray task per chunk")
    p.add_argument("--workers", type=int, metavar="N",
                   help="local: chunks trained at once, each on one CPU thread (default: the CPUs "
                        "this process may use; 1 on a GPU)")
    p.add_argument("--address", metavar="auto|HOST:PORT",
                   help="ray: the cluster to use (default: start a local Ray here)")
    p.add_argument("--device", metavar="DEVICE", help="auto | cpu | cuda | cuda:N, for every member ([train] device)")
    p.add_argument("--dry-run", action="store_true", help="show members, chunks, memory and time estimates; run nothing")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end (no progress bar)")
    p.add_argument("--no-save", action="store_true", help="do not record the sweep in the session store")
    p.add_argument("--name", help="a name for the recorded session")
    p.add_argument("--tag", action="append", default=[], help="tag the recorded session (repeatable)")
    p.add_argument("--resume", metavar="ID", help="continue the sweep recorded in session ID: finished chunks are kept")
    p.add_argument("--chunk-seconds", type=float, metavar="S",
                   help="target time per chunk, estimated from shapes (default 60)")
    p.add_argument("--chunk-members", type=int, metavar="N", help="at most N members per chunk")
    add_store_argument(p)
    p.set_defaults(func=sweep_command)


def check_args(args) -> None:
    from core.config import check_value
    from core.errors import UserError

    if args.spec is None and args.resume is None:
        raise UserError("sweep: give a SPEC.toml, or --resume ID to continue a recorded sweep")
    if args.address is not None and args.backend != "ray":
        raise UserError(f"--address {args.address}: only used with --backend ray")
    if args.workers is not None and args.backend != "local":
        raise UserError(f"--workers {args.workers}: only used with --backend local (Ray runs a task per CPU)")
    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise UserError(f"--workers {args.workers}: must be an integer from 1 to {MAX_WORKERS}")
    if args.chunk_seconds is not None and not (0 < args.chunk_seconds < MAX_CHUNK_SECONDS):
        raise UserError(f"--chunk-seconds {args.chunk_seconds}: must be a number of seconds > 0")
    if args.chunk_members is not None and args.chunk_members < 1:
        raise UserError(f"--chunk-members {args.chunk_members}: must be an integer >= 1")
    if args.resume is not None and (args.device or args.chunk_seconds or args.chunk_members):
        raise UserError("--resume: the sweep keeps its recorded device and chunking; "
                        "drop --device / --chunk-seconds / --chunk-members")
    if args.resume is not None and args.no_save:
        raise UserError("--resume with --no-save: a resumed sweep is recorded (drop --no-save)")
    if args.name is not None and not args.name.strip():
        raise UserError("--name: cannot be empty")
    if args.device is not None:
        check_value("train", "device", args.device, "--device")


def sweep_command(args: argparse.Namespace) -> int:
    from core.errors import UserError
    from core.sweeps import load_spec, plan_sweep
    from core.sweeps.spec import spec_from_dict
    from lab.cli.sessions import open_store
    from lab import sweep_results

    check_args(args)
    overrides = {"train.device": args.device} if args.device else {}
    store = None if args.no_save and not args.resume else open_store(args.store)
    previous, options = None, {"chunk_seconds": args.chunk_seconds or 60.0, "chunk_members": args.chunk_members}
    if args.resume:
        previous = store.load(args.resume)
        if not sweep_results.is_user_sweep(previous):
            raise UserError(f"--resume {args.resume}: session {previous.id} is not a sweep recorded by 'relulab sweep'")
        if previous.status in ("running", "completed"):
            raise UserError(f"--resume {args.resume}: session {previous.id} is {previous.status}: "
                            + ("nothing to resume" if previous.status == "completed" else "its sweep is still going"))
        stored = previous.json(sweep_results.SWEEP)
        options = recorded_options(stored, previous.id)  # the same chunks as before, whatever is given now
        spec = spec_from_dict(stored["spec"])
        if args.spec is not None:
            given = load_spec(args.spec, overrides)
            if [m.values for m in given.members] != [m.values for m in spec.members] or given.base != spec.base:
                raise UserError(f"{args.spec}: differs from the sweep recorded in session {previous.id}; "
                                "resume without SPEC.toml, or start a new sweep")
    else:
        spec = load_spec(args.spec, overrides)
    ray_cpus = None
    if args.backend == "ray":
        from core.sweeps.backends import start_ray

        # Started (or joined) now: a failure is one line before anything is recorded, and the
        # cluster's CPUs say how many chunks can run at once.
        ray = start_ray(args.address)
        ray_cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        if previous is None:
            options["parallel"] = ray_cpus
    elif previous is None:
        from core.sweeps.backends import default_workers
        from core.train import resolve_device

        options["parallel"] = args.workers or default_workers(resolve_device(spec.members[0].config.train.device).type)
    # A group big enough is cut into a chunk per worker (or cluster CPU) that can take one.
    # Chunking never changes a member's numbers (core.sweeps.runner.train_chunk); a resumed sweep
    # keeps its recorded chunking so that its finished chunks are found again.
    plan = plan_sweep(spec, options["chunk_seconds"], options["chunk_members"], parallel=options.get("parallel", 1))
    if args.backend == "local":
        from core.sweeps.backends import local_workers

        args.workers = local_workers(args.workers, plan.device_type, len(plan.chunks), sum(plan.estimates))
    if args.dry_run:
        at_once = args.workers if args.backend == "local" else ray_cpus
        return dry_run(plan, args, at_once)
    done = carried_over(previous, plan) if previous is not None else {}
    recorder = Recorder(store, args, plan, options, previous, done) if store is not None else None
    results: dict[int, dict] = dict(done)
    started = time.perf_counter()
    status = "completed"
    previous_handler = signal.getsignal(signal.SIGINT)
    from core.sweeps.backends import ChunkFailed

    failure = None
    try:
        run_chunks(plan, args, results, recorder, skip=set(done))
    except KeyboardInterrupt:
        status = "interrupted"
    except ChunkFailed as e:
        status, failure = "failed", str(e)
    except BaseException:
        status = "failed"
        raise
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        if recorder:
            recorder.finish(status)
    seconds = time.perf_counter() - started
    report = build_report(plan, results, status, seconds, args, recorder, len(done))
    if args.json:
        print(strict_json.dumps(json_safe(report)))
    else:
        print_report(plan, report)
    if failure:
        resume = f"; 'relulab sweep --resume {recorder.id}' continues" if recorder else ""
        print(f"relulab: {failure}{resume}", file=sys.stderr)
    if recorder and recorder.error:
        raise UserError(recorder.error)
    from lab.cli import exit_codes

    if failure:
        return exit_codes.FAILED
    if status == "interrupted":
        return exit_codes.INTERRUPTED
    # As for `experiment`: diverged members are recorded results, and the status says they exist.
    return exit_codes.DIVERGED if report["diverged"] else exit_codes.COMPLETED


def recorded_options(stored: dict, session_id: str) -> dict:
    """The chunking options a sweep session recorded, checked (a damaged store is one line)."""
    from core.errors import UserError

    options = stored.get("options") if isinstance(stored, dict) else None
    options = options if isinstance(options, dict) else {}
    seconds, members, parallel = options.get("chunk_seconds"), options.get("chunk_members"), options.get("parallel", 1)

    def whole(x, top):
        return isinstance(x, int) and not isinstance(x, bool) and 1 <= x <= top

    if not (isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and 0 < seconds < MAX_CHUNK_SECONDS
            and (members is None or whole(members, 10**9)) and whole(parallel, MAX_WORKERS)):
        raise UserError(f"--resume {session_id}: the session's recorded chunking options are damaged; "
                        "start the sweep again")
    return {"chunk_seconds": float(seconds), "chunk_members": members, "parallel": parallel}


def carried_over(previous, plan) -> dict[int, dict]:
    """Chunks the previous session finished whose members are exactly those of this plan's chunk."""
    from lab.sweep_results import finished_chunks

    done = {}
    for k, record in finished_chunks(previous).items():
        if k < len(plan.chunks) and record.get("members") == plan.chunks[k].members:
            done[k] = record
    return done


class Recorder:
    """Records the sweep: the spec first, then each chunk as it finishes (one transaction each)."""

    def __init__(self, store, args, plan, options, previous, done):
        from core.train import environment, resolve_device

        from lab.sweep_results import SWEEP, chunk_name

        self.error: str | None = None
        spec = plan.spec
        env = environment(resolve_device(spec.members[0].config.train.device))
        env.update(backend=args.backend, address=args.address, workers=args.workers, members=len(spec.members))
        # A resumed sweep is a new session beside the interrupted one, whose name it cannot take:
        # "grid" continues as "grid (2)".
        name = args.name or (store.free_name(previous.name) if previous is not None and previous.name else None)
        tags = ["sweep", *args.tag, *([t for t in previous.tags if t != "sweep"] if previous is not None else [])]
        self.writer = store.create_session(spec.members[0].config, env, name=name, tags=tags, kind="sweep")
        self.id = self.writer.id
        from core.config import config_to_dict

        self.writer.put_json(SWEEP, {
            "spec": spec.to_dict(), "options": options, "points": [m.values for m in spec.members],
            "chunks": [c.members for c in plan.chunks], "groups": plan.groups,
            "resumed_from": previous.id if previous is not None else None,
        })
        self.writer.put_json("member_configs", [config_to_dict(m.config) for m in spec.members])
        for k, record in done.items():
            self.writer.put_json(chunk_name(k), record)
        self._chunk_name = chunk_name

    def chunk(self, k: int, record: dict, series: dict) -> None:
        if self.error:
            return
        from core.errors import UserError

        try:
            for key, array in series.items():
                self.writer.put_array(f"{self._chunk_name(k)} {key}", array)
            self.writer.put_json(self._chunk_name(k), record)
        except UserError as e:
            self.error = f"session {self.id}: recording stopped: {e}"
            print(f"relulab: {self.error}", file=sys.stderr)

    def finish(self, status: str) -> None:
        from core.errors import UserError

        try:
            self.writer.finish(status)
        except UserError as e:
            self.error = self.error or f"session {self.id}: {e}"


def chunk_record(plan, k: int, arrays: dict, session_id: str | None) -> tuple[dict, dict]:
    """(JSON record of a finished chunk, its series arrays)."""
    import socket

    from core.sweeps import RESULT_NAMES

    results = {name: arrays[name].tolist() for name in RESULT_NAMES}
    results["c_init"] = arrays["c_init"].tolist()
    results["c"] = arrays["c"].tolist()
    record = {"members": plan.chunks[k].members, "results": results, "computed_in": session_id,
              "driver": socket.gethostname()}
    series = {key: arrays[key] for key in ("series_steps", "series_loss", "series_test_loss", "series_c") if key in arrays}
    return record, series


def run_chunks(plan, args, results: dict, recorder, skip: set[int]) -> None:
    from core.sweeps import backends

    todo = [c for c in plan.chunks if c.index not in skip]
    total = len(plan.spec.members)
    done_members = sum(len(plan.chunks[k].members) for k in skip)
    state = {"in_flight": set(), "partial": {}}

    def on_done(k: int, arrays: dict) -> None:
        record, series = chunk_record(plan, k, arrays, recorder.id if recorder else None)
        if recorder:
            recorder.chunk(k, record, series)
        results[k] = record
        state["in_flight"].discard(k)
        state["partial"].pop(k, None)
        state["done"] = state.get("done", done_members) + len(plan.chunks[k].members)
        update()

    def on_start(k: int) -> None:
        state["in_flight"].add(k)
        update()

    def on_progress(k: int, fraction: float) -> None:
        state["partial"][k] = fraction * len(plan.chunks[k].members)
        update(throttle=True)

    bar = Bar(total, done_members, len(todo), quiet=args.json)

    def update(throttle: bool = False) -> None:
        bar.show(state.get("done", done_members) + sum(state["partial"].values()), len(state["in_flight"]), throttle)

    payloads = plan.payloads(skip)
    with bar:
        if args.backend == "ray":
            backends.run_ray(payloads, on_done, on_start, address=args.address)
        else:
            backends.run_local(payloads, on_done, on_start, on_progress, workers=args.workers)


class Bar:
    """Members done / total, chunks in flight and ETA: a rich bar on a terminal, lines otherwise."""

    def __init__(self, total: int, done: int, chunks: int, quiet: bool):
        self.total, self.quiet, self.chunks = total, quiet, chunks
        self.progress = None
        self.last = 0.0
        self.next_line = 0.0
        self.started = time.perf_counter()
        self.first = done

    def __enter__(self):
        if self.quiet:
            return self
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("members  {task.fields[flight]} chunk(s) in flight"),
                                     TimeRemainingColumn(), console=Console(stderr=True))
            self.progress.__enter__()
            self.task = self.progress.add_task("sweep", total=self.total, completed=self.first, flight=0)
        else:
            print(f"sweep: {self.total} members, {self.chunks} chunk(s) to run", file=sys.stderr, flush=True)
        return self

    def show(self, done: float, flight: int, throttle: bool) -> None:
        now = time.perf_counter()
        if self.quiet or (throttle and now - self.last < 0.2):
            return
        self.last = now
        if self.progress is not None:
            self.progress.update(self.task, completed=done, flight=flight)
        elif not throttle and now >= self.next_line:
            rate = (done - self.first) / max(now - self.started, 1e-9)
            eta = f", about {(self.total - done) / rate:.0f} s left" if rate > 0 and done < self.total else ""
            print(f"sweep: {done:.0f}/{self.total} members, {flight} chunk(s) in flight{eta}", file=sys.stderr, flush=True)
            self.next_line = now + 5.0

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)


def dry_run(plan, args, at_once: int) -> int:
    from core.sweeps.runner import probe

    spec = plan.spec
    estimate = sum(plan.estimates)
    # The nominal rate is the same everywhere (it sizes chunks); a few timed steps of the biggest
    # chunk say what it means on this machine.
    biggest = max(range(len(plan.chunks)), key=lambda k: plan.estimates[k])
    chunk = plan.chunks[biggest]
    factor, probed = probe([spec.members[i].config for i in chunk.members], plan.datasets[chunk.group])
    here = estimate * factor / min(at_once, len(plan.chunks))
    report = {
        "members": len(spec.members), "axes": spec.axis_keys, "groups": len(plan.groups),
        "chunks": len(plan.chunks), "members_per_chunk": [len(c.members) for c in plan.chunks],
        "device": plan.device_type, "memory_bytes_per_chunk": round(plan.memory_bytes()),
        "estimated_seconds": float(f"{estimate:.3g}"), "estimated_seconds_here": float(f"{here:.3g}"),
        "backend": args.backend, "workers": args.workers, "chunks_at_once": min(at_once, len(plan.chunks)),
    }
    if args.json:
        print(strict_json.dumps(report))
        return 0
    from rich.console import Console
    from rich.text import Text

    console = Console()
    console.print(Text(f"{spec.source}: {len(spec.members)} members over {', '.join(spec.axis_keys)}"))
    console.print(f"{len(plan.groups)} group(s) (members that train together), {len(plan.chunks)} chunk(s) of "
                  f"{min(report['members_per_chunk'])}-{max(report['members_per_chunk'])} members"
                  + (f", {args.workers} at a time" if args.workers else ""))
    console.print(f"largest chunk needs about {plan.memory_bytes() / 2**20:.0f} MiB on {plan.device_type}")
    where = f"{args.workers} worker(s)" if args.workers else f"{at_once} Ray CPU(s)"
    console.print(f"about {here:.0f} s here ({where}; timed {probed} steps of chunk {biggest}); "
                  f"chunks are sized in nominal seconds, {estimate:.0f} in all")
    return 0


def build_report(plan, results: dict, status: str, seconds: float, args, recorder, carried: int) -> dict:
    from core.sweeps import RESULT_NAMES

    spec = plan.spec
    rows = []
    by_member = {}
    for record in results.values():
        for j, i in enumerate(record["members"]):
            by_member[i] = {name: record["results"][name][j] for name in RESULT_NAMES}
    for m in spec.members:
        rows.append({"member": m.index, **m.values, **by_member.get(m.index, {"status": "pending"})})
    statuses = [r["status"] for r in rows]
    return {
        "status": status, "session": recorder.id if recorder else None, "backend": args.backend,
        "workers": args.workers, "members": len(rows), "completed": statuses.count("completed"), "diverged": statuses.count("diverged"),
        "pending": statuses.count("pending"), "chunks": len(plan.chunks), "chunks_resumed": carried,
        "seconds": round(seconds, 3), "axes": spec.axis_keys, "rows": rows,
    }


def json_safe(x):
    """NaN and infinities (diverged members, absent test splits) as null: valid JSON."""
    if isinstance(x, float):
        return x if x == x and abs(x) != float("inf") else None
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    return x


SHOWN = ("status", "loss", "test_loss", "test_accuracy", "pathological_init", "signs_init", "signs", "hops")


def print_report(plan, report: dict) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    console.print(Text(f"{report['status']}: {report['completed']} completed, {report['diverged']} diverged, "
                       f"{report['pending']} not run, of {report['members']} members in {report['seconds']:.1f} s "
                       f"({report['chunks']} chunks, {report['chunks_resumed']} carried over)"))
    rows = report["rows"]
    table = Table(box=None, header_style="bold")
    # Columns with nothing to say (no test split, no accuracy for mse) are left out.
    shown = [c for c in SHOWN if any(_cell(r.get(c)) not in ("", "nan") for r in rows)]
    columns = ["member", *report["axes"], *shown]
    for c in columns:
        table.add_column(Text(c), justify="right", no_wrap=True)
    for row in rows[:30]:
        table.add_row(*[Text(_cell(row.get(c))) for c in columns])
    console.print(table)
    if len(rows) > 30:
        console.print(f"... and {len(rows) - 30} more ('relulab sessions csv ID' writes every row)")
    if report["session"]:
        console.print(Text(f"session {report['session']}"))


def _cell(x) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    return "" if x is None else str(x)
