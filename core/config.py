"""The one configuration schema: model / init / data / train.

Each section is a dataclass; each field carries its help text, its allowed values and its range
in `metadata`. Validation, the CLI flags, the TUI panes and what a session stores all read these
dataclasses, so a field is declared exactly once, here.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import tomli_w

from core.errors import UserError

ACTIVATIONS = ("relu", "leaky_relu", "abs", "linear", "tanh", "gelu")
HOMOGENEOUS = ("relu", "leaky_relu", "abs", "linear")
SCHEMES = ("xavier_normal", "xavier_uniform", "kaiming_normal", "kaiming_uniform", "normal", "torch_default")
DATASETS = ("abs", "xor", "teacher", "gaussians", "breast_cancer")
LOSSES = ("mse", "bce", "cross_entropy")
OPTIMIZERS = ("gd", "sgd", "momentum", "adam", "projected_gd")
DTYPES = ("float32", "float64")
# Upper bound of the real-valued knobs: 1e308 overflows a float32 tensor (3.4e38). A huge
# learning rate is a fine way to watch a run diverge, so the bound only keeps the value a float32.
LARGEST = 1e30


# Initial weights beyond this overflow c_k = ||W_k||^2 - ||v_k||^2 in float32 (and are no experiment).
MAX_WEIGHT = 1e6
FULL_BATCH_OPTIMIZERS = ("gd", "projected_gd")


class ConfigError(UserError):
    """A bad configuration value; the message is one line naming source, key, value and what is allowed."""


def spec(default, help: str, *, choices=None, minimum=None, maximum=None, above=None, pattern=None, allowed=None):
    """A schema field: its default and what is allowed (`above` is an exclusive lower bound;
    `allowed` describes a `pattern` in words)."""
    meta = dict(help=help, choices=choices, minimum=minimum, maximum=maximum, above=above, pattern=pattern, allowed=allowed)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class ModelConfig:
    inputs: int | None = spec(None, "input features (empty: taken from the dataset)", minimum=1, maximum=100_000)
    hidden: int = spec(2, "hidden neurons l", minimum=1, maximum=100_000)
    outputs: int = spec(1, "outputs e (classes for cross_entropy)", minimum=1, maximum=10_000)
    bias: bool = spec(True, "hidden bias b_k (part of W_k)")
    output_bias: bool = spec(False, "output bias (belongs to no neuron)")
    activation: str = spec("relu", "hidden activation", choices=ACTIVATIONS)
    negative_slope: float = spec(0.01, "leaky_relu slope for z < 0", minimum=0.0, maximum=LARGEST)


@dataclass
class InitConfig:
    scheme: str = spec("xavier_normal", "initialisation scheme (torch.nn.init)", choices=SCHEMES)
    scale: float = spec(1.0, "multiplies every drawn initial weight (not explicit arrays)", above=0.0, maximum=MAX_WEIGHT)
    std: float = spec(1.0, "standard deviation of the 'normal' scheme", above=0.0, maximum=MAX_WEIGHT)
    seed: int = spec(0, "random seed of the initialisation", minimum=0)
    hidden_bias: str = spec("auto", "initial hidden bias: scheme draws it like a weight entry, auto = scheme for torch_default (nn.Linear's own), zeros otherwise", choices=("auto", "zeros", "scheme"))
    pathological: int | None = spec(None, "prescribe exactly k neurons with c_k < 0", minimum=0)
    signs: str | None = spec(None, "output signs of the prescribed pathological neurons, e.g. '+-' (alone, it prescribes len(signs) pathological neurons)", pattern=r"[+-]+", allowed="a string of + and - signs")
    rebalance: bool = spec(False, "rescale every neuron to c_k >= 0 at init, explicit weights too (function unchanged)")
    rebalance_ratio: float | None = spec(None, "||W_k|| / ||v_k|| of a rebalanced pathological neuron (empty: swap the two norms)", minimum=1.0)
    hidden_weight: list | None = spec(None, "explicit hidden weights (hidden x inputs)")
    hidden_bias_values: list | None = spec(None, "explicit hidden biases (hidden)")
    output_weight: list | None = spec(None, "explicit output weights (outputs x hidden)")


@dataclass
class DataConfig:
    name: str | None = spec("abs", "built-in dataset (ignored when a path is given)", choices=DATASETS)
    path: str | None = spec(None, "CSV or NPZ file: features and a target column")
    target: str | None = spec(None, "target column name (CSV header) or NPZ key; default: last column / 'y'")
    samples: int | None = spec(None, "number of samples (synthetic sets only; default per dataset)", minimum=1)
    noise: float = spec(0.0, "noise added to synthetic targets / inputs (synthetic sets only)", minimum=0.0, maximum=LARGEST)
    test_fraction: float | None = spec(None, "held-out fraction (default: 0.3 for breast_cancer, else 0)", minimum=0.0, maximum=0.9)
    seed: int = spec(0, "random seed of the data (sampling, split, teacher)", minimum=0)


@dataclass
class TrainConfig:
    loss: str = spec("mse", "loss", choices=LOSSES)
    optimizer: str = spec("gd", "optimizer", choices=OPTIMIZERS)
    lr: float = spec(0.05, "learning rate", above=0.0, maximum=LARGEST)
    steps: int = spec(2000, "training steps", minimum=1)
    batch_size: int | None = spec(None, "minibatch size for sgd, momentum, adam (empty: full batch)", minimum=1)
    momentum: float = spec(0.9, "momentum coefficient", minimum=0.0, maximum=0.999999)
    weight_decay: float = spec(0.0, "L2 weight decay lambda", minimum=0.0, maximum=LARGEST)
    device: str = spec("auto", "auto | cpu | cuda | cuda:N", pattern=r"auto|cpu|cuda(:\d+)?", allowed="auto, cpu, cuda or cuda:N")
    dtype: str = spec("float32", "floating-point precision", choices=DTYPES)
    log_every: int = spec(10, "steps between snapshots", minimum=1)
    checkpoint_every: int = spec(0, "steps between parameter checkpoints (0: 100 x log_every)", minimum=0)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    init: InitConfig = field(default_factory=InitConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


SECTIONS: dict[str, type] = {"model": ModelConfig, "init": InitConfig, "data": DataConfig, "train": TrainConfig}


def schema_fields(section: str) -> list[dataclasses.Field]:
    return list(dataclasses.fields(SECTIONS[section]))


@functools.lru_cache(maxsize=None)
def _type_hints(section: str) -> dict:
    # Resolving string annotations is slow (~0.2 ms); a sweep validates thousands of configs.
    return typing.get_type_hints(SECTIONS[section])


def field_type(section: str, name: str) -> tuple[type, bool]:
    """The field's base type and whether it may be empty (None)."""
    hint = _type_hints(section)[name]
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        base = next(a for a in args if a is not type(None))
        return (typing.get_origin(base) or base), True
    return (typing.get_origin(hint) or hint), False


