"""The `relulab` command: the console by default, plus headless subcommands."""

from __future__ import annotations

import argparse
import sys

from core.errors import UserError

# Each subcommand module exposes `add_parser(subparsers)`, which registers its parser and sets
# `func` (args -> exit status). Modules are imported lazily inside their handlers where they
# need torch or textual, so `relulab check` stays fast.
COMMAND_MODULES = ["lab.cli.check", "lab.cli.run", "lab.cli.sessions", "lab.cli.experiment", "lab.cli.ncf", "lab.cli.console"]


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="relulab", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from lab.cli import console as console_cli

    if console_cli.wants_console(argv):
        # `relulab`, `relulab CONFIG.toml`, `relulab --store DIR`: the console.
        func, args = console_cli.console_main, argv
    else:
        parser = build_parser()
        args = parser.parse_args(argv)
        func = getattr(args, "func", None)
        if not func:
            parser.print_help()
            return 0
    try:
        return int(func(args) or 0)
    except UserError as e:
        print(f"relulab: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
