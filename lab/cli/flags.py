"""Command-line flags generated from the config schema, so no field is described twice."""

from __future__ import annotations

import argparse

from core.config import Config, check_value, config_from_dict, config_to_dict, field_type, schema_fields

class Parser(argparse.ArgumentParser):
    """argparse with its mistakes said in one line, as every other user error is (exit status 2)."""

    def error(self, message: str):
        command = self.prog.removeprefix("relulab").strip()
        message = message.removeprefix("argument ")
        self.exit(2, f"relulab: {command + ': ' if command else ''}{message} (--help shows the usage)\n")


SET_HELP = ("override any config key, validated like the file: --set train.lr=0.1 model.hidden=8 "
            "(relulab config defaults lists the keys)")


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    """`--set SECTION.KEY=VALUE ...` (repeatable); the items land in args.set."""
    parser.add_argument("--set", metavar="KEY=VALUE", nargs="+", action="extend", default=[], help=SET_HELP)


def flag_given(args: argparse.Namespace, section: str, name: str) -> bool:
    return getattr(args, f"{section}.{name}", None) is not None


def _parse_bool(text: str) -> bool:
    if text.lower() in ("true", "yes", "1", "on"):
        return True
    if text.lower() in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_schema_flag(parser: argparse.ArgumentParser, section: str, name: str, flag: str | None = None) -> None:
    """Add `--flag` for one schema field; its value lands in args as `section.name`."""
    f = next(f for f in schema_fields(section) if f.name == name)
    base, _ = field_type(section, name)
    kwargs = dict(dest=f"{section}.{name}", default=None, help=f"{f.metadata['help']} [{section}] {name}")
    if base is bool:
        kwargs["type"] = _parse_bool
        kwargs["metavar"] = "BOOL"
    elif base in (int, float):
        # Parsed loosely here and checked by the schema, so the error names the field.
        kwargs["type"] = lambda s, b=base: _number(s, b)
        kwargs["metavar"] = "N" if base is int else "X"
    else:
        kwargs["metavar"] = "|".join(f.metadata["choices"]) if f.metadata.get("choices") else name.upper()
    parser.add_argument(flag or "--" + name.replace("_", "-"), **kwargs)


def _number(text: str, base: type):
    try:
        return int(text) if base is int else float(text)
    except ValueError:
        return text  # the schema rejects it with the field's own message


def apply_flags(config: Config, args: argparse.Namespace, source: str = "command line") -> Config:
    """A copy of `config` with every schema flag the user gave, validated by the schema."""
    data = config_to_dict(config)
    changed = False
    for dest, value in vars(args).items():
        if "." not in dest or value is None:
            continue
        section, name = dest.split(".", 1)
        data[section][name] = check_value(section, name, value, source)
        changed = True
    return config_from_dict(data, source) if changed else config
