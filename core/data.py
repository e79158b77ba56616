"""Datasets: the built-in ones and user files (CSV / NPZ), as float64 numpy arrays."""

from __future__ import annotations

import csv
import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import Config, ConfigError
from core.memory import check_memory

DEFAULT_SAMPLES = {"abs": 64, "xor": 200, "teacher": 256, "gaussians": 200}
DEFAULT_INPUTS = {"abs": 1, "xor": 2, "teacher": 2, "gaussians": 2}
TEACHER_HIDDEN = 3


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray  # (n, d)
    y_train: np.ndarray  # (n, e) float targets for mse / bce; (n,) int labels for cross_entropy
    x_test: np.ndarray | None
    y_test: np.ndarray | None

    @property
    def inputs(self) -> int:
        return self.x_train.shape[1]


def _split(x: np.ndarray, y: np.ndarray, fraction: float, seed: int, stratify: bool):
    if fraction <= 0:
        return x, y, None, None
    from sklearn.model_selection import train_test_split

    try:
        x_tr, x_te, y_tr, y_te = train_test_split(
            x, y, test_size=fraction, random_state=seed, stratify=y if stratify else None
        )
    except ValueError as e:  # too few samples for this split (or for one per class in each part)
        raise ConfigError(f"[data] test_fraction = {fraction:g}: cannot split {len(x)} samples: "
                          f"{' '.join(str(e).split())}") from None
    return x_tr, y_tr, x_te, y_te


def _builtin(config: Config) -> tuple[np.ndarray, np.ndarray]:
    d, m = config.data, config.model
    rng = np.random.default_rng(d.seed)
    name = d.name
    n = d.samples or DEFAULT_SAMPLES.get(name, 0)
    inputs = m.inputs or DEFAULT_INPUTS.get(name)
    if name in ("abs", "xor") and m.inputs not in (None, DEFAULT_INPUTS[name]):
        raise ConfigError(f"[model] inputs = {m.inputs}: the {name} dataset has {DEFAULT_INPUTS[name]} input(s); omit it or set {DEFAULT_INPUTS[name]}")
    if name == "abs":
        # Evenly spaced on [-1, 1]: the canonical obstruction example (docs/science.md).
        x = np.linspace(-1.0, 1.0, n)[:, None]
        y = np.abs(x) + d.noise * rng.standard_normal(x.shape)
    elif name == "xor":
        x = rng.uniform(-1.0, 1.0, (n, 2))
        y = (np.sign(x[:, :1]) != np.sign(x[:, 1:])).astype(np.float64)
        x = x + d.noise * rng.standard_normal(x.shape)
    elif name == "teacher":
        x = rng.standard_normal((n, inputs))
        w = rng.standard_normal((TEACHER_HIDDEN, inputs)) / np.sqrt(inputs)
        b = 0.1 * rng.standard_normal(TEACHER_HIDDEN)
        v = rng.standard_normal((m.outputs, TEACHER_HIDDEN))
        y = np.maximum(x @ w.T + b, 0) @ v.T + d.noise * rng.standard_normal((n, m.outputs))
        if config.train.loss != "mse":
            # A classification teacher: label by the sign (bce) or the argmax (cross_entropy).
            y = (y[:, :1] > np.median(y[:, 0])).astype(np.float64) if m.outputs == 1 else np.argmax(y, axis=1)
    elif name == "gaussians":
        classes = m.outputs if config.train.loss == "cross_entropy" else 2
        labels = rng.integers(0, classes, n)
        angle = 2 * np.pi * labels / classes
        centres = np.zeros((n, inputs))
        centres[:, 0] = 2 * np.cos(angle)
        if inputs > 1:
            centres[:, 1] = 2 * np.sin(angle)
        x = centres + (1.0 + d.noise) * rng.standard_normal((n, inputs))
        y = labels if config.train.loss == "cross_entropy" else labels[:, None].astype(np.float64)
    elif name == "breast_cancer":
        from sklearn.datasets import load_breast_cancer

        bunch = load_breast_cancer()
        x, y = bunch.data.astype(np.float64), bunch.target.astype(np.float64)[:, None]
        if config.train.loss == "cross_entropy":
            y = bunch.target.astype(np.int64)
    else:  # pragma: no cover - the schema allows only the names above
        raise ConfigError(f"[data] name = {name!r}: unknown dataset")
    return x, y


