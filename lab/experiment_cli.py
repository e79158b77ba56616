"""`relulab experiment NAME`: reproduce the paper's evidence from the terminal.

    toy            |x| with two ReLU neurons: obstructed (+,-) vs free (+,+) vs a rebalanced control
    breast-cancer  test loss over hidden width l and the number l_+ of non-pathological neurons
    probability    P(obstructed initialisation) over inputs d and width l, closed form vs Monte Carlo
    mitigation     the breast-cancer grid again with every neuron rescaled to c_k >= 0 at init

Every run is recorded in the session store as a sweep (unless --no-save); --out DIR writes CSV
and JSON with the provenance (configs, seeds, steps, lr, device, software versions).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

NAMES = ("toy", "breast-cancer", "probability", "mitigation")
# Which options each experiment reads; giving another one is a mistake worth one line.
OPTIONS = {
    "toy": ("steps", "lr"),
    "breast-cancer": ("widths", "seeds", "steps", "lr"),
    "mitigation": ("widths", "seeds", "steps", "lr"),
    "probability": ("seeds", "samples", "max_inputs", "max_hidden"),
}
MAX_GRID_SIDE = 200  # probability: d and l up to this (the Monte Carlo holds a d x l x chunk tensor)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("experiment",
                              help="the paper's experiments: toy | breast-cancer | probability | mitigation",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME", choices=NAMES, help="toy | breast-cancer | probability | mitigation")
    p.add_argument("--quick", action="store_true", help="the reduced grid (seconds instead of minutes)")
    p.add_argument("--device", default="auto", metavar="DEVICE", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--seeds", metavar="SPEC",
                   help="N (seeds 0..N-1), a list 3,5,8 or a range 10-29; "
                        "probability: the first is the Monte Carlo seed")
    p.add_argument("--widths", metavar="L,L,...",
                   help="hidden widths of the grid, e.g. 2,4,8 (breast-cancer, mitigation)")
    p.add_argument("--steps", type=int, metavar="N", help="training steps (toy, breast-cancer, mitigation)")
    p.add_argument("--lr", type=float, metavar="X", help="learning rate (toy, breast-cancer, mitigation)")
    p.add_argument("--samples", type=int, metavar="N", help="probability: networks sampled per cell (default 100000)")
    p.add_argument("--max-inputs", type=int, metavar="N", help="probability: inputs d = 1..N (default 30)")
    p.add_argument("--max-hidden", type=int, metavar="N", help="probability: hidden widths l = 1..N (default 30)")
    p.add_argument("--json", action="store_true", help="print one JSON object (no tables, no plots)")
    p.add_argument("--out", metavar="DIR", help="write NAME.csv, NAME.json (with provenance) and more into DIR")
    p.add_argument("--no-save", action="store_true", help="do not record the experiment in the session store")
    p.add_argument("--name", dest="session_name", metavar="TEXT", help="a name for the recorded session")
    from lab.sessions_cli import add_store_argument

    add_store_argument(p)
    p.set_defaults(func=experiment_command)


# ------------------------------------------------------------------------------------------------
# arguments
# ------------------------------------------------------------------------------------------------


def parse_seeds(spec: str) -> list[int]:
    """'20' -> 0..19; '3,5,8' -> [3, 5, 8]; '10-29' -> 10..29; pieces may be mixed: '0,4-6'."""
    from core.errors import UserError

    bad = UserError(f"--seeds {spec}: must be a count N, a list like 3,5,8 or a range like 10-29 (integers >= 0)")
    text = spec.replace(" ", "")
    try:
        if text.isdigit():
            n = int(text)
            if n < 1:
                raise UserError(f"--seeds {spec}: a count must be >= 1")
            return list(range(n))
        seeds: list[int] = []
        for piece in text.split(","):
            if "-" in piece:
                a, b = piece.split("-")
                if int(a) > int(b):
                    raise bad
                seeds += range(int(a), int(b) + 1)
            else:
                seeds.append(int(piece))
    except ValueError:
        raise bad from None
    if not seeds or min(seeds) < 0:
        raise bad
    return list(dict.fromkeys(seeds))  # each seed once, in the order given


def parse_widths(spec: str) -> list[int]:
    from core.errors import UserError

    try:
        widths = [int(w) for w in spec.replace(" ", "").split(",") if w]
    except ValueError:
        widths = []
    if not widths or min(widths) < 1 or max(widths) > 1024:
        raise UserError(f"--widths {spec}: must be a list of integers between 1 and 1024, e.g. 2,4,8")
    return sorted(set(widths))


def resolve_parameters(args: argparse.Namespace) -> dict:
    """The experiment's parameters: its preset (--quick or full), then the options given."""
    from core import experiments
    from core.config import check_value
    from core.errors import UserError

    given = {
        "seeds": parse_seeds(args.seeds) if args.seeds is not None else None,
        "widths": parse_widths(args.widths) if args.widths is not None else None,
        "steps": args.steps, "lr": args.lr, "samples": args.samples,
        "max_inputs": args.max_inputs, "max_hidden": args.max_hidden,
    }
    for key, value in given.items():
        if value is not None and key not in OPTIONS[args.name]:
            allowed = ", ".join("--" + k.replace("_", "-") for k in OPTIONS[args.name])
            raise UserError(f"--{key.replace('_', '-')}: not used by the {args.name} experiment (it takes {allowed})")
    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps {args.steps}: must be an integer >= 1")
    if args.lr is not None and not (args.lr > 0 and math.isfinite(args.lr)):
        raise UserError(f"--lr {args.lr}: must be a number > 0")
    if args.samples is not None and args.samples < 2:
        raise UserError(f"--samples {args.samples}: must be an integer >= 2")
    for key in ("max_inputs", "max_hidden"):
        value = getattr(args, key)
        if value is not None and not 1 <= value <= MAX_GRID_SIDE:
            raise UserError(f"--{key.replace('_', '-')} {value}: must be an integer between 1 and {MAX_GRID_SIDE}")
    check_value("train", "device", args.device, "--device")
    return experiments.parameters(args.name, args.quick, **given)


