"""`relulab run CONFIG.toml`: train headless with a progress bar, record the run, report its classification.

Exit status: 0 completed, 2 bad input, 3 diverged (the loss stopped being finite), 130 interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from contextlib import closing

from core import strict_json
from lab.cli.exit_codes import for_status
from lab.cli.flags import add_schema_flag, add_set_argument, apply_flags, flag_given
from lab.cli.output import say, silence_stdout


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("run", help="train a config headless and record it", description=__doc__)
    p.add_argument("config", metavar="CONFIG.toml", help="the run's configuration")
    add_run_options(p)
    p.set_defaults(func=run_command)


def add_run_options(p: argparse.ArgumentParser) -> None:
    """What `run` and `rerun` share: overrides, naming, recording, output."""
    add_set_argument(p)
    add_schema_flag(p, "train", "device")
    add_schema_flag(p, "train", "steps")
    add_schema_flag(p, "init", "seed")
    p.add_argument("--name", help="a name for the recorded session (unique in the store)")
    p.add_argument("--tag", action="append", default=[], help="tag the recorded session (repeatable)")
    p.add_argument("--no-save", action="store_true", help="do not record the run in the session store")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end (no progress bar)")
    from lab.cli.sessions import add_store_argument

    add_store_argument(p)


def classification_summary(c) -> dict:
    from core.snapshot import exact_count

    return {"pathological": c.pathological, "components": exact_count(c.components),
            "components_log2": c.components_log2, "effective_components": c.effective_components,
            "signs": c.signs, "status": c.status}


def run_command(args: argparse.Namespace) -> int:
    from core.config import load_config

    config = load_config(args.config, args.set)
    config = apply_flags(config, args, source=f"{args.config} (command line)")
    return run_config(config, args)


def run_config(config, args: argparse.Namespace) -> int:
    """Train `config` as `run` does (also `rerun`): every input is checked, and the store opened,
    before torch is imported or a step is taken."""
    from core.config import seed_unused
    from core.data import load_dataset
    from core.errors import UserError

    if flag_given(args, "init", "seed") and seed_unused(config):
        raise UserError("--seed: the explicit weights ([init] hidden_weight, output_weight) leave nothing to draw; omit it")
    if args.name is not None:
        from sessions.store import check_name

        check_name(args.name)
    dataset = load_dataset(config)
    store = None
    if not args.no_save:
        from lab.cli.sessions import open_store

        store = open_store(args.store)
    from core.train import Trainer  # torch: only once the input is known to be good

    trainer = Trainer(config, dataset=dataset)
    recorder = Recorder(store, args, config, trainer) if store is not None else None

    # First Ctrl-C asks the trainer to stop after its current step; a second one aborts.
    previous = signal.signal(signal.SIGINT, lambda *_: (trainer.stop(), signal.signal(signal.SIGINT, previous)))
    error = None
    try:
        last = train_with_progress(trainer, recorder, quiet=args.json)
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        error = f"{type(e).__name__}: {e}"
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
        if recorder:
            recorder.finish(trainer, error)

    report = build_report(trainer, last, recorder)
    try:
        if args.json:
            print(strict_json.dumps(report))  # a diverged run's NaN as null
        else:
            print_report(report)
    except BrokenPipeError:
        silence_stdout()
    if recorder and recorder.error:
        if recorder.reported:
            return 2  # the line was printed when recording stopped; once is enough
        raise UserError(recorder.error)
    return for_status(trainer.status)


def build_report(trainer, last, recorder) -> dict:
    from core.train import law_text
    from sessions.info import finite

    return {
        "status": trainer.status,
        "exit_status": for_status(trainer.status),
        "device": trainer.environment["device"],
        "steps": last.step if last else 0,
        "diverged_at": trainer.diverged_at,
        "log_every": trainer.config.train.log_every,
        "seconds": round(last.elapsed, 3) if last else 0.0,
        "steps_per_second": round(trainer.steps_per_second, 1),
        # The state the run ends with: the last step, or for a diverged run the last snapshot
        # whose loss was finite (`steps` says which).
        "final": {"loss": finite(last.loss) if last else None, "test_loss": finite(last.test_loss) if last else None,
                  "accuracy": last.accuracy if last else None, "test_accuracy": last.test_accuracy if last else None,
                  "c": [finite(x) for x in trainer.final.c.tolist()]},
        "initial": {"c": trainer.initial.c.tolist()},
        "max_c_drift": finite(last.max_drift) if last else 0.0,
        "max_c_drift_from": law_text(trainer.config.train),
        "classification": {"initial": classification_summary(trainer.initial),
                           "final": classification_summary(trainer.final)},
        "hops": [h.to_dict() for h in trainer.hops],
        "session": recorder.id if recorder else None,
    }


class Recorder:
    """Records the run in the session store; a store fault stops recording, never the training."""

    def __init__(self, store, args, config, trainer):
        self.error: str | None = None
        self.reported = False  # the error line has been printed
        env = dict(trainer.environment, inputs=trainer.inputs)
        self.writer = store.create_session(config, env, name=args.name, tags=args.tag)
        self.id = self.writer.id
        self.writer.set_initial(trainer.initial)

    def append(self, batch) -> None:
        if self.error:
            return
        from core.errors import UserError

        try:
            self.writer.append_batch(batch)
        except UserError as e:
            self.error = f"recording stopped: {e}"
            print(f"relulab: {self.error}", file=sys.stderr)
            self.reported = True

    def finish(self, trainer, error: str | None = None) -> None:
        """Close the session with the run's status; a run that raised ends `failed` with the reason."""
        from core.errors import UserError

        status = "failed" if error else trainer.status if trainer.status != "running" else "interrupted"
        if status == "diverged":
            error = divergence_text(trainer)
        try:
            self.writer.finish(status, trainer.final, error=error)
        except UserError as e:
            self.error = self.error or str(e)


