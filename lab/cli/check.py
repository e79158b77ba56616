"""`relulab check`: will this architecture and initialisation be obstructed? Answers in about a second."""

from __future__ import annotations

import argparse
from core import strict_json
import time

from lab.cli.flags import add_schema_flag, add_set_argument, apply_flags


MAX_SAMPLES = 10_000_000  # networks in the Monte Carlo estimate


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("check", help="probability of an obstructed initialisation, and one sample classified",
                              description=__doc__)
    p.add_argument("--config", metavar="FILE", help="start from this TOML config")
    add_schema_flag(p, "model", "inputs")
    add_schema_flag(p, "model", "hidden")
    add_schema_flag(p, "model", "outputs")
    p.add_argument("--no-bias", dest="model.bias", action="store_const", const=False, default=None,
                   help="no hidden bias ([model] bias = false)")
    add_schema_flag(p, "init", "scheme", "--init")
    add_schema_flag(p, "init", "scale", "--init-scale")
    add_schema_flag(p, "init", "seed", "--seed")
    add_set_argument(p)
    p.add_argument("--samples", type=int, default=10_000, help="networks sampled for the Monte Carlo estimate (default 10000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_check)


def check_report(config, samples: int) -> dict:
    """Everything `check` prints, as a JSON-ready dict."""
    from core.data import dataset_inputs
    from core.memory import check_memory
    from core.init import initial_params
    from core.invariants import classify_params
    from core.probability import obstruction
    from core.snapshot import exact_count

    m, i = config.model, config.init
    inputs = dataset_inputs(config)
    check_memory(config, inputs, samples=0)  # one network's weights, before they are drawn
    prob = obstruction(i.scheme, inputs, m.hidden, m.outputs, bias=m.bias, hidden_bias=i.hidden_bias,
                       samples=samples, seed=i.seed, activation=m.activation)
    sample = classify_params(initial_params(config, inputs), m.activation)
    return {
        "architecture": {"inputs": inputs, "hidden": m.hidden, "outputs": m.outputs, "bias": m.bias,
                         "d_eff": inputs + m.bias},
        "init": {"scheme": i.scheme, "scale": i.scale, "seed": i.seed, "hidden_bias": i.hidden_bias},
        "probability": prob.to_dict(),
        "sample": {
            "c": [float(x) for x in sample.c],
            "status": sample.status,
            "pathological": sample.pathological,
            "components": exact_count(sample.components),
            "components_log2": sample.components_log2,
            "effective_components": sample.effective_components,
            "signs": sample.signs,
        },
    }


def run_check(args: argparse.Namespace) -> int:
    from core.config import Config, apply_set, load_config
    from core.errors import UserError

    started = time.perf_counter()
    if not 1 <= args.samples <= MAX_SAMPLES:
        raise UserError(f"--samples {args.samples}: must be an integer >= 1 and <= {MAX_SAMPLES}")
    if args.config:
        config = load_config(args.config, args.set)
    else:
        config = apply_set(Config(), args.set) if args.set else Config()
    config = apply_flags(config, args)
    report = check_report(config, args.samples)
    report["seconds"] = round(time.perf_counter() - started, 3)
    if args.json:
        print(strict_json.dumps(report))
    else:
        print_report(report)
    return 0


def print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from core.snapshot import count_text

    a, p, s = report["architecture"], report["probability"], report["sample"]
    console = Console()
    console.print(
        f"[bold]{a['inputs']} inputs{' + bias' if a['bias'] else ''} -> {a['hidden']} hidden -> {a['outputs']} output(s)[/], "
        f"init {report['init']['scheme']} (scale {report['init']['scale']:g}, seed {report['init']['seed']})"
    )
    t = Table(title="Obstruction at initialisation", title_justify="left")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    closed = "n/a (no closed form)" if p["pathological"] is None else f"{p['pathological']:.6f}"
    t.add_row("P(neuron pathological), closed form", closed)
    t.add_row(f"P(neuron pathological), Monte Carlo ({p['samples']} nets)",
              f"{p['pathological_mc']:.6f} ± {p['pathological_mc_stderr']:.6f}")
    t.add_row("P(H(c) disconnected)", f"{p['disconnected']:.6f}")
    t.add_row("P(all neurons pathological)", f"{p['all_pathological']:.3g}")
    t.add_row("E\\[effective components]", f"{p['expected_effective_components']:.4f}")
    console.print(t)
    console.print(f"[bold]One sampled initialisation[/]: {s['pathological']} pathological, "
                  f"{count_text(2 ** s['components_log2'])} components, "
                  f"{s['effective_components']} effective, signs '{s['signs']}'")
    u = Table()
    u.add_column("k", justify="right")
    u.add_column("c_k", justify="right")
    u.add_column("status")
    for k, (c, st) in enumerate(zip(s["c"], s["status"])):
        if k == 32:
            u.add_row("…", f"{len(s['c']) - 32} more", "")
            break
        u.add_row(str(k), f"{c:+.5f}", f"[red]{st}[/]" if st == "pathological" else st)
    console.print(u)
    console.print(f"[dim]{report['seconds']:.2f} s[/]")
