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


# -- experiments (`relulab experiment NAME --figures DIR`) ---------------------------------------


def heatmap_axes(ax, values: np.ndarray, rows, cols, row_label: str, col_label: str, title: str, fmt: str,
                 vmin=None, vmax=None):
    """A heatmap with every cell's value written in it; NaN cells stay blank."""
    masked = np.ma.masked_invalid(values)
    image = ax.imshow(masked, origin="lower", aspect="auto", cmap="RdYlGn_r", vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(cols)), [str(c) for c in cols])
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    ax.set_title(title, fontsize="medium")
    if values.size <= 400:  # beyond that the numbers are unreadable anyway
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                if np.isfinite(values[i, j]):
                    ax.text(j, i, format(values[i, j], fmt), ha="center", va="center", fontsize=6)
    return image


def grid_figures(grid, stem: str, directory: Path, suffix: str, title: str) -> list[Path]:
    """Test loss over (width l, l_+) as a heatmap, and against l_+ one curve per width."""
    plt = pyplot()
    mean = grid.mean("test_loss")
    l_max = int(grid.widths.max())
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * (l_max + 1), 1.2 + 0.4 * len(grid.widths)))
    image = heatmap_axes(ax, mean, grid.widths, range(l_max + 1), "hidden width l", "l_+ (non-pathological)",
                         f"{title}: test loss (BCE), mean over {len(grid.seeds)} seeds", ".3f")
    fig.colorbar(image, ax=ax, label="test loss")
    files = [save(fig, directory / f"{stem}_heatmap{suffix}")]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    se = grid.stderr("test_loss")
    for i, (l, color) in enumerate(zip(grid.widths, run_colors(len(grid.widths)))):
        x = np.arange(int(l) + 1)
        ax.errorbar(x, mean[i, : l + 1], yerr=se[i, : l + 1], color=color, label=f"l = {l}", capsize=2, lw=1.2)
    ax.set_xlabel("l_+ (non-pathological neurons at init)")
    ax.set_ylabel("test loss (BCE), mean ± s.e.")
    ax.set_title(title, fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize="small", ncol=2)
    files.append(save(fig, directory / f"{stem}_by_l_plus{suffix}"))
    return files


def toy_figures(result, directory: Path, suffix: str) -> list[Path]:
    """The toy's loss curves and each neuron's path on its quadric, one colour per run."""
    runs = [RunSeries(label=label, series={"step": result.steps, "loss": result.loss[:, i], "c": result.c[:, i, :],
                                           "w_norm": result.w_norm[:, i, :], "v": result.v[:, i, :]})
            for i, label in enumerate(result.labels)]
    return [metric_figure(runs, "loss", directory / f"toy_loss{suffix}"),
            quadric_figure(runs, directory / f"toy_quadric{suffix}")]


def probability_figures(result, directory: Path, suffix: str) -> list[Path]:
    """P(neuron pathological) over (d, l) per scheme, and Monte Carlo against the closed form."""
    plt = pyplot()
    count = len(result.schemes)
    fig, axes = plt.subplots(1, count, figsize=(5.0 * count, 4.2), squeeze=False)
    for s, scheme in enumerate(result.schemes):
        image = heatmap_axes(axes[0][s], result.pathological[s], result.inputs, result.hidden, "inputs d",
                             "hidden width l", f"{scheme}: P(neuron pathological)", ".2f", 0.0, 1.0)
    fig.colorbar(image, ax=axes[0].tolist(), label="closed form p")
    files = [save(fig, directory / f"probability_heatmap{suffix}")]
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    for s, (scheme, color) in enumerate(zip(result.schemes, run_colors(count))):
        ax.scatter(result.disconnected[s].ravel(), result.disconnected_mc[s].ravel(), s=6, color=color, label=scheme)
    ax.plot([0, 1], [0, 1], color="black", lw=0.8)
    ax.set_xlabel("P(H(c) disconnected), closed form")
    ax.set_ylabel(f"Monte Carlo ({result.samples} networks per cell)")
    ax.legend(frameon=False, fontsize="small")
    files.append(save(fig, directory / f"probability_mc{suffix}"))
    return files


def level_sets_figures(result, directory: Path, suffix: str) -> list[Path]:
    """Normalised geodesic length against the level, one panel per target, one curve per width."""
    plt = pyplot()
    length = result.mean("normalized_length")
    fig, axes = plt.subplots(1, len(result.targets), figsize=(5.0 * len(result.targets), 4.0), squeeze=False)
    for t, target in enumerate(result.targets):
        ax = axes[0][t]
        for w, (width, color) in enumerate(zip(result.widths, run_colors(len(result.widths)))):
            ok = np.isfinite(length[t, w])
            ax.plot(result.levels[ok], length[t, w][ok], "o-", color=color, label=f"l = {width}", lw=1.2, ms=3)
        ax.set_xscale("log")
        ax.invert_xaxis()  # the level drops to the right, as in Freeman & Bruna's figures
        ax.set_xlabel("level L0 / Var(y)")
        ax.set_ylabel("normalised geodesic length (mean over connected pairs)")
        ax.set_title(f"{target} target", fontsize="medium")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize="small")
    return [save(fig, directory / f"level_sets_length{suffix}")]


