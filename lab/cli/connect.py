"""`relulab connect A B`: is there a path from A to B along which the loss stays below a level?

A and B are recorded sessions (their final parameters, or ID@STEP for the checkpoint at or
before STEP) or .npz files holding hidden_weight, hidden_bias_values (with a hidden bias),
output_weight and, with an output bias, output_bias; an .npz needs --config for the data, the
loss and the architecture. Freeman & Bruna's dynamic string sampling looks for the path; with
--space invariant it looks inside the invariant set H(c) of A and B.

Exit status: 0 connected, 3 not connected (not found within budget, or a gap of H(c)),
2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from core import strict_json

NPZ_KEYS = ("hidden_weight", "hidden_bias_values", "output_weight", "output_bias")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("connect", help="level-set connectivity between two runs (string sampling)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", metavar="A", help="session id, ID@STEP, or an .npz of explicit weights")
    p.add_argument("b", metavar="B", help="session id, ID@STEP, or an .npz of explicit weights")
    p.add_argument("--config", metavar="CONFIG.toml", help="data, loss and architecture (needed for .npz inputs)")
    level = p.add_mutually_exclusive_group()
    level.add_argument("--level", type=float, metavar="L0", help="the loss level the path must stay below")
    level.add_argument("--level-factor", type=float, metavar="F", default=1.2,
                       help="L0 = F x max(L(A), L(B)) (default 1.2)")
    p.add_argument("--space", choices=("full", "invariant"), default="full",
                   help="full parameter space, or inside H(c) (default full)")
    p.add_argument("--align", action=argparse.BooleanOptionalAction, default=True,
                   help="permute B's neurons onto A's first (Hungarian matching; default on)")
    p.add_argument("--max-beads", type=int, default=64, metavar="N", help="bead budget (default 64)")
    p.add_argument("--steps", type=int, default=2000, metavar="N", help="descent steps per bead (default 2000)")
    p.add_argument("--lr", type=float, metavar="X", help="descent learning rate (default: the config's [train] lr)")
    p.add_argument("--points", type=int, default=16, metavar="K",
                   help="loss evaluations per segment; the accepted chain is verified on 4 K (default 16)")
    p.add_argument("--device", metavar="DEVICE", default="cpu", help="auto | cpu | cuda | cuda:N (default cpu)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-save", action="store_true", help="do not record the connection in the session store")
    p.add_argument("--name", dest="session_name", metavar="TEXT", help="a name for the recorded session")
    from lab.cli.sessions import add_store_argument

    add_store_argument(p)
    p.set_defaults(func=connect_command)


@dataclass
class Endpoint:
    label: str  # what the user typed, resolved: "ab12cd34@2000" or "a.npz"
    params: object  # core.snapshot.Params
    config: object | None  # core.config.Config of a session, None for an .npz


def is_npz(text: str) -> bool:
    return text.lower().endswith(".npz")


def load_session_endpoint(store, spec: str) -> Endpoint:
    from core.errors import UserError

    ident, _, step_text = spec.partition("@")
    session = store.load(ident)
    steps = session.checkpoint_steps()
    if not steps:
        raise UserError(f"{spec}: session {session.id} ({session.kind}) has no saved parameters")
    if step_text:
        if not step_text.isdigit():
            raise UserError(f"{spec}: the step after @ must be an integer >= 0")
        step = int(step_text)
        if step < steps[0]:
            raise UserError(f"{spec}: session {session.id} has no checkpoint at or before step {step} "
                            f"(the first is at step {steps[0]})")
        step = max(s for s in steps if s <= step)
    else:
        step = steps[-1]
    return Endpoint(f"{session.id}@{step}", session.checkpoint(step), session.config)


def load_npz_endpoint(path_text: str, config) -> Endpoint:
    """Explicit weights from an .npz; checked against the config's shapes, never unpickled."""
    import zipfile

    import numpy as np

    from core.data import dataset_inputs
    from core.errors import UserError
    from core.snapshot import Params

    path = Path(path_text)
    if not path.is_file():
        raise UserError(f"{path_text}: no such file")
    if config is None:
        raise UserError(f"{path_text}: an .npz holds weights only; give --config for the data, loss and architecture")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: np.asarray(npz[k]) for k in npz.keys()}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise UserError(f"{path_text}: not an .npz of plain numeric arrays ({e})") from None
    unknown = sorted(set(arrays) - set(NPZ_KEYS))
    if unknown:
        raise UserError(f"{path_text}: unknown array {unknown[0]!r}; allowed are {', '.join(NPZ_KEYS)}")
    m = config.model
    inputs = dataset_inputs(config)
    want = {"hidden_weight": (m.hidden, inputs), "output_weight": (m.outputs, m.hidden)}
    if m.bias:
        want["hidden_bias_values"] = (m.hidden,)
    if m.output_bias:
        want["output_bias"] = (m.outputs,)
    for key in NPZ_KEYS:
        if key not in want and key in arrays:
            flag = "[model] bias" if key == "hidden_bias_values" else "[model] output_bias"
            raise UserError(f"{path_text}: holds {key}, but the config has {flag} = false")
        if key not in want:
            continue
        if key not in arrays:
            raise UserError(f"{path_text}: lacks the array {key} (shape {' x '.join(map(str, want[key]))})")
        a = arrays[key]
        if a.dtype.kind not in "iuf":
            raise UserError(f"{path_text}: {key} must hold numbers, not {a.dtype}")
        if a.shape != want[key]:
            raise UserError(f"{path_text}: {key} has shape {' x '.join(map(str, a.shape)) or 'scalar'}; "
                            f"the config needs {' x '.join(map(str, want[key]))}")
        if not np.all(np.isfinite(a)):
            raise UserError(f"{path_text}: {key} holds NaN or infinite values")
    f64 = {k: arrays[k].astype(np.float64) for k in want}
    params = Params(f64["hidden_weight"], f64.get("hidden_bias_values"), f64["output_weight"], f64.get("output_bias"))
    return Endpoint(str(path), params, None)


