"""The `relulab` command: the console by default, plus headless subcommands.

Exit status (lab/cli/exit_codes.py, docs/cli.md): 0 completed, 2 bad input (one `relulab: ...`
line on stderr), 3 a run diverged, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys

from core.errors import UserError
from lab.cli import exit_codes
from lab.cli.flags import Parser

# Each subcommand module exposes `add_parser(subparsers)`, which registers its parser and sets
# `func` (args -> exit status). Modules are imported lazily inside their handlers where they
# need torch or textual, so `relulab check` stays fast.
COMMAND_MODULES = ["lab.cli.check", "lab.cli.run", "lab.cli.rerun", "lab.cli.config", "lab.cli.sessions",
                   "lab.cli.experiment", "lab.cli.connect", "lab.cli.atlas", "lab.cli.console"]


def version() -> str:
    from core.provenance import code_version

    v = code_version()
    return f"relulab {v.get('relulab', '(not installed)')}" + (f" (git {v['git_commit']})" if "git_commit" in v else "")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    from lab.cli.console import add_console_options

    parser = Parser(prog="relulab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                    epilog="Without a COMMAND (or with only CONFIG.toml) relulab opens the console.")
    parser.add_argument("--version", action="version", version=version())
    add_console_options(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from lab.cli import console as console_cli
    from lab.cli.output import silence_stdout

    try:
        if console_cli.wants_console(argv):
            # `relulab`, `relulab CONFIG.toml`, `relulab --store DIR`: the console.
            func, args = console_cli.console_main, argv
        else:
            parser = build_parser()
            args = parser.parse_args(argv)
            func = getattr(args, "func", None)
            if not func:
                parser.print_help()
                return exit_codes.COMPLETED
        return int(func(args) or 0)
    except UserError as e:
        print(f"relulab: {' '.join(str(e).split())}", file=sys.stderr)
        return exit_codes.USER_ERROR
    except KeyboardInterrupt:
        return exit_codes.INTERRUPTED
    except BrokenPipeError:  # `relulab sessions list | head`: the reader had enough
        silence_stdout()
        return exit_codes.COMPLETED


if __name__ == "__main__":
    sys.exit(main())