def divergence_text(trainer) -> str:
    """Where the loss stopped being finite and which state was kept, in one line."""
    every = trainer.config.train.log_every
    where = f"the loss was not finite at step {trainer.diverged_at}" + (
        f" (checked every {every} steps)" if every > 1 else "")
    if trainer.kept_step is None:
        return where + "; no snapshot had a finite loss, so the initial weights are kept"
    return where + f"; kept the weights of step {trainer.kept_step}, the last with a finite loss"


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
    say(f"training on {trainer.environment['device']}: {total} steps")
    next_report, started = 0, time.perf_counter()
    for last in recorded(trainer, recorder):
        if last.step >= next_report:
            say(f"step {last.step:>8}/{total}  loss {last.loss:.6g}  l_- {l_minus(last)}  "
                f"signs '{last.signs}'  {time.perf_counter() - started:.1f} s")
            next_report = last.step + max(1, total // 10)
    return last


def l_minus(snap) -> int:
    from core.invariants import count_pathological

    return count_pathological(snap.c, snap.w_norm**2 + snap.v**2)


def print_report(report: dict) -> None:
    from rich.console import Console
    from rich.text import Text

    from core.snapshot import count_text

    console = Console(highlight=False)
    ci, cf = report["classification"]["initial"], report["classification"]["final"]
    f = report["final"]
    status = report["status"]
    if status == "diverged":
        console.print(Text(f"diverged: the loss was not finite at step {report['diverged_at']}", style="bold red")
                      + Text(f" (checked every {report['log_every']} steps)" if report["log_every"] > 1 else ""))
        label = f"kept (step {report['steps']}, the last finite loss):" if f["loss"] is not None else \
            "kept: the initial weights (no snapshot had a finite loss);"
    else:
        console.print(Text(status, style="bold") + Text(f" after {report['steps']} steps on {report['device']} "
                                                        f"({report['steps_per_second']:,.0f} steps/s)"))
        label = "final" if status == "completed" else f"at step {report['steps']}:"
    losses = f"loss {f['loss']:.6g}" if f["loss"] is not None else "no finite loss"
    if f["test_loss"] is not None:
        losses += f", test loss {f['test_loss']:.6g}"
    if f["accuracy"] is not None:
        losses += f", accuracy {f['accuracy']:.3f}"
    if f["test_accuracy"] is not None:
        losses += f", test accuracy {f['test_accuracy']:.3f}"
    console.print(f"{label} {losses}", markup=False)
    for name, c in (("initial", ci), ("final" if status != "diverged" else "kept", cf)):
        count = count_text(2 ** c["components_log2"])
        console.print(f"{name:>7}: {c['pathological']} pathological, {count} components, "
                      f"{c['effective_components']} effective, signs '{c['signs']}'", markup=False)
    drift, law = report["max_c_drift"], report["max_c_drift_from"]
    console.print(f"max |c_k(t) - {law}| = {drift:.3g}; component hops: {len(report['hops'])}" if drift is not None
                  else f"max |c_k(t) - {law}| not finite; component hops: {len(report['hops'])}", markup=False)
    for h in report["hops"][:10]:
        console.print(f"  hop at step {h['step']}: neuron {h['neuron']}, c {h['c_before']:+.4g} -> {h['c_after']:+.4g}")
    if report["session"]:
        console.print(Text("session ") + Text(report["session"], style="bold"))
