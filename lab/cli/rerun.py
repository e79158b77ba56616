"""`relulab rerun ID`: train a recorded session's config again, as a new session.

The config is the one the session stored (after its --set and flags); `--set` and the flags of
`run` change it again. A run on a data file warns when the file's bytes differ from what the
session read (its SHA-256 is part of every session's provenance).
"""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("rerun", help="train a recorded session's config again", description=__doc__)
    p.add_argument("id", metavar="ID", help="session id, unique prefix or name")
    from lab.cli.run import add_run_options

    add_run_options(p)
    p.set_defaults(func=rerun_command)


def rerun_command(args: argparse.Namespace) -> int:
    from core.config import apply_set
    from core.data import data_fingerprint
    from core.errors import UserError
    from lab.cli.flags import apply_flags
    from lab.cli.run import run_config
    from lab.cli.sessions import open_store

    session = open_store(args.store).load(args.id)
    if session.config is None or session.info.kind != "run":
        raise UserError(f"session {session.id} is a {session.info.kind} session, not a run: "
                        "'relulab experiment' reruns experiments (its provenance has the command)")
    source = f"session {session.id}"
    config = apply_set(session.config, args.set, f"{source} (--set)") if args.set else session.config
    config = apply_flags(config, args, source=f"{source} (command line)")
    recorded = (session.environment.get("provenance") or {}).get("data") or {}
    if recorded.get("sha256") and config.data.path:
        now = data_fingerprint(config)
        if now.get("sha256") != recorded["sha256"] or now.get("path") != recorded.get("path"):
            print(f"relulab: warning: the data differ from what session {session.id} read: "
                  f"{recorded.get('path')} sha256 {recorded['sha256'][:16]} then, "
                  f"{now['path']} sha256 {now['sha256'][:16]} now", file=sys.stderr)
    if not args.tag:
        args.tag = [f"rerun-of-{session.id}"]
    return run_config(config, args)
