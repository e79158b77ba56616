"""`relulab config`: the schema's defaults as a commented TOML file, or the config a file resolves to."""

from __future__ import annotations

import argparse
import sys

from lab.cli.flags import add_set_argument


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("config", help="config files: defaults | show CONFIG", description=__doc__)

    def show_help(args) -> int:  # `relulab config` alone
        p.print_help()
        return 0

    p.set_defaults(func=show_help)
    sub = p.add_subparsers(dest="config_command", metavar="ACTION")
    q = sub.add_parser("defaults", help="every key at its default, commented (relulab config defaults > my.toml)",
                       description="Print every config key at its default, with its help and what it allows.")
    q.set_defaults(func=cmd_defaults)
    q = sub.add_parser("show", help="the resolved config: the file, --set overrides and defaults, validated",
                       description="Print the config CONFIG.toml resolves to: every key, the defaults filled in, "
                                   "--set applied and a relative [data] path made absolute.")
    q.add_argument("config", metavar="CONFIG.toml")
    add_set_argument(q)
    q.set_defaults(func=cmd_show)


def cmd_defaults(args: argparse.Namespace) -> int:
    from core.config import defaults_toml

    sys.stdout.write(defaults_toml())
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from core.config import config_to_toml, load_config

    config = load_config(args.config, args.set)
    sys.stdout.write(config_to_toml(config))
    return 0
