"""`relulab atlas CONFIG.toml`: the lowest loss each effective component of H(c) reaches, the run's
own component and the obstruction gap; `relulab atlas ID` re-draws a recorded atlas.

Every component gets --restarts starting points drawn inside it, trained together with a rebalanced
reference (every c_k -> |c_k|) as one batched sweep of projected GD. Exit status: 0 completed,
2 bad input, 3 some member diverged, 130 interrupted (Ctrl-C; what was reached is still reported).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from core import strict_json
from lab.cli.exit_codes import for_status
from lab.cli.flags import add_schema_flag, apply_flags
from lab.cli.output import say
TRAINING_FLAGS = ("restarts", "seed", "max_components", "train.steps", "train.lr", "train.device")


def add_parser(subparsers) -> None:
    from core.atlas import DEFAULT_MAX_COMPONENTS, DEFAULT_RESTARTS

    p = subparsers.add_parser("atlas", help="floor of every component of H(c) and the obstruction gap",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="CONFIG.toml|ID", help="a config to map, or a recorded atlas to re-draw")
    p.add_argument("--restarts", type=int, metavar="R",
                   help=f"starting points per component (default {DEFAULT_RESTARTS})")
    add_schema_flag(p, "train", "steps")
    add_schema_flag(p, "train", "lr")
    add_schema_flag(p, "train", "device")
    p.add_argument("--seed", type=int, metavar="N", help="seed of the drawn starting points (default 0)")
    p.add_argument("--max-components", type=int, metavar="N",
                   help=f"refuse an H(c) with more effective components (default {DEFAULT_MAX_COMPONENTS})")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end (no progress bar)")
    p.add_argument("--name", help="a name for the recorded atlas")
    p.add_argument("--no-save", action="store_true", help="do not record the atlas in the session store")
    from lab.cli.sessions import add_store_argument

    add_store_argument(p)
    p.set_defaults(func=atlas_command)


def atlas_command(args: argparse.Namespace) -> int:
    from core.errors import UserError

    source = Path(args.source)
    if source.is_file():
        return map_config(args)
    if args.source.endswith(".toml") or "/" in args.source:
        raise UserError(f"{args.source}: no such file")
    given = [f for f in TRAINING_FLAGS if getattr(args, f, None) is not None]
    if given:
        shown = ", ".join("--" + f.split(".")[-1].replace("_", "-") for f in given)
        raise UserError(f"{args.source}: re-drawing a recorded atlas takes no training options ({shown}); "
                        "give a config file to map a new one")
    return redraw(args)


def map_config(args: argparse.Namespace) -> int:
    import threading

    from core.atlas import DEFAULT_MAX_COMPONENTS, DEFAULT_RESTARTS, atlas, atlas_config
    from core.config import load_config
    from core.errors import UserError

    config = apply_flags(load_config(args.source), args,
                         source=f"{args.source} (command line)")
    restarts = DEFAULT_RESTARTS if args.restarts is None else args.restarts
    max_components = DEFAULT_MAX_COMPONENTS if args.max_components is None else args.max_components
    seed = 0 if args.seed is None else args.seed
    if seed < 0:
        raise UserError(f"--seed {seed}: must be an integer >= 0")
    if args.name is not None and not args.no_save:  # refused before the training, not after
        from lab.cli.sessions import open_store
        from sessions.store import check_name

        taken = open_store(args.store).name_taken(check_name(args.name))
        if taken:
            raise UserError(f"--name {args.name!r}: taken by session {taken}: names are unique in a store")
    stop = threading.Event()
    # First Ctrl-C stops training after the current step (the atlas of what was reached is
    # reported and recorded); a second one aborts.
    previous = signal.signal(signal.SIGINT, lambda *_: (stop.set(), signal.signal(signal.SIGINT, previous)))
    try:
        result = with_progress(lambda progress: atlas(config, restarts=restarts, seed=seed, max_components=max_components,
                                                      stop=stop, progress=progress),
                               config.train.steps, quiet=args.json)
    finally:
        signal.signal(signal.SIGINT, previous)
    report = result.to_dict()
    session, store_error = (None, None)
    if not args.no_save:
        session, store_error = record(args, atlas_config(config), result, report)
    report["session"] = session
    if args.json:
        say(strict_json.dumps(report))
    else:
        show(report)
    if store_error:
        raise UserError(store_error)
    return for_status(result.status)


def with_progress(compute, total: int, quiet: bool):
    """Run compute(progress) with a rich bar on a terminal, a line per 10% otherwise, nothing if quiet."""
    if quiet:
        return compute(None)
    if sys.stdout.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("[bold]atlas"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
                      TimeRemainingColumn(), transient=True) as bar:
            task = bar.add_task("atlas", total=total)
            return compute(lambda done, steps: bar.update(task, completed=done))
    started = time.perf_counter()
    next_report = [0]

    def progress(done: int, steps: int) -> None:
        if done >= next_report[0]:
            say(f"atlas: step {done:>8}/{steps}  {time.perf_counter() - started:.1f} s")
            next_report[0] = done + max(1, steps // 10)

    return compute(progress)


def record(args, config, result, report: dict) -> tuple[str | None, str | None]:
    """Record the atlas as a session of kind 'atlas'; returns (session id, error). A store fault is
    reported after the atlas is shown, never instead of it."""
    from core.errors import UserError
    from lab.atlas_report import record_atlas
    from lab.cli.sessions import open_store

    try:
        return record_atlas(open_store(args.store), config, result, report, args.name,
                            f"atlas {Path(args.source).stem}"), None
    except (UserError, OSError, ValueError) as e:
        return None, f"the atlas was computed but not recorded: {e}"


def redraw(args: argparse.Namespace) -> int:
    from core.errors import UserError
    from lab.cli.sessions import open_store

    session = open_store(args.store).load(args.source)
    if session.kind != "atlas":
        raise UserError(f"session {session.id} is a {session.kind}, not an atlas; "
                        "'relulab atlas CONFIG.toml' maps a config ('relulab sessions show' shows a session)")
    report = session.json("atlas")
    try:
        report = dict(report, session=session.id)
        text = strict_json.dumps(report) if args.json else None
        if not args.json:
            show(report)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UserError(f"session {session.id}: the recorded atlas is damaged (not an atlas report)") from None
    if text is not None:
        say(text)
    return 0


def show(report: dict) -> None:
    from rich.console import Console

    from lab.views.atlas import print_atlas

    console = Console()
    print_atlas(console, report)
    if report.get("session"):
        console.print(f"session [bold]{report['session']}[/]")