# ------------------------------------------------------------------------------------------------
# the command
# ------------------------------------------------------------------------------------------------


def experiment_command(args: argparse.Namespace) -> int:
    from core import experiments
    from core.errors import UserError
    from core.train import resolve_device

    params = resolve_parameters(args)
    resolve_device(args.device)  # a missing CUDA device is a one-line error before anything runs
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    stop = threading.Event()
    # First Ctrl-C stops after the current training call; a second one aborts.
    previous = signal.signal(signal.SIGINT, lambda *_: (stop.set(), signal.signal(signal.SIGINT, previous)))
    started = time.perf_counter()
    try:
        result = run_with_progress(args.name, params, args.device, stop, quiet=args.json)
    except experiments.Stopped:
        print(f"relulab: experiment {args.name} stopped; nothing recorded", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
    seconds = time.perf_counter() - started
    report, prov = build_report(args.name, args.quick, params, result, args.device, started_at, seconds)
    session, store_error = (None, None) if args.no_save else record(args, result, prov, report)
    report["session"] = prov["session"] = session
    files = write_out(Path(args.out), args.name, result, prov, report) if args.out else []
    report["files"] = [str(f) for f in files]
    if args.json:
        print(json.dumps(jsonable(report)))
    else:
        show(result, report)
    if store_error:
        raise UserError(store_error)
    return 0


def build_report(name: str, quick: bool, params: dict, result, device: str, started_at: str,
                 seconds: float) -> tuple[dict, dict]:
    """(report, provenance): what --json prints and what is written next to the results."""
    from core import experiments

    prov = provenance(name, quick, params, result, device, started_at, seconds)
    report = {"experiment": name, "quick": quick, "parameters": jsonable(params), "device": prov["device"],
              "seconds": round(seconds, 3), "summary": jsonable(experiments.summary(result))}
    report.update(headline_tables(result))
    return report, prov


def run_with_progress(name: str, params: dict, device: str, stop: threading.Event, quiet: bool):
    from core import experiments

    if quiet:
        return experiments.run(name, params, device, stop=stop)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[what]}"),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(f"experiment {name}", total=1.0, what="")

        def progress(fraction: float, what: str) -> None:
            bar.update(task, completed=fraction, what=what)

        return experiments.run(name, params, device, stop=stop, progress=progress)


