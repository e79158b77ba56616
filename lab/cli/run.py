"""`relulab run CONFIG.toml`: train headless with a progress bar, record the run, report its classification."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from contextlib import closing

from lab.cli.flags import add_schema_flag, apply_flags


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("run", help="train a config headless and record it", description=__doc__)
    p.add_argument("config", metavar="CONFIG.toml", help="the run's configuration")
    add_schema_flag(p, "train", "device")
    add_schema_flag(p, "train", "steps")
    add_schema_flag(p, "init", "seed")
    p.add_argument("--name", help="a name for the recorded session")
    p.add_argument("--tag", action="append", default=[], help="tag the recorded session (repeatable)")
    p.add_argument("--no-save", action="store_true", help="do not record the run in the session store")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end (no progress bar)")
    from lab.cli.sessions import add_store_argument

    add_store_argument(p)
    p.set_defaults(func=run_command)


def classification_summary(c) -> dict:
    return {"pathological": c.pathological, "components": c.components,
            "effective_components": c.effective_components, "signs": c.signs, "status": c.status}


def run_command(args: argparse.Namespace) -> int:
    from core.config import load_config
    from core.errors import UserError
    from core.train import Trainer

    config = apply_flags(load_config(args.config), args, source=f"{args.config} (command line)")
    trainer = Trainer(config)
    recorder = None if args.no_save else Recorder(args, config, trainer)

    # First Ctrl-C asks the trainer to stop after its current step; a second one aborts.
    previous = signal.signal(signal.SIGINT, lambda *_: (trainer.stop(), signal.signal(signal.SIGINT, previous)))
    try:
        last = train_with_progress(trainer, recorder, quiet=args.json)
    finally:
        signal.signal(signal.SIGINT, previous)
        if recorder:
            recorder.finish(trainer)

    report = {
        "status": trainer.status,
        "device": trainer.environment["device"],
        "steps": last.step if last else 0,
        "seconds": round(last.elapsed, 3) if last else 0.0,
        "steps_per_second": round(trainer.steps_per_second, 1),
        "final": {"loss": last.loss if last else None, "test_loss": last.test_loss if last else None,
                  "accuracy": last.accuracy if last else None, "test_accuracy": last.test_accuracy if last else None,
                  "c": trainer.final.c.tolist()},
        "initial": {"c": trainer.initial.c.tolist()},
        "max_c_drift": last.max_drift if last else 0.0,
        "classification": {"initial": classification_summary(trainer.initial),
                           "final": classification_summary(trainer.final)},
        "hops": [h.to_dict() for h in trainer.hops],
        "session": recorder.id if recorder else None,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
    if recorder and recorder.error:
        raise UserError(recorder.error)
    return 0


class Recorder:
    """Records the run in the session store; a store fault stops recording, never the training."""

    def __init__(self, args, config, trainer):
        from lab.cli.sessions import open_store

        self.error: str | None = None
        store = open_store(args.store)
        self.writer = store.create_session(config, trainer.environment, name=args.name, tags=args.tag)
        self.writer.set_initial(trainer.initial)
        self.id = self.writer.id

    def append(self, batch) -> None:
        if self.error:
            return
        from core.errors import UserError

        try:
            self.writer.append_batch(batch)
        except UserError as e:
            self.error = f"session {self.id}: recording stopped: {e}"
            print(f"relulab: {self.error}", file=sys.stderr)

    def finish(self, trainer) -> None:
        from core.errors import UserError

        try:
            self.writer.finish(trainer.status if trainer.status != "running" else "interrupted", trainer.final)
        except UserError as e:
            self.error = self.error or f"session {self.id}: {e}"


def recorded(trainer, recorder):
    """The run's snapshots; the recorder (if any) takes each batch of them on the way."""
    with closing(trainer.batches()) as batches:
        for batch in batches:
            if recorder:
                recorder.append(batch)
            yield from batch


def train_with_progress(trainer, recorder, quiet: bool):
    """Iterate the run, feeding the recorder; a rich bar on a terminal, a line per 10% otherwise."""
    total = trainer.config.train.steps
    last = None
    if quiet:
        for last in recorded(trainer, recorder):
            pass
        return last
    if sys.stdout.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]}"), TextColumn("l_- {task.fields[path]}"), TimeRemainingColumn()]
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task(f"training on {trainer.environment['device']}", total=total, loss="-", path="-")
            for last in recorded(trainer, recorder):
                progress.update(task, completed=last.step, loss=f"{last.loss:.4g}", path=l_minus(last))
        return last
    print(f"training on {trainer.environment['device']}: {total} steps", flush=True)
    next_report, started = 0, time.perf_counter()
    for last in recorded(trainer, recorder):
        if last.step >= next_report:
            print(f"step {last.step:>8}/{total}  loss {last.loss:.6g}  l_- {l_minus(last)}  "
                  f"signs '{last.signs}'  {time.perf_counter() - started:.1f} s", flush=True)
            next_report = last.step + max(1, total // 10)
    return last


def l_minus(snap) -> int:
    from core.invariants import count_pathological

    return count_pathological(snap.c, snap.w_norm**2 + snap.v**2)


def print_report(report: dict) -> None:
    from rich.console import Console

    console = Console()
    ci, cf = report["classification"]["initial"], report["classification"]["final"]
    f = report["final"]
    console.print(f"[bold]{report['status']}[/] after {report['steps']} steps on {report['device']} "
                  f"({report['steps_per_second']:,.0f} steps/s)")
    losses = f"loss {f['loss']:.6g}" if f["loss"] is not None else "no loss"
    if f["test_loss"] is not None:
        losses += f", test loss {f['test_loss']:.6g}"
    if f["accuracy"] is not None:
        losses += f", accuracy {f['accuracy']:.3f}"
    if f["test_accuracy"] is not None:
        losses += f", test accuracy {f['test_accuracy']:.3f}"
    console.print("final " + losses)
    for label, c in (("initial", ci), ("final", cf)):
        console.print(f"{label:>7}: {c['pathological']} pathological, {c['components']} components, "
                      f"{c['effective_components']} effective, signs '{c['signs']}'")
    console.print(f"max |c_k(t) - c_k(0)| = {report['max_c_drift']:.3g}; component hops: {len(report['hops'])}")
    for h in report["hops"][:10]:
        console.print(f"  hop at step {h['step']}: neuron {h['neuron']}, c {h['c_before']:+.4g} -> {h['c_after']:+.4g}")
    if report["session"]:
        console.print(f"session [bold]{report['session']}[/]")
