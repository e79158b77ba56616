"""`relulab ncf CONFIG.toml`: the KKT directions of the neural correlation function (Kumar & Haupt).

For a two-homogeneous network (relu, leaky_relu, abs or linear; no output bias) and its training
data: the KKT directions of N on the unit sphere (each a unit W of length d_eff with the sign of v,
or v's direction with several outputs, its value N and its KKT residual), and, for the config's
initial point, where each neuron is predicted to go from a small initialisation, which KKT
directions its frozen output sign lets it reach, and the classification of the point.
"""

from __future__ import annotations

import argparse
import time

from core import strict_json
from lab.cli.flags import add_schema_flag, add_set_argument, apply_flags

SHOWN_DIRECTION = 6  # entries of a direction printed in the table (all of them in --json)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("ncf", help="KKT directions of the neural correlation function; predicted limits",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", metavar="CONFIG.toml", help="the network, data and initialisation")
    add_schema_flag(p, "init", "seed")
    add_schema_flag(p, "init", "scale", "--init-scale")
    add_set_argument(p)
    p.add_argument("--starts", type=int, default=64, metavar="N",
                   help="random starts of the ascent per sign (default 64)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=ncf_command)


def ncf_report(config, starts: int) -> dict:
    """Everything `ncf` prints, JSON-ready."""
    from core import ncf

    report = ncf.analyse(config, starts=starts)
    problem = report.problem
    neurons = report.prediction.neurons()
    for k, row in enumerate(neurons):
        row["c"] = report.classification["c"][k]
        row["status"] = report.classification["status"][k]
        row["nearest_now"] = int(report.initial.nearest[k]) if report.initial.nearest[k] >= 0 else None
    return {
        "architecture": {"d_eff": problem.d_eff, "outputs": problem.outputs, "samples": len(problem.x),
                         "activation": problem.activation, "loss": config.train.loss},
        "kkt": [k.to_dict() for k in report.kkt],
        "prediction": neurons,
        "classification": report.classification,
        "theta_norm": report.initial.theta_norm,
        "lr": config.train.lr,
    }


def ncf_command(args: argparse.Namespace) -> int:
    from core import ncf
    from core.config import load_config
    from core.errors import UserError
    from lab.cli.output import say

    started = time.perf_counter()
    if not 1 <= args.starts <= 10_000:
        raise UserError(f"--starts {args.starts}: must be an integer between 1 and 10000")
    config = apply_flags(load_config(args.config, args.set), args, source=f"{args.config} (command line)")
    ncf.check_covered(config)
    report = ncf_report(config, args.starts)
    report["seconds"] = round(time.perf_counter() - started, 3)
    if args.json:
        say(strict_json.dumps(report))
    else:
        print_report(report)
    return 0


def short(vector: list[float]) -> str:
    shown = " ".join(f"{a:+.3f}" for a in vector[:SHOWN_DIRECTION])
    return shown + (f" … ({len(vector)})" if len(vector) > SHOWN_DIRECTION else "")


def print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    a = report["architecture"]
    console.print(f"[bold]NCF[/] of {a['activation']} network, d_eff = {a['d_eff']}, e = {a['outputs']}, "
                  f"{a['samples']} samples, loss {a['loss']}")
    kkt = Table(title="KKT directions of N on the unit sphere", title_justify="left")
    for name, justify in (("#", "right"), ("sign of v", "center"), ("N", "right"), ("residual", "right"),
                          ("starts", "right"), ("direction of W", "left")):
        kkt.add_column(name, justify=justify)
    for i, k in enumerate(report["kkt"]):
        sign = {1: "+", -1: "-"}.get(k.get("sign"), short(k.get("v_direction", [])))
        kkt.add_row(str(i), sign, f"{k['value']:.6g}", f"{k['residual']:.1e}", str(k["basin"]), short(k["direction"]))
    console.print(kkt)
    pred = Table(title=f"Predicted limits from the initial point (a prediction; ||theta(0)|| = {report['theta_norm']:.3g})",
                 title_justify="left")
    for name in ("k", "c_k", "status", "v sign", "heads to", "cos", "rate 2N*", "can reach", "cannot reach"):
        pred.add_column(name, justify="right" if name in ("k", "c_k", "cos", "rate 2N*") else "left")
    everything = set(range(len(report["kkt"])))
    for k, n in enumerate(report["prediction"]):
        heads = "dead" if n["kkt"] is None else str(n["kkt"])
        cos = "" if n["cosine"] is None else f"{n['cosine']:.9f}"
        cannot = sorted(everything - set(n["reachable"]))
        sign = ("+" if n["sign"] >= 0 else "-") + (" frozen" if n["frozen"] else "")
        pred.add_row(str(k), f"{n['c']:+.3g}", n["status"], sign, heads, cos, f"{n['rate']:.4g}",
                     _indices(n["reachable"]), _indices(cannot))
        if k == 63 and len(report["prediction"]) > 64:
            pred.add_row("…", f"{len(report['prediction']) - 64} more", "", "", "", "", "", "", "")
            break
    console.print(pred)
    c = report["classification"]
    console.print(f"Classification at init: {c['pathological']} pathological, {c['components']} components, "
                  f"signs '{c['signs']}'")
    console.print(f"[dim]{report['seconds']:.2f} s[/]")


def _indices(items: list[int]) -> str:
    if not items:
        return "-"
    text = ",".join(map(str, items))
    return text if len(text) <= 24 else text[:21] + "…"
