"""`relulab experiment NAME`: reproduce the paper's evidence from the terminal.

    toy            |x| with two ReLU neurons: obstructed (+,-) vs free (+,+) vs a rebalanced control
    breast-cancer  test loss over hidden width l and the number l_+ of non-pathological neurons
    probability    P(obstructed initialisation) over inputs d and width l, closed form vs Monte Carlo
    mitigation     the breast-cancer grid again with every neuron rescaled to c_k >= 0 at init (norm swap and ratios)
    level-sets     Freeman & Bruna: normalised geodesic length between trained pairs against the loss level
    atlas          the floor of every component of H(c): the toy and breast cancer at l = l_- = 8

Every run is recorded in the session store as a sweep (unless --no-save); --out DIR writes CSV
and JSON with the provenance (configs, seeds, steps, lr, device, software versions).
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from lab.experiment_report import build_report, check_out_dir, jsonable, record_result, write_out
from lab.views.experiments import show

NAMES = ("toy", "breast-cancer", "probability", "mitigation", "level-sets", "atlas")  # core.experiments.NAMES, without importing torch
# Which options each experiment reads; giving another one is a mistake worth one line.
OPTIONS = {
    "toy": ("steps", "lr"),
    "breast-cancer": ("widths", "seeds", "steps", "lr"),
    "mitigation": ("widths", "seeds", "steps", "lr", "ratios"),
    "probability": ("seeds", "samples", "max_inputs", "max_hidden"),
    "level-sets": ("widths", "seeds", "steps", "lr"),
    "atlas": ("restarts", "steps", "lr"),
}
MAX_GRID_SIDE = 200  # probability: d and l up to this (the Monte Carlo holds a d x l x chunk tensor)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("experiment",
                              help="the experiments: toy | breast-cancer | probability | mitigation | level-sets | atlas",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME", choices=NAMES, help="toy | breast-cancer | probability | mitigation | level-sets | atlas")
    p.add_argument("--quick", action="store_true", help="the reduced grid (seconds instead of minutes)")
    p.add_argument("--device", default="auto", metavar="DEVICE", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--seeds", metavar="SPEC",
                   help="N (seeds 0..N-1), a list 3,5,8 or a range 10-29; "
                        "probability: the first is the Monte Carlo seed")
    p.add_argument("--widths", metavar="L,L,...",
                   help="hidden widths of the grid, e.g. 2,4,8 (breast-cancer, mitigation, level-sets)")
    p.add_argument("--ratios", metavar="R,R,...",
                   help="mitigation: ||W_k|| / ||v_k|| of the rebalanced neurons, each >= 1 (default 2,3,4,8)")
    p.add_argument("--steps", type=int, metavar="N", help="training steps (toy, breast-cancer, mitigation, level-sets, atlas)")
    p.add_argument("--lr", type=float, metavar="X", help="learning rate (toy, breast-cancer, mitigation, atlas; level-sets: training and bead descent)")
    p.add_argument("--restarts", type=int, metavar="R", help="atlas: starting points per component (default 32)")
    p.add_argument("--samples", type=int, metavar="N", help="probability: networks sampled per cell (default 100000)")
    p.add_argument("--max-inputs", type=int, metavar="N", help="probability: inputs d = 1..N (default 30)")
    p.add_argument("--max-hidden", type=int, metavar="N", help="probability: hidden widths l = 1..N (default 30)")
    p.add_argument("--json", action="store_true", help="print one JSON object (no tables, no plots)")
    p.add_argument("--out", metavar="DIR", help="write NAME.csv, NAME.json (with provenance) and more into DIR")
    p.add_argument("--figures", metavar="DIR",
                   help="draw the heatmaps and curves as figure files into DIR (needs 'relulab[plots]')")
    p.add_argument("--figure-format", default="png", choices=("png", "svg", "pdf"), help="with --figures (default png)")
    p.add_argument("--no-save", action="store_true", help="do not record the experiment in the session store")
    p.add_argument("--name", dest="session_name", metavar="TEXT", help="a name for the recorded session")
    from lab.cli.sessions import add_store_argument

    add_store_argument(p)
    p.set_defaults(func=experiment_command)


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
        widths = [int(w) for w in spec.replace(" ", "").split(",")]  # an empty piece (2,,4) is a mistake
    except ValueError:
        widths = []
    if not widths or min(widths) < 1 or max(widths) > 1024:
        raise UserError(f"--widths {spec}: must be a list of integers between 1 and 1024, e.g. 2,4,8")
    return sorted(set(widths))


def parse_ratios(spec: str) -> list[float]:
    from core.errors import UserError

    try:
        ratios = [float(r) for r in spec.replace(" ", "").split(",") if r]
    except ValueError:
        ratios = []
    if not ratios or not all(1 <= r <= 1e6 for r in ratios):
        raise UserError(f"--ratios {spec}: must be a list of numbers between 1 and 1e6, e.g. 2,3,4,8")
    return sorted(set(ratios))


def resolve_parameters(args: argparse.Namespace) -> dict:
    """The experiment's parameters: its preset (--quick or full), then the options given."""
    from core import experiments
    from core.config import check_value
    from core.errors import UserError

    given = {
        "seeds": parse_seeds(args.seeds) if args.seeds is not None else None,
        "widths": parse_widths(args.widths) if args.widths is not None else None,
        "ratios": parse_ratios(args.ratios) if args.ratios is not None else None,
        "steps": args.steps, "lr": args.lr, "samples": args.samples, "restarts": args.restarts,
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
    if args.restarts is not None and args.restarts < 1:
        raise UserError(f"--restarts {args.restarts}: must be an integer >= 1")
    if args.samples is not None and args.samples < 2:
        raise UserError(f"--samples {args.samples}: must be an integer >= 2")
    for key in ("max_inputs", "max_hidden"):
        value = getattr(args, key)
        if value is not None and not 1 <= value <= MAX_GRID_SIDE:
            raise UserError(f"--{key.replace('_', '-')} {value}: must be an integer between 1 and {MAX_GRID_SIDE}")
    check_value("train", "device", args.device, "--device")
    return experiments.parameters(args.name, args.quick, **given)


def experiment_command(args: argparse.Namespace) -> int:
    import warnings

    from core import experiments
    from core.errors import UserError
    from lab.cli.exit_codes import for_status

    params = resolve_parameters(args)
    # Every destination is checked before minutes of training: the output folder, the store, the name.
    if args.out:
        check_out_dir(Path(args.out))
    store = None
    if not args.no_save:
        from lab.cli.sessions import open_store
        from sessions.store import check_name

        store = open_store(args.store)
        if args.session_name is not None:
            taken = store.name_taken(check_name(args.session_name))
            if taken:
                raise UserError(f"--name {args.session_name!r}: taken by session {taken}: names are unique in a store")
    if args.figures:  # a missing matplotlib or an unusable directory is found before minutes of work
        from lab.views.figures import pyplot

        pyplot()
        try:
            Path(args.figures).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"--figures {args.figures}: cannot create the directory ({e.strerror or e})") from None
    from core.train import resolve_device

    resolve_device(args.device)  # a missing CUDA device is a one-line error before anything runs
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    stop = threading.Event()
    # First Ctrl-C stops after the current training call; a second one aborts.
    previous = signal.signal(signal.SIGINT, lambda *_: (stop.set(), signal.signal(signal.SIGINT, previous)))
    started = time.perf_counter()
    # Diverged networks make NaN means and numpy warnings; they are counted and reported instead.
    warnings.simplefilter("ignore", RuntimeWarning)
    try:
        result = run_with_progress(args.name, params, args.device, stop, quiet=args.json)
    except experiments.Stopped:
        print(f"relulab: experiment {args.name} stopped; nothing recorded", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
    seconds = time.perf_counter() - started
    report, prov = build_report(args.name, args.quick, params, result, args.device, started_at, seconds)
    session, store_error = (None, None) if store is None else record(store, args, result, prov, report)
    report["session"] = prov["session"] = session
    files = write_out(Path(args.out), args.name, result, prov, report) if args.out else []
    if args.figures:
        from lab.views.figures import experiment_figures

        files += experiment_figures(result, Path(args.figures), "." + args.figure_format)
    report["files"] = [str(f) for f in files]
    if args.json:
        print(json.dumps(jsonable(report)))
    else:
        show(result, report)
    if store_error:
        raise UserError(store_error)
    return for_status(report["status"])


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


def record(store, args, result, prov: dict, report: dict) -> tuple[str | None, str | None]:
    """Record in the store opened before the work; returns (session id, error). A store fault
    is reported after the results are shown, never instead of them."""
    from core.errors import UserError

    try:
        name = args.session_name or store.free_name(f"experiment {args.name}" + (" --quick" if args.quick else ""))
        return record_result(store, args.name, result, prov, report, args.device, name), None
    except (UserError, OSError) as e:
        return None, f"the experiment ran but was not recorded: {e}"