def same_problem(a, b) -> str | None:
    """The first config key (architecture, data or loss) where two sessions differ, or None."""
    from core.config import config_to_dict

    da, db = config_to_dict(a), config_to_dict(b)
    for section in ("model", "data"):
        for key in sorted(set(da[section]) | set(db[section])):
            if da[section].get(key) != db[section].get(key):
                return f"[{section}] {key}"
    if a.train.loss != b.train.loss:
        return "[train] loss"
    return None


def resolve_inputs(args, store):
    """(config, endpoint A, endpoint B) from the command line."""
    from core.config import load_config
    from core.errors import UserError

    given = load_config(args.config) if args.config else None
    needs_store = not (is_npz(args.a) and is_npz(args.b))
    if needs_store and store is None:
        from lab.cli.sessions import open_store

        store = open_store(args.store)
    ends = []
    for spec in (args.a, args.b):
        ends.append(load_npz_endpoint(spec, given) if is_npz(spec) else load_session_endpoint(store, spec))
    a, b = ends
    recorded = [e for e in ends if e.config is not None]
    if len(recorded) == 2 and given is None:
        differs = same_problem(recorded[0].config, recorded[1].config)
        if differs:
            raise UserError(f"{a.label} and {b.label} solve different problems ({differs} differs); "
                            "give --config to choose one")
    config = given or recorded[0].config
    if config is None:
        raise UserError(f"{a.label}: its session has no config; give --config")
    return config, a, b, store


def settings_from(args, config):
    from core.connect import ConnectSettings

    return ConnectSettings(
        level=args.level, level_factor=args.level_factor, space=args.space, align=args.align,
        max_beads=args.max_beads, steps=args.steps, lr=args.lr if args.lr is not None else config.train.lr,
        points=args.points,
    )


def connect_command(args: argparse.Namespace) -> int:
    from core.config import check_value
    from core.connect import Interrupted, connect
    from lab.cli.exit_codes import COMPLETED, INTERRUPTED, NOT_CONNECTED
    from core.data import load_dataset
    from core.errors import UserError

    check_value("train", "device", args.device, "--device")
    if args.lr is not None and not (args.lr > 0 and math.isfinite(args.lr)):
        raise UserError(f"--lr {args.lr}: must be a number > 0")
    config, a, b, store = resolve_inputs(args, None)
    settings = settings_from(args, config)
    settings.check()
    dataset = load_dataset(config)
    stop = threading.Event()
    # First Ctrl-C stops after the current round of bead descents; a second one aborts.
    previous = signal.signal(signal.SIGINT, lambda *_: (stop.set(), signal.signal(signal.SIGINT, previous)))
    try:
        result = connect(config, dataset, a.params, b.params, settings, device=args.device, stop=stop,
                         progress=None if args.json else say)
    except Interrupted:
        print("relulab: connect stopped; nothing recorded", file=sys.stderr)
        return INTERRUPTED
    finally:
        signal.signal(signal.SIGINT, previous)
    report = {"a": a.label, "b": b.label, **result.to_dict(), "session": None}
    store_error = None
    if not args.no_save:
        try:
            if store is None:
                from lab.cli.sessions import open_store

                store = open_store(args.store)
            report["session"] = record_connection(store, config, a.label, b.label, settings, result, args)
        except (UserError, OSError) as e:
            store_error = f"the connection was computed but not recorded: {e}"
    if args.json:
        from lab.cli.output import say as print_line

        print_line(strict_json.dumps(report))
    else:
        from rich.console import Console

        from lab.views.connect import summary_text

        Console().print(summary_text(report))
    if store_error:
        raise UserError(store_error)
    return COMPLETED if result.connected else NOT_CONNECTED


def say(line: str) -> None:
    print(f"relulab: connect: {line}", file=sys.stderr, flush=True)


def record_connection(store, config, a_label: str, b_label: str, settings, result, args) -> str:
    """Record as a session of kind "connect": the summary, the profile, c_k along it and the beads."""
    from dataclasses import asdict

    import numpy as np

    from core.train import environment, resolve_device

    env = environment(resolve_device(args.device))
    env.update(connect_a=a_label, connect_b=b_label)
    name = args.session_name or f"connect {a_label} {b_label}"
    writer = store.create_session(config, env, name=name, tags=("connect", settings.space), kind="connect")
    try:
        summary = result.to_dict()
        summary.pop("profile")
        writer.put_json("connection", {"a": a_label, "b": b_label, **summary})
        writer.put_json("settings", asdict(settings))
        writer.put_array("profile_position", result.profile_position)
        writer.put_array("profile_loss", result.profile_loss)
        if result.profile_c is not None:
            writer.put_array("profile_c", result.profile_c)
        writer.put_array("bead_points", result.bead_points)
        writer.put_array("bead_positions", np.asarray(result.bead_positions, np.float64))
        writer.finish("completed")
    except BaseException:
        writer.finish("failed")
        raise
    return writer.id
