"""A sweep spec: a base config and axes over schema keys, expanded into validated members.

    base = "breast_cancer.toml"      # optional, relative to the spec file; inline tables override it
    [train]
    steps = 500
    [sweep]
    mode = "product"                  # or "zip": the i-th value of every axis together
    "init.seed" = "0-99"              # an integer range, both ends included
    "train.lr" = [0.01, 0.1]          # a list of values
    "init.pathological,init.signs" = [[1, "-"], [2, "--"]]   # keys that move together

Several `[[sweep]]` tables instead of one `[sweep]` concatenate their members (each its own
product or zip), for grids that are not one rectangle. Every member's config is validated here,
before any work, through the schema (core.config.with_values).
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from core.config import SECTIONS, Config, ConfigError, read_config_text, resolve_paths, split_key, with_values

MODES = ("product", "zip")
OPTIONS = ("mode", "series")  # the non-axis keys of a [sweep] table
MAX_MEMBERS = 1_000_000
RANGE = re.compile(r"\s*(\d+)\s*-\s*(\d+)\s*")


@dataclass
class Axis:
    keys: tuple[str, ...]  # one schema key, or several that move together
    values: list[tuple]  # one tuple per point, a value per key

    @property
    def name(self) -> str:
        return ",".join(self.keys)


@dataclass
class Member:
    index: int
    values: dict  # dotted key -> value, this member's point on the axes
    config: Config


@dataclass
class SweepSpec:
    source: str  # where it came from (the spec file's path), for messages
    text: str  # the spec as written
    base: dict  # the base config, nested dicts (base file merged with inline tables)
    blocks: list[tuple[str, list[Axis]]]  # (mode, axes) per [sweep] table
    series: int  # points of the thinned loss / c_k series kept per member (0: none)
    members: list[Member] = field(default_factory=list)

    @property
    def axis_keys(self) -> list[str]:
        """Every swept key, in order of first appearance."""
        keys: list[str] = []
        for _, axes in self.blocks:
            for axis in axes:
                keys += [k for k in axis.keys if k not in keys]
        return keys

    def to_dict(self) -> dict:
        """What a session stores: enough to show and to re-expand the sweep."""
        return {
            "source": self.source, "text": self.text, "base": self.base, "series": self.series,
            "blocks": [{"mode": mode, "axes": [{"keys": list(a.keys), "values": [list(v) for v in a.values]}
                                               for a in axes]} for mode, axes in self.blocks],
            "axis_keys": self.axis_keys,
        }


def load_spec(path: str | Path, overrides: dict | None = None) -> SweepSpec:
    path = Path(path)
    return parse_spec(read_config_text(path), str(path), base_dir=path.parent, overrides=overrides)


def parse_spec(text: str, source: str = "spec", base_dir: Path | None = None, overrides: dict | None = None) -> SweepSpec:
    """Parse and expand a spec; every member is validated. Raises ConfigError (one line).
    `overrides` (dotted keys, e.g. {"train.device": "cpu"}) are set on the base config."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML: {e}") from None
    base = base_config(data, source, base_dir or Path("."), overrides or {})
    tables = data.get("sweep")
    if isinstance(tables, dict):
        tables = [tables]
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f'{source}: needs a [sweep] table of axes, e.g. "init.seed" = "0-9"')
    blocks, series = [], 0
    for n, table in enumerate(tables):
        where = f"{source}: [sweep]" if len(tables) == 1 else f"{source}: [[sweep]] {n + 1}"
        mode = table.get("mode", "product")
        if mode not in MODES:
            raise ConfigError(f"{where} mode = {json.dumps(mode)}: must be one of {', '.join(MODES)}")
        if "series" in table:
            series = table["series"]
            if isinstance(series, bool) or not isinstance(series, int) or not 0 <= series <= 10_000:
                raise ConfigError(f"{where} series = {json.dumps(series)}: must be an integer between 0 and 10000 "
                                  "(points of the loss / c_k series kept per member)")
        axes = [parse_axis(key, value, where) for key, value in table.items() if key not in OPTIONS]
        if not axes:
            raise ConfigError(f'{where}: no axes; add one, e.g. "init.seed" = "0-9"')
        if mode == "zip" and len({len(a.values) for a in axes}) > 1:
            sizes = ", ".join(f"{a.name} {len(a.values)}" for a in axes)
            raise ConfigError(f"{where}: mode = \"zip\" needs axes of one length; they have {sizes}")
        blocks.append((mode, axes))
    spec = SweepSpec(source=source, text=text, base=base, blocks=blocks, series=series)
    spec.members = expand(spec)
    return spec


