"""Opening the console: `relulab`, `relulab CONFIG.toml`, `relulab replay ID` (all take --store DIR).

Textual and the app are imported only here, inside the handlers, so the headless subcommands
never pay for them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.config import ConfigError

CONSOLE_OPTIONS = {"--store": True, "--refresh": True}  # option -> takes a value


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("replay", help="replay a recorded session in the console",
                              description="Open the console on the replay of session ID (any unique id prefix, or its name).")
    p.add_argument("id", metavar="ID", help="session id, unique prefix or name ('relulab sessions list' shows them)")
    add_console_options(p)
    p.set_defaults(func=run_replay)


def add_console_options(parser: argparse.ArgumentParser, top: bool = False) -> None:
    """--store and --refresh. `top`: on `relulab` itself, where --store also reaches every command
    (`relulab --store DIR sessions list`) and --refresh is for the console."""
    from lab.cli.sessions import add_store_argument

    add_store_argument(parser, nested=not top)
    parser.add_argument("--refresh", metavar="HZ", type=refresh_rate, default=None if top else argparse.SUPPRESS,
                        help="console: plot refreshes per second, > 0 (default: $RELULAB_REFRESH_HZ, else 2)")


def refresh_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value <= 1000):
        raise argparse.ArgumentTypeError(f"{text}: must be a number of refreshes per second, > 0 and <= 1000")
    return value


def wants_console(argv: list[str]) -> bool:
    """True for no arguments, a .toml file first, or only the console's own options."""
    positional = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if name in CONSOLE_OPTIONS:
            i += 1 if "=" in arg else 2
            continue
        positional.append(arg)
        i += 1
    return not positional or (positional[0].endswith(".toml") and len(positional) == 1)


def console_main(argv: list[str]) -> int:
    """`relulab [CONFIG.toml] [--store DIR] [--refresh HZ]`: the console, pre-filled from CONFIG."""
    from lab.cli.flags import Parser

    parser = Parser(prog="relulab", description="The relulab lab console.")
    parser.add_argument("config", nargs="?", metavar="CONFIG.toml", help="pre-fill the set-up form from this file")
    add_console_options(parser, top=True)
    args = parser.parse_args(argv)
    return open_console(config_path=args.config, store=args.store, refresh=args.refresh)


def run_replay(args: argparse.Namespace) -> int:
    from sessions import open_store

    session_id = open_store(args.store).resolve(args.id)  # an unknown id fails here, as one line
    return open_console(store=args.store, replay=session_id, refresh=args.refresh)


def read_config_file(path: Path):
    """(Config, None) for a valid file; (None, raw tables) for TOML with mistakes the form will show.

    A file that is missing or not TOML at all raises ConfigError (the CLI prints it and exits 2).
    """
    from core.config import config_from_toml, read_config_text, tomllib

    text = read_config_text(path)
    try:
        return config_from_toml(text, str(path), base=path.parent), None
    except ConfigError:
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
        return None, raw


def open_console(config_path: str | None = None, store: str | None = None, replay: str | None = None,
                 refresh: float | None = None) -> int:
    config = raw = None
    path = Path(config_path) if config_path else None
    if path is not None:
        config, raw = read_config_file(path)
    from lab.app import RelulabApp

    app = RelulabApp(config, raw=raw, config_path=path, store_path=store, replay=replay, refresh_hz=refresh)
    try:
        app.run()
    finally:
        if app.live_run is not None:
            app.live_run.stop()  # the worker thread then closes the record as interrupted
    return 0


if __name__ == "__main__":
    sys.exit(console_main(sys.argv[1:]))
