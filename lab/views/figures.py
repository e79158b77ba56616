"""Figure files (PNG, SVG, PDF) drawn with matplotlib, for papers and slides.

matplotlib is an optional extra (`pip install 'relulab[plots]'`): it is imported only when a
figure is drawn, and its absence is one line naming the extra.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import UserError

FORMATS = (".png", ".svg", ".pdf")
METRICS = ("loss", "test_loss", "accuracy", "c", "quadric")
LABELS = {"loss": "train loss", "test_loss": "test loss", "accuracy": "train accuracy"}
MAX_QUADRIC_NEURONS = 8


@dataclass
class RunSeries:
    """One run as a figure needs it: a legend label and its series by step (sessions' layout)."""

    label: str
    series: dict[str, np.ndarray]


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend, or one line saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise UserError("figures need matplotlib: pip install 'relulab[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_output(path: Path) -> Path:
    """The figure file's format comes from its suffix; its directory must exist."""
    if path.suffix.lower() not in FORMATS:
        raise UserError(f"-o {path}: the file must end in {', '.join(FORMATS)}")
    if not path.parent.is_dir():
        raise UserError(f"-o {path}: directory {path.parent} does not exist")
    return path


def spans_decades(values: np.ndarray, decades: float = 2.0) -> bool:
    """Whether positive values span more than `decades` powers of ten (log y reads better)."""
    v = values[np.isfinite(values) & (values > 0)]
    return v.size > 1 and math.log10(v.max() / v.min()) > decades


def run_colors(count: int) -> list:
    """One colour per run, the same in every panel."""
    plt = pyplot()
    cmap = plt.get_cmap("tab10" if count <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(count)]


def save(fig, path: Path) -> Path:
    try:
        fig.savefig(path, bbox_inches="tight", dpi=150)
    except OSError as e:
        raise UserError(f"-o {path}: cannot write ({e.strerror or e})") from None
    finally:
        pyplot().close(fig)
    return path


def metric_figure(runs: list[RunSeries], metric: str, path: Path) -> Path:
    """Loss, test loss or accuracy over steps, one line per run; log y for a loss spanning decades."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    colors = run_colors(len(runs))
    drawn = np.concatenate([r.series[metric] for r in runs]) if runs else np.zeros(0)
    for run, color in zip(runs, colors):
        ok = np.isfinite(run.series[metric])
        if ok.any():
            ax.plot(run.series["step"][ok], run.series[metric][ok], color=color, label=run.label, lw=1.4)
    if metric != "accuracy" and spans_decades(drawn):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(LABELS[metric])
    ax.grid(alpha=0.3)
    if runs:
        ax.legend(frameon=False, fontsize="small")
    return save(fig, path)


def c_figure(runs: list[RunSeries], path: Path) -> Path:
    """Every neuron's c_k over steps (one colour per run), the c = 0 line, pathological neurons
    (c_k < 0 at the first snapshot) drawn solid and the others dashed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for run, color in zip(runs, run_colors(len(runs))):
        c = run.series["c"]
        if c.size == 0:
            continue
        pathological = c[0] < 0
        for k in range(c.shape[1]):
            ax.plot(run.series["step"], c[:, k], color=color, lw=1.2 if pathological[k] else 0.8,
                    ls="-" if pathological[k] else "--",
                    label=f"{run.label} ({int(pathological.sum())} pathological)" if k == 0 else None)
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("c_k = ||W_k||² − ||v_k||²")
    ax.set_title("conserved quantities (solid: pathological, c_k < 0)", fontsize="medium")
    ax.grid(alpha=0.3)
    if runs:
        ax.legend(frameon=False, fontsize="small")
    return save(fig, path)


def quadric_figure(runs: list[RunSeries], path: Path) -> Path:
    """Each neuron's path (||W_k||, v_k) on its quadric v² = ||W||² − c_k: for c_k < 0 the two
    sheets v > 0 and v < 0 that a run can never cross. One panel per neuron (the first 8)."""
    plt = pyplot()
    hidden = max((r.series["c"].shape[1] for r in runs if r.series["c"].size), default=0)
    if hidden == 0:
        raise UserError("quadric: the sessions hold no per-neuron series")
    shown = min(hidden, MAX_QUADRIC_NEURONS)
    cols = min(shown, 4)
    rows = math.ceil(shown / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    colors = run_colors(len(runs))
    for k in range(shown):
        ax = axes[k // cols][k % cols]
        for run, color in zip(runs, colors):
            c, w, v = run.series["c"], run.series["w_norm"], run.series["v"]
            if c.size == 0 or k >= c.shape[1]:
                continue
            c0 = float(c[0, k])
            xs = np.linspace(0.0, 1.15 * max(float(np.nanmax(w[:, k])), math.sqrt(max(c0, 0.0)), 1e-3), 200)
            v2 = xs**2 - c0
            ok = v2 >= 0
            for sign in (1.0, -1.0):
                ax.plot(xs[ok], sign * np.sqrt(v2[ok]), color=color, lw=0.8, alpha=0.5)
            ax.plot(w[:, k], v[:, k], color=color, lw=1.4, label=run.label if k == 0 else None)
            ax.plot(w[-1, k], v[-1, k], "o", color=color, ms=4)
        ax.axhline(0.0, color="black", lw=0.6)
        ax.set_title(f"neuron {k}", fontsize="small")
        ax.set_xlabel("||W_k||")
        ax.set_ylabel("v_k")
    for k in range(shown, rows * cols):
        axes[k // cols][k % cols].axis("off")
    title = "paths on the quadrics v² = ||W||² − c_k" + (f" (first {shown} of {hidden} neurons)" if shown < hidden else "")
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    if runs:  # below the panels, where it covers nothing
        fig.legend(frameon=False, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncol=min(len(runs), 4))
    return save(fig, path)


def figure(runs: list[RunSeries], metric: str, path: Path) -> Path:
    """Draw `metric` for `runs` into `path` (format from the suffix)."""
    if metric not in METRICS:
        raise UserError(f"--metric {metric}: must be one of {', '.join(METRICS)}")
    check_output(path)
    if metric == "c":
        return c_figure(runs, path)
    if metric == "quadric":
        return quadric_figure(runs, path)
    return metric_figure(runs, metric, path)