def _read_file(config: Config) -> tuple[np.ndarray, np.ndarray]:
    d = config.data
    path = Path(d.path).expanduser()
    shown = repr(d.path) if len(d.path) <= 80 else repr(d.path[:77] + "...")
    try:
        found = path.is_file()
    except OSError as e:  # a name longer than the filesystem allows, a loop of links
        raise ConfigError(f"[data] path = {shown}: cannot read it ({e.strerror or e})") from None
    if not found:
        raise ConfigError(f"[data] path = {shown}: no such file (looked at {path.resolve()})")
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                keys = list(npz.keys())
                if "x" in keys:
                    key = d.target or "y"
                    if key not in keys:
                        raise ConfigError(f"[data] target = {key!r}: not in {path.name} (keys: {', '.join(keys)})")
                    x, y = np.asarray(npz["x"], np.float64), np.asarray(npz[key], np.float64)
                else:
                    if len(keys) != 1:
                        raise ConfigError(f"[data] path = {d.path!r}: an NPZ needs arrays 'x' and 'y', or a single table")
                    table = np.asarray(npz[keys[0]], np.float64)
                    x, y = table[:, :-1], table[:, -1]
        else:
            with path.open(newline="", encoding="utf-8") as f:
                rows = [r for r in csv.reader(f) if r]
            if not rows:
                raise ConfigError(f"[data] path = {d.path!r}: the file is empty")
            header = None
            try:
                [float(v) for v in rows[0]]
            except ValueError:
                header, rows = [h.strip() for h in rows[0]], rows[1:]
            table = np.array([[float(v) for v in r] for r in rows], dtype=np.float64)
            col = table.shape[1] - 1
            if d.target is not None:
                if header is None or d.target not in header:
                    raise ConfigError(f"[data] target = {d.target!r}: no such column in {path.name}")
                col = header.index(d.target)
            x, y = np.delete(table, col, axis=1), table[:, col]
    except ConfigError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, IndexError) as e:
        raise ConfigError(f"[data] path = {d.path!r}: cannot read it as {'NPZ' if path.suffix.lower() == '.npz' else 'CSV'} of numbers ({e})") from None
    if x.ndim != 2 or len(x) < 1 or x.shape[1] < 1:
        raise ConfigError(f"[data] path = {d.path!r}: needs at least one feature column and one row")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ConfigError(f"[data] path = {d.path!r}: holds NaN or infinite values")
    if len(y) != len(x):
        raise ConfigError(f"[data] path = {d.path!r}: {len(x)} rows of features but {len(y)} targets")
    y = y.reshape(len(y), -1)
    if config.train.loss == "cross_entropy":
        y = y[:, 0].astype(np.int64)
    return x, y


def load_dataset(config: Config) -> Dataset:
    """Build the dataset of `config`, split and (for breast_cancer) standardised on the train part."""
    d, loss = config.data, config.train.loss
    if not d.path:  # sizes known before anything is drawn (a file is already read when they are)
        check_memory(config, dataset_inputs(config), d.samples or DEFAULT_SAMPLES.get(d.name, 569))
    x, y = _read_file(config) if d.path else _builtin(config)
    if d.path:
        check_memory(config, x.shape[1], len(x))
    name = Path(d.path).name if d.path else d.name
    if config.model.inputs is not None and config.model.inputs != x.shape[1]:
        raise ConfigError(f"[model] inputs = {config.model.inputs}: the dataset {name} has {x.shape[1]} features; omit it or set {x.shape[1]}")
    if loss == "bce" and not np.all((y == 0) | (y == 1)):
        raise ConfigError(f"[train] loss = \"bce\": needs targets 0 or 1, but {name} has others")
    if loss == "cross_entropy":
        y = _class_labels(y, name)
        if np.any(y < 0) or np.any(y >= config.model.outputs):
            raise ConfigError(f"[model] outputs = {config.model.outputs}: {name} has class labels up to {int(y.max())}; set outputs = {int(y.max()) + 1}")
    elif y.shape[1] != config.model.outputs:
        raise ConfigError(f"[model] outputs = {config.model.outputs}: {name} has {y.shape[1]} target column(s)")
    fraction = d.test_fraction if d.test_fraction is not None else (0.3 if d.name == "breast_cancer" and not d.path else 0.0)
    stratify = loss != "mse"
    x_tr, y_tr, x_te, y_te = _split(x, y, fraction, d.seed, stratify)
    if d.name == "breast_cancer" and not d.path:
        mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
        std[std == 0] = 1.0
        x_tr = (x_tr - mean) / std
        x_te = (x_te - mean) / std if x_te is not None else None
    return Dataset(name, x_tr, y_tr, x_te, y_te)


BREAST_CANCER_FEATURES = 30


def _class_labels(y: np.ndarray, name: str) -> np.ndarray:
    """Targets as the (n,) integer class labels cross_entropy needs, or a ConfigError."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or not np.all(np.equal(np.mod(y, 1), 0)):
        raise ConfigError(f"[train] loss = \"cross_entropy\": needs one column of class labels 0, 1, ..., "
                          f"but {name} has real-valued targets; use mse")
    return y.astype(np.int64)


def dataset_inputs(config: Config) -> int:
    """The number of input features, without building a built-in dataset (cheap for `check`)."""
    if config.data.path:
        return load_dataset(config).inputs
    if config.data.name == "breast_cancer":
        if config.model.inputs not in (None, BREAST_CANCER_FEATURES):
            raise ConfigError(f"[model] inputs = {config.model.inputs}: the breast_cancer dataset has "
                              f"{BREAST_CANCER_FEATURES} inputs; omit it or set {BREAST_CANCER_FEATURES}")
        return BREAST_CANCER_FEATURES
    return config.model.inputs or DEFAULT_INPUTS[config.data.name]


def data_fingerprint(config: Config) -> dict:
    """What data a run reads: the resolved file and a SHA-256 of its bytes, or the built-in set."""
    d = config.data
    if not d.path:
        return {"name": d.name}
    path = Path(d.path).expanduser().resolve()
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as e:
        raise ConfigError(f"[data] path = {d.path!r}: cannot read {path}: {e.strerror or e}") from None
    return {"path": str(path), "sha256": digest.hexdigest(), "bytes": path.stat().st_size}