def software() -> dict:
    import importlib.metadata as md

    import torch

    def version(package: str) -> str | None:
        try:
            return md.version(package)
        except md.PackageNotFoundError:
            return None

    out = {"relulab": version("relulab"), "python": platform.python_version(), "torch": torch.__version__,
           "numpy": np.__version__, "scipy": version("scipy"), "scikit-learn": version("scikit-learn"),
           "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
           "cuda": torch.version.cuda}
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5)
        if commit.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5)
            out["git_commit"] = commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def provenance(name: str, quick: bool, params: dict, result, device: str, started_at: str, seconds: float) -> dict:
    """What ran, so a figure can be traced and rerun."""
    from core import experiments

    return {
        "experiment": name,
        "quick": quick,
        "argv": list(sys.argv),
        "rerun": rerun_command(name, quick, params, device),
        "parameters": jsonable(params),
        "seeds": [int(s) for s in params.get("seeds", [])],
        "steps": params.get("steps"),
        "lr": params.get("lr"),
        "device": result_device(result),
        "requested_device": device,
        "configs": experiments.result_configs(result),
        "software": software(),
        "started": started_at,
        "seconds": round(seconds, 3),
    }


def rerun_command(name: str, quick: bool, params: dict, device: str) -> str:
    parts = ["relulab", "experiment", name]
    for key, value in params.items():
        if key in ("widths", "seeds"):
            value = ",".join(str(v) for v in value)
        parts += ["--" + key.replace("_", "-"), str(value)]
    return " ".join(parts + ["--device", device])


def result_device(result) -> str:
    from core.experiments import MitigationResult

    return result.prescribed.device if isinstance(result, MitigationResult) else result.device


