"""`relulab sessions`: list, show, config, delete, export, export-weights, import, csv, rename, tag and
note recorded runs."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core import strict_json
from sessions import Store, StoreError
from sessions import open_store as _open_store
from lab.views.printable import printable
from sessions.info import STATUSES, SessionInfo

STORE_HELP = "session store directory (default: $RELULAB_STORE, else the user data directory)"


def add_store_argument(parser: argparse.ArgumentParser, nested: bool = True) -> None:
    """Add `--store DIR`. `nested` (every command): `relulab --store DIR` itself has it too, and
    its value then survives when the option is not repeated after the command."""
    parser.add_argument("--store", metavar="DIR", help=STORE_HELP, default=argparse.SUPPRESS if nested else None)


def open_store(args_store: str | None, readonly: bool = False) -> Store:
    """--store DIR, else $RELULAB_STORE, else <user data dir>/sessions; `readonly` for commands
    that only read (they then work on a read-only store, or one whose disk is full)."""
    return _open_store(args_store, readonly=readonly)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("sessions", help="recorded runs: list, show, export, import, ...",
                              description=__doc__)
    add_store_argument(p)

    def show_help(args) -> int:  # `relulab sessions` alone
        p.print_help()
        return 0

    p.set_defaults(func=show_help)
    sub = p.add_subparsers(dest="sessions_command", metavar="ACTION")

    def action(name: str, func, help: str) -> argparse.ArgumentParser:
        q = sub.add_parser(name, help=help, description=help)
        add_store_argument(q, nested=True)
        q.set_defaults(func=func)
        return q

    q = action("list", cmd_list, "list sessions, newest first")
    q.add_argument("--tag", help="only sessions with this tag")
    q.add_argument("--status", choices=STATUSES, help="only sessions with this status")
    q.add_argument("--json", action="store_true", help="print a JSON array")
    q.add_argument("--tsv", action="store_true",
                   help="tab-separated, every column in full (the default when stdout is not a terminal)")

    q = action("show", cmd_show, "one session: summary, classification, hops")
    q.add_argument("id", metavar="ID", help="session id (any unique prefix) or name")
    q.add_argument("--json", action="store_true", help="print one JSON object")

    q = action("config", cmd_config, "print a session's config as TOML (relulab sessions config ID > again.toml)")
    q.add_argument("id", metavar="ID")

    q = action("delete", cmd_delete, "delete a session (asks first; --yes does not)")
    q.add_argument("id", metavar="ID")
    q.add_argument("-y", "--yes", action="store_true", help="delete without asking (needed when not at a terminal)")

    q = action("export-weights", cmd_export_weights,
               "write a checkpoint's parameters as .npz (np.load(..., allow_pickle=False); usable as explicit weights)")
    q.add_argument("id", metavar="ID")
    q.add_argument("--step", type=int, metavar="N",
                   help="the newest checkpoint at or before step N (default: the last checkpoint)")
    q.add_argument("-o", "--output", metavar="FILE", help="the .npz file (default: <id>_step<N>.npz)")

    q = action("export", cmd_export, "write a session into one file another machine can import")
    q.add_argument("id", metavar="ID")
    q.add_argument("-o", "--output", metavar="FILE", help="export file (default: <id>.relulab in this directory)")

    q = action("import", cmd_import, "add the session in an export file to the store")
    q.add_argument("file", metavar="FILE")

    q = action("csv", cmd_csv, "write a session's series as CSV files")
    q.add_argument("id", metavar="ID")
    q.add_argument("-o", "--output", metavar="DIR", default=".", help="directory for the CSV files (default: .)")
    q.add_argument("--max-points", type=int, metavar="N", help="downsample to at most N rows, keeping extremes")

    q = action("rename", cmd_rename, "give a session a name")
    q.add_argument("id", metavar="ID")
    q.add_argument("name", metavar="NAME", help="new name, unique in the store and not only hex digits ('' removes it)")

    q = action("tag", cmd_tag, "add tags to a session (or remove them)")
    q.add_argument("id", metavar="ID")
    q.add_argument("tags", metavar="TAG", nargs="+")
    q.add_argument("--remove", action="store_true", help="remove these tags instead")

    q = action("note", cmd_note, "add a note to a session")
    q.add_argument("id", metavar="ID")
    q.add_argument("text", metavar="TEXT", nargs="+")
    q.add_argument("--replace", action="store_true", help="replace the notes instead of adding a paragraph")

    from lab.cli import compare

    compare.add_actions(action)


# -- output helpers -------------------------------------------------------------------------------


def _console():
    from rich.console import Console

    return Console(soft_wrap=False, highlight=False)


def _print_json(data) -> None:
    sys.stdout.write(strict_json.dumps(data, indent=2) + "\n")  # NaN (a diverged run) as null


def _time(t: float | None) -> str:
    import datetime

    try:
        return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M") if t else ""
    except (OverflowError, ValueError, OSError):
        return "?"


def _num(x) -> str:
    return "" if x is None else f"{x:.4g}" if isinstance(x, float) else str(x)


STATUS_STYLE = {"running": "cyan", "completed": "green", "interrupted": "yellow", "diverged": "red", "failed": "red"}


# -- commands -------------------------------------------------------------------------------------


def _plain(value, keep_newlines: bool = False):
    """A user's string (name, tag, note, config, an imported file's anything) as rich Text:
    no markup is interpreted and control characters are shown as escapes (ESC as \\x1b)."""
    from rich.text import Text

    return Text(printable(value, keep_newlines))


def _status(i: SessionInfo):
    from rich.text import Text

    return Text(i.status, style="bold red" if i.damaged else STATUS_STYLE.get(i.status, ""))


LIST_COLUMNS = ("id", "name", "status", "created", "steps", "loss", "test loss", "l-", "comp.", "tags", "config")
NUMERIC = ("steps", "loss", "test loss", "l-", "comp.")


def list_rows(infos: list[SessionInfo]) -> list[tuple[str, ...]]:
    """One row of text per session; user strings with control characters escaped (ESC as \\x1b)."""
    from core.snapshot import count_text

    return [
        (printable(i.id), printable(i.name), i.status, _time(i.created), _num(i.final.get("step")),
         _num(i.final.get("loss")), _num(i.final.get("test_loss")), _num(i.pathological),
         "" if i.components is None else count_text(i.components), printable(", ".join(i.tags)),
         printable(f"damaged: {i.damaged}" if i.damaged else i.summary))
        for i in infos
    ]


def cmd_list(args) -> int:
    infos = open_store(args.store, readonly=True).list(tag=args.tag, status=args.status)
    if args.json:
        _print_json([i.to_dict() for i in infos])
        return 0
    rows = list_rows(infos)
    if args.tsv or not sys.stdout.isatty():
        # For pipes and files: every column, nothing cut; tabs and newlines inside a value become spaces.
        for row in [LIST_COLUMNS] + rows:
            sys.stdout.write("\t".join(" ".join(v.split()) for v in row) + "\n")
        return 0
    from rich.table import Table

    console = _console()
    if not infos:
        console.print("no sessions" + (" match" if args.tag or args.status else " yet"))
        return 0
    table = Table(box=None, header_style="bold")
    for k, column in enumerate(LIST_COLUMNS):
        squeezable = column in ("name", "tags", "config")  # the rest keep their width in a narrow terminal
        width = max(len(column), *(len(r[k]) for r in rows))
        table.add_column(column, justify="right" if column in NUMERIC else "left", no_wrap=True,
                         overflow="ellipsis", min_width=None if squeezable else width)
    for info, row in zip(infos, rows):
        cells = [_plain(v) for v in row]  # user strings (names, tags) as plain text, never markup
        cells[2] = _status(info)
        table.add_row(*cells)
    console.print(table)
    damaged = [i.id for i in infos if i.damaged]
    if damaged:
        console.print(_plain(f"{len(damaged)} damaged session(s): 'relulab sessions show ID' says why, "
                             f"'relulab sessions delete ID' removes one"))
    return 0


def cmd_show(args) -> int:
    session = open_store(args.store, readonly=True).load(args.id)
    if args.json:
        _print_json(session.to_dict())
        return 0
    from rich.table import Table
    from rich.text import Text

    from core.snapshot import count_text

    console = _console()
    i: SessionInfo = session.info
    env = session.environment
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("id", _plain(i.id))
    head.add_row("name", _plain(i.name))
    status = _status(i)
    if i.error:
        status.append(Text(f"  ({printable(i.error)})"))
    head.add_row("status", status)
    head.add_row("kind", _plain(i.kind))
    head.add_row("created", _plain(_time(i.created) + (f"   ended {_time(i.ended)}" if i.ended else "")))
    head.add_row("config", _plain(i.summary))
    head.add_row("machine", _plain(", ".join(f"{k} {v}" for k, v in env.items() if k in ("host", "device", "torch", "python"))))
    head.add_row("snapshots", _plain(f"{i.snapshots}" + (f" (last step {i.final['step']})" if i.final.get("step") is not None else "")))
    final = i.final
    head.add_row("final", _plain("  ".join(f"{k} {_num(final.get(k))}" for k in ("loss", "test_loss", "accuracy", "test_accuracy")
                                            if final.get(k) is not None)))
    head.add_row("tags", _plain(", ".join(i.tags)))
    console.print(head)
    for title, c in (("initial", session.initial), ("final", session.final)):
        if c is not None:
            line = Text(f"{title} classification", style="bold")
            line.append(printable(f": l- = {c.pathological} of {len(c.c)}, {count_text(c.components)} components "
                                  f"({c.effective_components} up to symmetry), signs {c.signs or '(none)'}"))
            console.print(line)
    if session.hops:
        table = Table(title=f"component hops ({len(session.hops)})", box=None, header_style="bold")
        for column in ("step", "neuron", "c before", "c after", "sign"):
            table.add_column(column, justify="right")
        for h in session.hops[:20]:
            table.add_row(str(h.step), str(h.neuron), f"{h.c_before:.4g}", f"{h.c_after:.4g}",
                          f"{'+' if h.sign_before > 0 else '-'} -> {'+' if h.sign_after > 0 else '-'}")
        console.print(table)
        if len(session.hops) > 20:
            console.print(f"... and {len(session.hops) - 20} more (--json lists them all)")
    from lab import sweep_results

    results = session.result_names()
    if sweep_results.is_user_sweep(session):  # members, not the chunk records, are what matters
        for line in sweep_results.summary_lines(session):
            console.print(Text(line))
    elif session.kind == "atlas" and "atlas" in results:
        show_recorded_atlas(console, session)
    elif results:
        console.print(Text("results", style="bold") + Text(": " + printable(", ".join(results))))
        if "experiment" in results:
            console.print(Text(f"'relulab replay {i.id}' draws them as the experiments screen did"))
    prov = env.get("provenance") or {}
    if prov:
        data = prov.get("data") or {}
        where = data.get("path") or data.get("name") or ""
        console.print(Text("provenance", style="bold") + _plain(
            f": relulab {prov.get('relulab', '?')}, git {prov.get('git_commit', 'unknown')}"
            + (f"; data {where}" if where else "") + (f" sha256 {data['sha256'][:16]}" if data.get("sha256") else "")))
    if session.notes:
        console.print(Text("notes", style="bold"))
        console.print(_plain(session.notes, keep_newlines=True))
    return 0


def show_recorded_atlas(console, session) -> None:
    """The atlas table and summary, as `relulab atlas` printed them; a damaged record is one line."""
    from rich.text import Text

    from lab.views.atlas import print_atlas

    try:
        print_atlas(console, session.json("atlas"))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        console.print(Text(f"session {session.id}: the recorded atlas is damaged (not an atlas report)"))


def cmd_delete(args) -> int:
    store = open_store(args.store)
    session_id = store.resolve(args.id)
    if not args.yes:
        if not sys.stdin.isatty():
            raise StoreError(f"sessions delete {session_id}: not at a terminal to ask; add --yes to delete it")
        info = next((i for i in store.list() if i.id == session_id), None)
        what = f"{session_id}" + (f" ({info.name})" if info and info.name else "") + (
            f", {info.status}, {info.summary}" if info else "")
        answer = input(f"delete session {' '.join(what.split())}? This cannot be undone [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("kept")
            return 0
    store.delete(session_id)
    print(f"deleted {session_id}")
    return 0


def cmd_config(args) -> int:
    from core.config import config_to_toml

    session = open_store(args.store, readonly=True).load(args.id)
    if session.config is None:
        raise StoreError(f"session {session.id} has no config recorded (a {session.info.kind} session)")
    sys.stdout.write(f"# the config of session {session.id}; relulab run this file to train it again\n")
    sys.stdout.write(config_to_toml(session.config))
    return 0


def cmd_export_weights(args) -> int:
    import numpy as np

    session = open_store(args.store, readonly=True).load(args.id)
    steps = session.checkpoint_steps()
    if not steps:
        raise StoreError(f"session {session.id} has no parameter checkpoints (a {session.info.kind} session "
                         "records none; a run records one every checkpoint_every steps and at its end)")
    if args.step is not None and args.step < steps[0]:
        raise StoreError(f"--step {args.step}: the first checkpoint of session {session.id} is at step {steps[0]} "
                         f"(checkpoints: {_steps_text(steps)})")
    params = session.checkpoint(steps[-1] if args.step is None else args.step)
    step = max(s for s in steps if args.step is None or s <= args.step)
    path = Path(args.output or f"{session.id}_step{step}.npz")
    if path.suffix != ".npz":
        raise StoreError(f"-o {path}: the file name must end in .npz")
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in params.to_arrays().items()}
    arrays["step"] = np.array(step, dtype=np.int64)
    try:
        with path.open("wb") as f:
            np.savez(f, **arrays)
    except OSError as e:
        raise StoreError(f"{path}: cannot write: {e.strerror or e}") from None
    print(f"{path}: parameters of session {session.id} at step {step} ({', '.join(sorted(arrays))})")
    return 0


def _steps_text(steps: list[int]) -> str:
    return ", ".join(map(str, steps[:8])) + (f", ... {steps[-1]}" if len(steps) > 8 else "")


def cmd_export(args) -> int:
    store = open_store(args.store, readonly=True)
    session_id = store.resolve(args.id)
    path = store.export(session_id, args.output or f"{session_id}.relulab")
    print(f"exported {session_id} to {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
    return 0


def cmd_import(args) -> int:
    session_id = open_store(args.store).import_(args.file)
    print(session_id)
    return 0


def cmd_csv(args) -> int:
    from sessions import write_csv

    if args.max_points is not None and args.max_points < 2:
        raise StoreError(f"--max-points {args.max_points}: must be at least 2")
    session = open_store(args.store, readonly=True).load(args.id)
    from lab import sweep_results

    if sweep_results.is_user_sweep(session):  # one row per member
        print(sweep_results.write_members_csv(session, Path(args.output)))
        return 0
    if session.info.kind != "run":  # an experiment; a sweep got its members above
        raise StoreError(f"session {session.id} is an {session.info.kind} session: it has no training series to "
                         f"write as CSV; its results are in 'relulab sessions show {session.id} --json'")
    for path in write_csv(session, Path(args.output), args.max_points):
        print(path)
    return 0


def cmd_rename(args) -> int:
    session_id = open_store(args.store).rename(args.id, args.name)
    print(f"{session_id}: {printable(args.name) or '(no name)'}")
    return 0


def cmd_tag(args) -> int:
    store = open_store(args.store)
    tags = store.tag(args.id, args.tags, remove=args.remove)
    print(f"{store.resolve(args.id)}: {printable(', '.join(tags)) or '(no tags)'}")
    return 0


def cmd_note(args) -> int:
    open_store(args.store).note(args.id, " ".join(args.text), replace=args.replace)
    return 0