def allowed_text(section: str, f: dataclasses.Field) -> str:
    """What a field accepts, in words (the tail of every error message about it)."""
    m = f.metadata
    base, optional = field_type(section, f.name)
    if m.get("choices"):
        text = "one of " + ", ".join(m["choices"])
    elif m.get("allowed"):
        text = m["allowed"]
    elif base is bool:
        text = "true or false"
    elif base is str:
        text = "a string"
    elif base is list:
        text = f"an array of numbers with |x| <= {MAX_WEIGHT:g}"
    else:
        kind = "an integer" if base is int else "a number"
        bounds = []
        if m.get("above") is not None:
            bounds.append(f"> {m['above']:g}")
        if m.get("minimum") is not None:
            bounds.append(f">= {m['minimum']:g}")
        if m.get("maximum") is not None:
            bounds.append(f"<= {m['maximum']:g}")
        text = kind + (" " + " and ".join(bounds) if bounds else "")
    return text + (" (or omitted)" if optional else "")


def _fail(source: str, key: str, value, allowed: str) -> ConfigError:
    # JSON spells values as TOML does (true, "text", [1.0, 2]) and always on one line.
    shown = json.dumps(value, default=str) if value is not None else "(empty)"  # str: TOML dates
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return ConfigError(f"{source}: {key} = {shown}: must be {allowed}")