def jsonable(obj):
    """numpy -> lists, NaN / inf -> null: strict JSON."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def headline_tables(result) -> dict:
    """The rows that --json prints besides the summary: per-cell tables, small enough for stdout."""
    from core.experiments import GridResult, MitigationResult, ToyResult

    if isinstance(result, ToyResult):
        return {"runs": result.summary()}
    if isinstance(result, GridResult):
        return {"cells": result.cells()}
    if isinstance(result, MitigationResult):
        return {"cells": result.prescribed.cells() + result.rebalanced.cells()}
    return {"grid": {"schemes": result.schemes, "inputs": result.inputs, "hidden": result.hidden,
                     **{k: getattr(result, k) for k in ("pathological", "pathological_mc", "disconnected",
                                                        "disconnected_mc", "all_pathological", "all_pathological_mc",
                                                        "expected_effective")}}}


# ------------------------------------------------------------------------------------------------
# the session store and --out
# ------------------------------------------------------------------------------------------------


def record(args, result, prov: dict, report: dict) -> tuple[str | None, str | None]:
    """Record in the store of --store / $RELULAB_STORE; returns (session id, error). A store fault
    is reported after the results are shown, never instead of them."""
    from core.errors import UserError
    from lab.sessions_cli import open_store

    try:
        store = open_store(args.store)
        name = args.session_name or f"experiment {args.name}" + (" --quick" if args.quick else "")
        return record_result(store, args.name, result, prov, report, args.device, name), None
    except (UserError, OSError) as e:
        return None, f"the experiment ran but was not recorded: {e}"


def record_result(store, name: str, result, prov: dict, report: dict, device: str = "auto",
                  session_name: str | None = None) -> str:
    """Record an experiment as a sweep session: every array, the summary, the tables and the
    provenance as named results; returns the session id."""
    from core import experiments
    from core.train import environment, resolve_device

    env = environment(resolve_device(device))
    env["experiment"] = name
    writer = store.create_session(experiments.result_config(result), env, name=session_name or f"experiment {name}",
                                  tags=("experiment", name), kind="sweep")
    try:
        for key, array in experiments.arrays(result).items():
            writer.put_array(key, np.asarray(array))
        writer.put_json("experiment", jsonable({"name": name, "summary": report["summary"]}))
        writer.put_json("provenance", jsonable(prov))
        for key in ("cells", "runs"):
            if key in report:
                writer.put_json(key, jsonable(report[key]))
        writer.finish("completed")
    except BaseException:
        writer.finish("failed")
        raise
    return writer.id


def write_csv(path: Path, rows: list[dict]) -> Path:
    if not rows:
        return path
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if isinstance(v, float) and not math.isfinite(v) else
                            " ".join(map(str, v)) if isinstance(v, list) else v) for k, v in row.items()})
    return path


def write_out(out: Path, name: str, result, prov: dict, report: dict) -> list[Path]:
    """NAME.json (provenance, summary, every array) and NAME.csv (the main table), plus per-kind extras."""
    from core import experiments
    from core.errors import UserError
    from core.experiments import GridResult, MitigationResult, ToyResult

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {out}: cannot create the directory ({e.strerror or e})") from None
    stem = name.replace("-", "_")
    files = []
    try:
        data = {"provenance": prov, "summary": report["summary"], "arrays": experiments.arrays(result)}
        for key in ("runs", "cells"):
            if key in report:
                data[key] = report[key]
        path = out / f"{stem}.json"
        path.write_text(json.dumps(jsonable(data), indent=1) + "\n", encoding="utf-8")
        files.append(path)
        if isinstance(result, ToyResult):
            files.append(write_csv(out / f"{stem}.csv", result.summary()))
            rows = []
            for t, step in enumerate(result.steps):
                row = {"step": int(step)}
                for i, label in enumerate(result.labels):
                    key = ("obstructed", "free", "control")[i] if i < 3 else f"run{i}"
                    row[f"{key}_loss"] = float(result.loss[t, i])
                    for k in range(result.v.shape[2]):
                        row[f"{key}_w{k}"] = float(result.w_norm[t, i, k])
                        row[f"{key}_v{k}"] = float(result.v[t, i, k])
                rows.append(row)
            files.append(write_csv(out / f"{stem}_curves.csv", rows))
        elif isinstance(result, (GridResult, MitigationResult)):
            grids = [result] if isinstance(result, GridResult) else [result.prescribed, result.rebalanced]
            files.append(write_csv(out / f"{stem}.csv", [row for g in grids for row in g.cells()]))
            files.append(write_csv(out / f"{stem}_runs.csv", [row for g in grids for row in g.runs()]))
        else:
            files.append(write_csv(out / f"{stem}.csv", result.cells()))
    except OSError as e:
        raise UserError(f"--out {out}: cannot write ({e.strerror or e})") from None
    return files


# ------------------------------------------------------------------------------------------------
# terminal output: rich tables, heatmaps and plotext figures
# ------------------------------------------------------------------------------------------------

GOOD, MID, BAD = (46, 160, 90), (230, 200, 60), (200, 60, 50)


def heat_color(t: float) -> str:
    """Green (0) -> yellow (0.5) -> red (1), as a rich colour."""
    if not math.isfinite(t):
        return "grey23"
    t = min(1.0, max(0.0, t))
    a, b, u = (GOOD, MID, 2 * t) if t < 0.5 else (MID, BAD, 2 * t - 1)
    r, g, bl = (round(x + (y - x) * u) for x, y in zip(a, b))
    return f"rgb({r},{g},{bl})"


def heatmap(title: str, row_name: str, rows, col_name: str, cols, values: np.ndarray, fmt, lo=None, hi=None):
    """A rich Table whose cells are coloured by value (low = green); NaN cells are blank."""
    from rich.table import Table
    from rich.text import Text

    finite = values[np.isfinite(values)]
    lo = float(finite.min()) if lo is None and finite.size else (lo or 0.0)
    hi = float(finite.max()) if hi is None and finite.size else (hi if hi is not None else 1.0)
    table = Table(title=title, title_justify="left", box=None, padding=(0, 0), show_edge=False)
    table.add_column(f"{row_name}\\{col_name}", justify="right", style="bold")
    for c in cols:
        table.add_column(str(c), justify="right")
    for i, r in enumerate(rows):
        cells = []
        for j in range(len(cols)):
            v = values[i, j]
            if not math.isfinite(v):
                cells.append(Text(""))
                continue
            t = (v - lo) / (hi - lo) if hi > lo else 0.0
            cells.append(Text(fmt(v), style=f"black on {heat_color(t)}"))
        table.add_row(f"{r} ", *cells)
    return table


def plot(series, title: str, xlabel: str, ylabel: str, logy: bool = False, width: int = 100, height: int = 20,
         xlim=None, ylim=None) -> str:
    """A plotext figure as an ANSI string: series = [(label, xs, ys, kind)] with kind 'line' | 'scatter'."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("pro")
    for label, xs, ys, kind in series:
        xs, ys = np.asarray(xs, float), np.asarray(ys, float)
        ok = np.isfinite(xs) & np.isfinite(ys) & ((ys > 0) if logy else True)
        if not ok.any():
            continue
        draw = plt.scatter if kind == "scatter" else plt.plot
        draw(xs[ok].tolist(), ys[ok].tolist(), label=label, marker="braille" if kind == "line" else "dot")
    if logy:
        plt.yscale("log")
    if xlim:
        plt.xlim(*xlim)
    if ylim:
        plt.ylim(*ylim)
    plt.title(title)
    plt.xlabel(xlabel)
    plt.ylabel(ylabel)
    return plt.build()