def base_config(data: dict, source: str, base_dir: Path, overrides: dict) -> dict:
    """The base config as nested dicts: `base = "file.toml"` (relative to the spec), then the
    spec's own [model] / [init] / [data] / [train] tables on top."""
    unknown = [k for k in data if k not in (*SECTIONS, "sweep", "base")]
    if unknown:
        raise ConfigError(f"{source}: unknown key or table {unknown[0]!r}: allowed are base, "
                          "[model], [init], [data], [train] and [sweep]")
    merged: dict = {}
    if "base" in data:
        if not isinstance(data["base"], str) or not data["base"]:
            raise ConfigError(f"{source}: base = {json.dumps(data['base'])}: must be the path of a config file")
        path = base_dir / data["base"]
        try:
            merged = tomllib.loads(read_config_text(path))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
        # A data file named by the base config is found next to that config.
        merged = {s: dict(v) if isinstance(v, dict) else v for s, v in resolve_paths(merged, path.parent).items()}
    data = resolve_paths(data, base_dir)  # ... and one named by the spec, next to the spec
    for section in SECTIONS:
        if section in data:
            if not isinstance(data[section], dict):
                raise ConfigError(f"{source}: [{section}] must be a table of keys")
            merged.setdefault(section, {})
            if not isinstance(merged[section], dict):
                raise ConfigError(f"{source}: [{section}] must be a table of keys")
            merged[section].update(data[section])
    for key, value in overrides.items():
        section, name = split_key(key, source)
        merged.setdefault(section, {})[name] = value
    with_values(merged, {}, f"{source} (base config)")  # the base alone must be valid
    return merged


def parse_axis(key: str, value, where: str) -> Axis:
    keys = tuple(k.strip() for k in key.split(","))
    for k in keys:
        split_key(k, f"{where} axis {key!r}")
    if len(set(keys)) != len(keys):
        raise ConfigError(f"{where} axis {key!r}: names a key twice")
    if isinstance(value, str):
        match = RANGE.fullmatch(value)
        if not match or len(keys) != 1:
            raise ConfigError(f"{where} axis {key!r} = {json.dumps(value)}: must be an array of values "
                              "or an integer range \"A-B\" (e.g. \"0-99\")")
        lo, hi = int(match[1]), int(match[2])
        if lo > hi or hi - lo >= MAX_MEMBERS:
            raise ConfigError(f"{where} axis {key!r} = {json.dumps(value)}: a range A-B needs A <= B "
                              f"and fewer than {MAX_MEMBERS} values")
        return Axis(keys, [(v,) for v in range(lo, hi + 1)])
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where} axis {key!r}: must be a non-empty array of values or an integer range \"A-B\"")
    if len(keys) == 1:
        return Axis(keys, [(v,) for v in value])
    points = []
    for v in value:
        if not isinstance(v, list) or len(v) != len(keys):
            raise ConfigError(f"{where} axis {key!r}: every point must be an array of {len(keys)} values "
                              f"(one per key), not {json.dumps(v)}")
        points.append(tuple(v))
    return Axis(keys, points)


def expand(spec: SweepSpec) -> list[Member]:
    """Every member, in order, each config validated; the first bad one is one line naming the
    member, its axis values and the key at fault."""
    points: list[dict] = []
    for mode, axes in spec.blocks:
        if mode == "product":
            count = 1
            for a in axes:
                count *= len(a.values)
            if len(points) + count > MAX_MEMBERS:
                raise ConfigError(f"{spec.source}: {len(points) + count} members: at most {MAX_MEMBERS} in one sweep")
            combos = itertools.product(*(a.values for a in axes))
        else:
            combos = zip(*(a.values for a in axes))
        for combo in combos:
            point = {}
            for axis, values in zip(axes, combo):
                point.update(zip(axis.keys, values))
            points.append(point)
    members = []
    for i, point in enumerate(points):
        shown = ", ".join(f"{k} = {json.dumps(v)}" for k, v in point.items())
        config = with_values(spec.base, point, f"{spec.source}: member {i} ({shown})")
        members.append(Member(i, point, config))
    return members


def spec_from_dict(stored: dict) -> SweepSpec:
    """A spec as `SweepSpec.to_dict` stored it (base already resolved: no files are read)."""
    try:
        blocks = [(b["mode"], [Axis(tuple(a["keys"]), [tuple(v) for v in a["values"]]) for a in b["axes"]])
                  for b in stored["blocks"]]
        spec = SweepSpec(source=str(stored["source"]), text=str(stored["text"]), base=dict(stored["base"]),
                         blocks=blocks, series=int(stored["series"]))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ConfigError(f"stored sweep spec is damaged ({e})") from None
    spec.members = expand(spec)
    return spec