def check_value(section: str, name: str, value, source: str = "config"):
    """Validate and normalise one field's value; raise ConfigError with the one-line message."""
    f = next((f for f in schema_fields(section) if f.name == name), None)
    key = f"[{section}] {name}"
    if f is None:
        allowed = ", ".join(x.name for x in schema_fields(section))
        raise ConfigError(f"{source}: unknown key {key}: allowed keys are {allowed}")
    base, optional = field_type(section, name)
    m = f.metadata
    raw = value
    if value is None:
        if optional:
            return None
        raise _fail(source, key, value, allowed_text(section, f))
    if base is bool:
        ok = isinstance(value, bool)
    elif base is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif base is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok:
            value = float(value)
    elif base is str:
        ok = isinstance(value, str)
    elif base is list:
        ok = _numeric_array(value)
    else:  # pragma: no cover - schema error
        raise TypeError(base)
    if not ok:
        raise _fail(source, key, value, allowed_text(section, f))
    if m.get("choices") and value not in m["choices"]:
        raise _fail(source, key, value, allowed_text(section, f))
    if m.get("pattern") and not re.fullmatch(m["pattern"], value):
        raise _fail(source, key, value, allowed_text(section, f))
    if base in (int, float):
        if (m.get("minimum") is not None and value < m["minimum"]) or (
            m.get("maximum") is not None and value > m["maximum"]) or (
            m.get("above") is not None and value <= m["above"]):
            raise _fail(source, key, raw, allowed_text(section, f))
    return value


def _numeric_array(value) -> bool:
    if not isinstance(value, list) or not value:
        return False
    for x in value:
        if isinstance(x, list):
            if not _numeric_array(x) or any(isinstance(y, list) for y in x):
                return False
        elif isinstance(x, bool) or not isinstance(x, (int, float)) or not abs(x) <= MAX_WEIGHT:
            return False
    return True