def quadric_figure(result, width: int = 110, height: int = 22) -> str:
    """Each toy neuron as the point (||W_k||, v_k) on v^2 = ||W_k||^2 - c_k, one panel per neuron."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("pro")
    plt.subplots(1, result.v.shape[2])
    x_max = 1.15 * float(np.max(result.w_norm))
    y_max = 1.15 * float(np.max(np.abs(result.v)))
    colors = ["red", "green", "cyan", "magenta"]
    for k in range(result.v.shape[2]):
        plt.subplot(1, k + 1)
        xs = np.linspace(0.0, x_max, 200)
        for i, label in enumerate(result.labels):
            c0 = float(result.c[0, i, k])
            v2 = xs**2 - c0
            ok = v2 >= 0
            for sign in (1.0, -1.0):
                plt.plot(xs[ok].tolist(), (sign * np.sqrt(v2[ok])).tolist(), color=colors[i % 4], marker="braille")
            plt.scatter(result.w_norm[:, i, k].tolist(), result.v[:, i, k].tolist(), color=colors[i % 4],
                        marker="•", label=label.split(" ")[0].rstrip(":") if k == 0 else None)
            plt.scatter([float(result.w_norm[-1, i, k])], [float(result.v[-1, i, k])], color=colors[i % 4],
                        marker="◆")
        plt.hline(0.0, "gray")
        plt.xlim(0.0, x_max)
        plt.ylim(-y_max, y_max)
        plt.title(f"neuron {k}: (‖W_k‖, v_k) on v² = ‖W_k‖² − c_k")
        plt.xlabel("‖W_k‖")
    return plt.build()


def show(result, report: dict) -> None:
    from rich.console import Console

    from core.experiments import GridResult, MitigationResult, ProbabilityResult, ToyResult

    console = Console()
    params = report["parameters"]
    shown = ", ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in params.items())
    console.print(f"[bold]experiment {report['experiment']}[/]{' (quick)' if report['quick'] else ''}: {shown}; "
                  f"device {report['device']}")
    if isinstance(result, ToyResult):
        show_toy(console, result)
    elif isinstance(result, MitigationResult):
        show_mitigation(console, result, report["summary"])
    elif isinstance(result, GridResult):
        show_grid(console, result, report["summary"])
    elif isinstance(result, ProbabilityResult):
        show_probability(console, result, report["summary"])
    tail = f"{report['seconds']:.1f} s"
    if report.get("session"):
        tail += f"; recorded as session {report['session']}"
    if report.get("files"):
        tail += "; wrote " + ", ".join(report["files"])
    console.print(f"[dim]{tail}[/]")


def ansi(text: str):
    from rich.text import Text

    return Text.from_ansi(text)


def side_by_side(console, left: str, right: str) -> None:
    from rich.table import Table

    grid = Table.grid(padding=(0, 1))
    grid.add_row(ansi(left), ansi(right))
    console.print(grid)


def width_of(console) -> int:
    return max(60, min(console.width, 140))


def show_toy(console, result) -> None:
    from rich.table import Table

    w = width_of(console)
    log_loss = np.log10(np.maximum(result.loss, 1e-300))
    console.print(ansi(plot([(label, result.steps, log_loss[:, i], "line") for i, label in enumerate(result.labels)],
                            "train loss (MSE) on y = |x|", "step", "log10 loss", width=w, height=18)))
    console.print(ansi(quadric_figure(result, width=w, height=20)))
    t = Table(title="final losses and classifications", title_justify="left")
    for col in ("run", "final loss", "c_k: init -> end", "v signs", "components"):
        t.add_column(col, justify="right" if col != "run" else "left")
    for row in result.summary():
        c = "  ".join(f"{a:+.2f}->{b:+.2f}" for a, b in zip(row["initial_c"], row["final_c"]))
        signs = f"{sign_text(row['initial_v_sign'])} -> {sign_text(row['final_v_sign'])}"
        t.add_row(row["run"], f"{row['final_loss']:.3g}", c, signs, str(row["components"]))
    console.print(t)
    loss = result.final_loss
    console.print(f"obstructed / free final loss: {loss[0]:.3g} / {loss[1]:.3g} "
                  f"(ratio {loss[0] / max(loss[1], 1e-300):.2g}); "
                  f"the rebalanced control (same function at init, c_k > 0) ends at {loss[2]:.3g}")


def sign_text(signs) -> str:
    return "".join("+" if x > 0 else "-" if x < 0 else "0" for x in signs)


def show_grid(console, grid, summary: dict, title: str = "test loss (BCE)", lo=None, hi=None) -> None:
    from rich.table import Table

    mean = grid.mean("test_loss")
    l_max = int(grid.widths.max())
    # " 0.123" per cell where the terminal is wide enough, else the loss x 1000 in 4 columns.
    wide = console.width >= 6 + 6 * (l_max + 1)
    fmt = (lambda v: f" {v:.3f}") if wide else (lambda v: f" {1000 * v:3.0f}")
    console.print(heatmap(f"{title}{'' if wide else ' x 1000'}, mean over {len(grid.seeds)} seeds; rows: width l, "
                          "columns: l_+", "l", grid.widths, "l+", range(l_max + 1), mean, fmt, lo, hi))
    w = width_of(console)
    by_number = [(f"l={l}", np.arange(l + 1), mean[i, : l + 1], "line") for i, l in enumerate(grid.widths)]
    by_fraction = [(f"l={l}", np.arange(l + 1) / l, mean[i, : l + 1], "line") for i, l in enumerate(grid.widths)]
    side_by_side(console, plot(by_number, "test loss vs number l_+", "l_+", "loss", width=w // 2 - 1, height=16),
                 plot(by_fraction, "test loss vs fraction l_+/l", "l_+/l", "loss", width=w // 2 - 1, height=16))
    i = len(grid.widths) - 1
    t = Table(title=f"largest width l = {l_max}: mean ± standard error over seeds", title_justify="left")
    for col in ("l_+", "test loss", "train loss", "test accuracy", "sign flips"):
        t.add_column(col, justify="right")
    se = {k: grid.stderr(k) for k in ("test_loss", "train_loss", "test_accuracy")}
    m = {k: grid.mean(k) for k in ("test_loss", "train_loss", "test_accuracy", "sign_flips")}
    for lp in range(l_max + 1):
        t.add_row(str(lp), f"{m['test_loss'][i, lp]:.4f} ± {se['test_loss'][i, lp]:.4f}",
                  f"{m['train_loss'][i, lp]:.4f} ± {se['train_loss'][i, lp]:.4f}",
                  f"{m['test_accuracy'][i, lp]:.3f} ± {se['test_accuracy'][i, lp]:.3f}",
                  f"{m['sign_flips'][i, lp]:.2f}")
    console.print(t)
    f = summary["test"]
    line = (f"at l = {f['largest_width']}: test loss {f['loss_by_l_plus'][0]:.3f} (l_+ = 0) -> "
            f"{f['loss_by_l_plus'][-1]:.3f} (l_+ = l), largest rise between neighbours {f['largest_rise']:.4f}")
    if f["rank_correlation"] is not None:
        line += f", rank correlation with l_+ {f['rank_correlation']:+.2f}"
    number, fraction = f["spread_at_equal_number"], f["spread_at_equal_fraction"]
    if number is not None and fraction is not None:  # needs two widths sharing an l_+ and a fraction
        line += (f"; cells with equal l_+ differ by {number:.4f} on average, cells with equal l_+/l by "
                 f"{fraction:.4f} -> the loss follows the {'number' if number < fraction else 'fraction'} l_+")
    console.print(line)
    by_positive = f["loss_by_positive_at_init"]
    console.print("mean test loss by the number of neurons with v_k > 0 at init (all networks): "
                  + ", ".join(f"{k}: {v:.3f}" for k, v in list(by_positive.items())[:9])
                  + (" ..." if len(by_positive) > 9 else ""))
    diverged = int(np.nansum(grid.diverged))
    if diverged:
        console.print(f"[yellow]{diverged} network(s) diverged (non-finite loss)[/]")


def show_mitigation(console, result, summary: dict) -> None:
    from rich.table import Table

    both = np.concatenate([result.prescribed.mean("test_loss").ravel(), result.rebalanced.mean("test_loss").ravel()])
    lo, hi = float(np.nanmin(both)), float(np.nanmax(both))
    console.print("[bold]as prescribed[/] (pathological neurons with negative output sign)")
    show_grid(console, result.prescribed, summary["prescribed"], "prescribed: test loss", lo, hi)
    console.print("[bold]rebalanced[/] (the same networks, every neuron rescaled to c_k >= 0; same colour scale)")
    show_grid(console, result.rebalanced, summary["rebalanced"], "rebalanced: test loss", lo, hi)
    c = summary["comparison"]
    t = Table(title="does the dependence on l_+ disappear? mean test loss", title_justify="left")
    for col in ("l", "range over l_+: prescribed", "rebalanced", "at l_+ = 0: prescribed", "rebalanced"):
        t.add_column(col, justify="right")
    for i, l in enumerate(c["widths"]):
        t.add_row(str(l), f"{c['prescribed_range_over_l_plus'][i]:.4f}", f"{c['rebalanced_range_over_l_plus'][i]:.4f}",
                  f"{c['prescribed_loss_at_l_plus_0'][i]:.4f}", f"{c['rebalanced_loss_at_l_plus_0'][i]:.4f}")
    console.print(t)
    k = result.check
    console.print(
        f"at init, over {k.networks} networks: min c_k {k.min_c_before:+.3g} before -> {k.min_c_after:+.3g} after "
        f"rebalancing; max |f_after(x) - f_before(x)| = {k.max_output_change:.2g} (outputs up to {k.max_output:.3g}); "
        f"mean sign flips per network: prescribed {c['prescribed_sign_flips']:.2f}, "
        f"rebalanced {c['rebalanced_sign_flips']:.2f}")


def show_probability(console, result, summary: dict) -> None:
    from rich.table import Table

    # 4 characters a cell; a terminal too narrow for every width l gets an evenly spread subset.
    fit = max(2, (console.width - 6) // 4)
    cols = np.unique(np.linspace(0, len(result.hidden) - 1, min(fit, len(result.hidden))).round().astype(int))
    shown = "" if len(cols) == len(result.hidden) else (
        f" ({len(cols)} of {len(result.hidden)} widths: widen the terminal)")

    def percent(v: float) -> str:
        return "  <1" if v < 0.005 else f"{100 * v:4.0f}"

    for s, scheme in enumerate(result.schemes):
        console.print(heatmap(f"{scheme}: P(H(c) disconnected) in %, closed form; "
                              f"rows: inputs d, columns: width l{shown}",
                              "d", result.inputs, "l", result.hidden[cols], result.disconnected[s][:, cols], percent,
                              0.0, 1.0))
    w = width_of(console)
    series = []
    pick = [l for l in (1, 5, 30) if l in set(result.hidden.tolist())] or result.hidden[:3].tolist()
    for s, scheme in enumerate(result.schemes):
        short = scheme.split("_")[0]
        for l in pick:
            j = int(np.flatnonzero(result.hidden == l)[0])
            series.append((f"{short} l={l}", result.inputs, result.pathological[s, :, j], "line"))
            series.append((None, result.inputs, result.pathological_mc[s, :, j], "scatter"))
    console.print(ansi(plot(series, "P(neuron pathological): closed form (lines) and Monte Carlo (dots)", "inputs d",
                            "p", width=w, height=20)))
    t = Table(title=f"closed form vs Monte Carlo ({result.samples} networks per cell)", title_justify="left")
    for col in ("scheme", "quantity", "max |z|", "cells within 4 s.e.", "max closed form", "at d max, l max"):
        t.add_column(col, justify="right" if col not in ("scheme", "quantity") else "left")
    for s, scheme in enumerate(result.schemes):
        for key in ("pathological", "disconnected", "all_pathological"):
            z = np.abs(result.z(key)[s])
            t.add_row(scheme, key, f"{z.max():.2f}", f"{int(np.sum(z <= 4))}/{z.size}",
                      f"{getattr(result, key)[s].max():.4f}", f"{getattr(result, key)[s, -1, -1]:.3g}")
        t.add_row(scheme, "E\\[effective components]", "", "", f"{result.expected_effective[s].max():.3f}",
                  f"{result.expected_effective[s, -1, -1]:.3f}")
    console.print(t)
    mono = ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in summary["monotone_in_d"].items())
    line = f"p non-increasing in d ({mono})"
    if "kaiming_lower_fraction" in summary:
        line += (f"; Kaiming below Xavier in {100 * summary['kaiming_lower_fraction']:.0f}% of cells "
                 f"({'every' if summary['kaiming_lower_where_l2_gt_d'] else 'NOT every'} cell with l² > d)")
    console.print(line)
    console.print(f"[dim]Monte Carlo {result.mc_seconds:.2f} s on {result.device}[/]")