def atlas_figures(result, directory: Path, suffix: str) -> list[Path]:
    """atlas_floors: per part, the floor of each component against its number of positive
    neurons (log y), the own component marked and the reference as a line."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(result.atlases), figsize=(5.5 * len(result.atlases), 4))
    for ax, label, a in zip(np.atleast_1d(axes), result.labels, result.atlases):
        xs = np.array([r.positive if r.positive is not None else 0 for r in a.components])
        floors = np.array([r.floor for r in a.components])
        ax.bar(xs, np.maximum(floors, 1e-30), color="tab:blue", label="floor")
        if a.own is not None:
            ax.bar([xs[a.own]], [max(floors[a.own], 1e-30)], color="tab:orange", label="own component")
        ax.axhline(max(a.reference.floor, 1e-30), color="grey", linestyle="--", label="reference |c|")
        ax.set_yscale("log")
        ax.set_xlabel("pathological neurons with v_k > 0")
        ax.set_ylabel("floor (lowest final train loss)")
        ax.set_title(f"{label}: gap {a.gap:.3g}" if a.gap is not None else label)
        ax.set_xticks(xs)
        ax.legend(frameon=False, fontsize="small")
    fig.tight_layout()
    return [save(fig, directory / f"atlas_floors{suffix}")]


def small_init_figures(result, directory: Path, suffix: str) -> list[Path]:
    """small_init_alignment: 1 - cos(W_k, nearest KKT direction) of the grown neurons against the
    initial scale (log-log; median and worst over seeds and neurons). small_init_saddles: the
    saddle run's loss and every neuron's ||theta_k|| against the step, plateaus marked."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    scales = np.asarray(result.scales, np.float64)
    rows = [result.one_minus_cos[i][np.isfinite(result.one_minus_cos[i])] for i in range(len(scales))]
    has = np.array([r.size > 0 for r in rows])
    floor = 1e-16  # an exact alignment draws on the axis, not off it
    median = np.array([max(np.median(r), floor) if r.size else np.nan for r in rows])
    worst = np.array([max(np.max(r), floor) if r.size else np.nan for r in rows])
    ax.plot(scales[has], median[has], "o-", color="tab:blue", label="median over grown neurons")
    ax.plot(scales[has], worst[has], "s--", color="tab:red", label="worst")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("initial scale (std of every weight)")
    ax.set_ylabel("1 - cos(W_k, nearest KKT direction)")
    ax.set_title("small initialisation: directional alignment", fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize="small")
    files = [save(fig, directory / f"small_init_alignment{suffix}")]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.5, 6), sharex=True)
    steps = np.asarray(result.saddle_steps)
    top.plot(steps, np.asarray(result.saddle_loss), color="black", lw=1.2)
    top.set_ylabel("train loss")
    norms = np.asarray(result.saddle_norms)
    for k, color in zip(range(norms.shape[1]), run_colors(norms.shape[1])):
        bottom.plot(steps, np.maximum(norms[:, k], 1e-30), color=color, lw=1.0, label=f"neuron {k}")
    bottom.set_yscale("log")
    bottom.set_ylabel("||theta_k||")
    bottom.set_xlabel("step")
    for plateau in result.sequence:
        for ax in (top, bottom):
            ax.axvline(plateau.step, color="grey", lw=0.8, linestyle=":")
    bottom.legend(frameon=False, fontsize="small", ncol=3)
    top.set_title("saddle to saddle (dotted: plateaus where the next escape was predicted)", fontsize="medium")
    files.append(save(fig, directory / f"small_init_saddles{suffix}"))
    return files


def experiment_figures(result, directory: Path, suffix: str = ".png") -> list[Path]:
    """The figure files of an experiment's result (toy, breast-cancer, mitigation, probability,
    level-sets, atlas, small-init); anything else draws none and returns []."""
    from core.experiments import (AtlasExperimentResult, GridResult, LevelSetsResult, MitigationResult, ProbabilityResult,
                                  SmallInitResult, ToyResult)

    if suffix not in FORMATS:
        raise UserError(f"--figure-format {suffix.lstrip('.')}: must be one of png, svg, pdf")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--figures {directory}: cannot create the directory ({e.strerror or e})") from None
    if isinstance(result, ToyResult):
        return toy_figures(result, directory, suffix)
    if isinstance(result, MitigationResult):
        return (grid_figures(result.prescribed, "mitigation_prescribed", directory, suffix, "prescribed")
                + grid_figures(result.rebalanced, "mitigation_rebalanced", directory, suffix, "rebalanced"))
    if isinstance(result, GridResult):
        return grid_figures(result, "breast_cancer", directory, suffix, "breast cancer")
    if isinstance(result, ProbabilityResult):
        return probability_figures(result, directory, suffix)
    if isinstance(result, LevelSetsResult):
        return level_sets_figures(result, directory, suffix)
    if isinstance(result, AtlasExperimentResult):
        return atlas_figures(result, directory, suffix)
    if isinstance(result, SmallInitResult):
        return small_init_figures(result, directory, suffix)
    return []