def config_from_dict(data: dict, source: str = "config") -> Config:
    """Build a validated Config from nested dicts (as TOML gives them)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected tables [model], [init], [data], [train]")
    sections = {}
    for section, values in data.items():
        if section not in SECTIONS:
            raise ConfigError(f"{source}: unknown section [{section}]: allowed are [model], [init], [data], [train]")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{section}] must be a table of keys")
        sections[section] = {k: check_value(section, k, v, source) for k, v in values.items()}
    config = Config(**{s: SECTIONS[s](**sections.get(s, {})) for s in SECTIONS})
    check_consistency(config, source)
    return config


def check_consistency(config: Config, source: str = "config") -> None:
    """Rules that involve more than one field."""
    m, i, d, t = config.model, config.init, config.data, config.train
    if d.path is None and d.name is None:
        raise ConfigError(f"{source}: [data] name = (empty): must be one of {', '.join(DATASETS)}, or give [data] path")
    if i.pathological is not None and i.pathological > m.hidden:
        raise _fail(source, "[init] pathological", i.pathological, f"an integer between 0 and [model] hidden = {m.hidden}")
    if i.signs is not None:
        k = i.pathological if i.pathological is not None else len(i.signs)
        if len(i.signs) != k:
            raise _fail(source, "[init] signs", i.signs, f"{k} signs, one per prescribed pathological neuron")
        if len(i.signs) > m.hidden:
            raise _fail(source, "[init] signs", i.signs, f"at most [model] hidden = {m.hidden} signs")
        if m.outputs != 1:
            raise _fail(source, "[init] signs", i.signs, "omitted when [model] outputs > 1 (a sign needs a scalar output)")
    if i.rebalance_ratio is not None and not i.rebalance:
        raise _fail(source, "[init] rebalance_ratio", i.rebalance_ratio, "empty unless [init] rebalance = true")
    if i.hidden_weight is not None:
        _check_shape(source, "[init] hidden_weight", i.hidden_weight, (m.hidden, m.inputs))
    if i.hidden_bias_values is not None:
        if not m.bias:
            raise ConfigError(f"{source}: [init] hidden_bias_values: given, but [model] bias = false")
        _check_shape(source, "[init] hidden_bias_values", i.hidden_bias_values, (m.hidden,))
    if i.output_weight is not None:
        _check_shape(source, "[init] output_weight", i.output_weight, (m.outputs, m.hidden))
    explicit = [k for k in ("hidden_weight", "hidden_bias_values", "output_weight") if getattr(i, k) is not None]
    # Explicit arrays are used as given; only `rebalance`, asked for by name, rescales them.
    if explicit and (i.pathological is not None or i.signs is not None):
        key = "pathological" if i.pathological is not None else "signs"
        raise ConfigError(f"{source}: [init] {key}: cannot be combined with explicit weights ([init] {explicit[0]}), "
                          "which are used exactly as given (only rebalance = true rescales them)")
    if t.batch_size is not None and t.optimizer in FULL_BATCH_OPTIMIZERS:
        raise _fail(source, "[train] batch_size", t.batch_size,
                    f"omitted with [train] optimizer = {t.optimizer} (full batch); minibatches need sgd, momentum or adam")
    synthetic = d.path is None and d.name != "breast_cancer"
    if not synthetic:
        where = "[data] path" if d.path is not None else "the breast_cancer dataset"
        if d.samples is not None:
            raise _fail(source, "[data] samples", d.samples, f"omitted: {where} has a fixed number of samples")
        if d.noise != 0:
            raise _fail(source, "[data] noise", d.noise, f"0 (or omitted): noise is added to synthetic datasets only, not {where}")
    if t.loss == "bce" and m.outputs != 1:
        raise _fail(source, "[model] outputs", m.outputs, "1 with [train] loss = bce")
    if t.loss == "cross_entropy" and m.outputs < 2:
        raise _fail(source, "[model] outputs", m.outputs, "the number of classes (>= 2) with [train] loss = cross_entropy")


def seed_unused(config: Config) -> bool:
    """True when explicit weights leave nothing for [init] seed to draw."""
    i, m = config.init, config.model
    if i.hidden_weight is None or i.output_weight is None:
        return False
    bias_drawn = m.bias and i.hidden_bias_values is None and i.hidden_bias == "scheme"
    output_bias_drawn = m.output_bias and i.scheme == "torch_default"
    return not bias_drawn and not output_bias_drawn


def _check_shape(source: str, key: str, value: list, shape: tuple) -> None:
    rows = len(value)
    nested = isinstance(value[0], list)
    got = (rows, len(value[0])) if nested else (rows,)
    if nested and any(len(r) != len(value[0]) for r in value):
        raise ConfigError(f"{source}: {key}: rows of different lengths; must be a {' x '.join(map(str, shape))} array")
    want = tuple(s if s is not None else got[j] if j < len(got) else None for j, s in enumerate(shape))
    if got != want:
        text = " x ".join("inputs" if s is None else str(s) for s in shape)
        raise ConfigError(f"{source}: {key}: shape {' x '.join(map(str, got))}; must be {text}")


def read_config_text(path: str | Path) -> str:
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    """The config in a TOML file, a relative [data] path read against the file's folder, then
    `--set` overrides (see apply_set)."""
    config = config_from_toml(read_config_text(path), str(path), base=Path(path).parent)
    return apply_set(config, overrides, f"{path} (--set)") if overrides else config


def config_from_toml(text: str, source: str = "config", base: Path | None = None) -> Config:
    """`base`: the folder of the file the text came from, where a relative [data] path points."""
    try:
        data = tomllib.loads(text)
        if base is not None:
            data = resolve_paths(data, base)
        return config_from_dict(data, source)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML: {e}") from None
    except RecursionError:
        # A file from elsewhere can nest arrays or inline tables thousands deep; ours nest 2.
        raise ConfigError(f"{source}: not a relulab config: arrays or tables nested too deeply") from None


def resolve_paths(data: dict, base: Path) -> dict:
    """A copy of raw tables whose relative [data] path points from `base` (the config's folder),
    made absolute: the file that names a path is what it is relative to, not the working directory."""
    path = data.get("data", {}).get("path") if isinstance(data.get("data"), dict) else None
    if not isinstance(path, str) or not path or Path(path).expanduser().is_absolute():
        return data
    return {**data, "data": {**data["data"], "path": str((Path(base) / path).resolve())}}


def unknown_keys(data: dict) -> list[str]:
    """Every unknown section or key in raw tables, as "[section] key" / "[section]".

    The one rule for an unknown key, in `run`, `check` and the console alike: it is an error
    (config_from_dict raises on the first), never silently dropped. A misspelt key that were
    ignored would run a different experiment than the file describes."""
    found = []
    for section, values in data.items() if isinstance(data, dict) else ():
        if section not in SECTIONS:
            found.append(f"[{section}]")
        elif isinstance(values, dict):
            names = {f.name for f in schema_fields(section)}
            found += [f"[{section}] {k}" for k in values if k not in names]
    return found


def parse_set(items: list[str] | tuple[str, ...], source: str = "--set") -> dict:
    """`section.key=value` items as nested raw tables; a value is read as a TOML value (0.1, 8,
    true, "text", [1, 2]) and otherwise taken as a bare string (`data.name=xor`)."""
    tables: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise ConfigError(f"{source} {item}: must be SECTION.KEY=VALUE, e.g. train.lr=0.1 "
                              f"(sections: {', '.join(SECTIONS)})")
        if section not in SECTIONS:
            raise ConfigError(f"{source} {item}: unknown section [{section}]: allowed are {', '.join(SECTIONS)}")
        tables.setdefault(section, {})[name.strip()] = parse_value(text.strip())
    return tables


def parse_value(text: str):
    """One TOML value, or the text itself when it is not one (a bare word)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_set(config: Config, items: list[str] | tuple[str, ...], source: str = "--set") -> Config:
    """A copy of `config` with `section.key=value` overrides, validated exactly as a file is."""
    data = config_to_dict(config)
    # A path typed on the command line is relative to where it was typed.
    for section, values in resolve_paths(parse_set(items, source), Path.cwd()).items():
        for name, value in values.items():
            data[section][name] = check_value(section, name, value, source)
    for section in data:
        data[section] = {k: v for k, v in data[section].items() if v is not None}
    return config_from_dict(data, source)


def config_to_dict(config: Config) -> dict:
    """Nested dict without empty fields (TOML has no null)."""
    return {
        s: {k: v for k, v in dataclasses.asdict(getattr(config, s)).items() if v is not None}
        for s in SECTIONS
    }


def config_to_toml(config: Config) -> str:
    return tomli_w.dumps(config_to_dict(config))


def defaults_toml() -> str:
    """Every schema field at its default, commented with its help and what it allows: a
    starting point (`relulab config defaults > my.toml`)."""
    lines = ["# relulab configuration: every key at its default. Delete what you do not change.", ""]
    for section in SECTIONS:
        lines.append(f"[{section}]")
        for f in schema_fields(section):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            lines.append(f"# {f.metadata['help']}; {allowed_text(section, f)}")
            lines.append(f"{f.name} = {tomli_w.dumps({'v': default})[4:].strip()}" if default is not None
                         else f"# {f.name} =")
        lines.append("")
    return "\n".join(lines)


def summary(config: Config) -> str:
    """A run's config in a few words: data, network, initialisation, optimizer."""
    m, i, d, t = config.model, config.init, config.data, config.train
    data = Path(d.path).name if d.path else d.name
    if i.hidden_weight is not None or i.output_weight is not None:
        init = "explicit weights"
    else:
        init = f"{i.scheme} seed={i.seed}" + (f" signs={i.signs}" if i.signs else "") + (" rebalanced" if i.rebalance else "")
    return f"{data} {m.activation} l={m.hidden} {init} {t.optimizer} lr={t.lr:g}"


def replace(config: Config, section: str, source: str = "override", **values) -> Config:
    """A copy of `config` with some fields of one section changed, validated."""
    data = config_to_dict(config)
    data[section].update(values)
    for k in [k for k, v in data[section].items() if v is None]:
        del data[section][k]
    return config_from_dict(data, source)


def split_key(key: str, source: str = "config") -> tuple[str, str]:
    """'train.lr' -> ('train', 'lr'), checked against the schema (one line naming what is allowed)."""
    section, dot, name = str(key).partition(".")
    if not dot or section not in SECTIONS:
        raise ConfigError(f"{source}: {key!r} is not a config key: write SECTION.KEY with SECTION one of "
                          f"{', '.join(SECTIONS)} (e.g. train.lr)")
    if name not in {f.name for f in schema_fields(section)}:
        allowed = ", ".join(f.name for f in schema_fields(section))
        raise ConfigError(f"{source}: unknown key {key!r}: [{section}] has {allowed}")
    return section, name


def with_values(data: dict, values: dict, source: str = "config") -> Config:
    """The config of `data` (nested dicts, as TOML gives them) with dotted schema keys set, e.g.
    `with_values(base, {"train.lr": 0.1, "model.hidden": 8})`, validated through the schema.
    A value of None removes the key (back to its default). `data` is not modified."""
    merged = {s: dict(v) if isinstance(v, dict) else v for s, v in data.items()}
    for key, value in values.items():
        section, name = split_key(key, source)
        table = merged.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{section}] must be a table of keys")
        if value is None:
            table.pop(name, None)
        else:
            table[name] = value
    return config_from_dict(merged, source)
