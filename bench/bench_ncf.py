"""NCF benchmarks: `relulab ncf` on breast cancer, and what the console's NCF pane costs a live run.

1. `relulab ncf examples/breast_cancer.toml --json` (30 inputs + bias, 398 samples, 8 neurons) in
   a fresh process, wall clock and CPU time; beside it, in the same rounds, `relulab check` on
   the same file as the baseline of a command that loads the same libraries. Target: under 5 s.
2. The pane: the same config trained in the console (Textual's headless pilot, 100x30, default
   refresh) with (B) the NCF analysis on and the NCF pane shown (key 5), and (A) the NCF analysis
   switched off (`LiveRun.ncf` never made) and the default panes. The rate is the one the trainer's
   clock recorded for the session (steps / elapsed at the last snapshot). A second A run in every
   round (A') is the A/A control: how far two identical runs differ on this machine. The order of
   the three runs turns every round; medians and the medians of the per-round ratios B / A and
   A' / A are reported. Target: B >= 95% of A.
3. The panes' own work on the UI thread, which is what they can take from training (they share
   the GIL): time spent in every plot's `render` and the panels' `show`, in one run with the four
   default panes on screen (A) and one with the NCF pane (B), as a fraction of the run's wall time.

    python bench/bench_ncf.py [--rounds 5] [--steps 30000] [--configs small_init,breast_cancer] [--skip-command]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def command_seconds(argv: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of `python -m lab.cli ARGV` in a fresh process."""
    started = time.perf_counter()
    before = os.times()
    done = subprocess.run([sys.executable, "-m", "lab.cli", *argv], cwd=REPO, capture_output=True, text=True)
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return time.perf_counter() - started, cpu


def console_rate(config, store: Path, with_ncf: bool) -> float:
    """Train `config` in the console (headless pilot); the recorded steps per second."""
    import lab.live_run as live_run
    from lab.app import RelulabApp
    from sessions.store import Store

    original = live_run.NcfTrack.for_run
    if not with_ncf:
        live_run.NcfTrack.for_run = classmethod(lambda cls, *a, **k: None)
    try:
        async def drive() -> str:
            app = RelulabApp(config, store_path=str(store), prewarm=False)
            async with app.run_test(size=(100, 30)) as pilot:
                await pilot.press("ctrl+r")
                while app.live_run is None:
                    await pilot.pause(0.05)
                if with_ncf:
                    await pilot.press("5")
                while not app.live_run.finished:
                    await pilot.pause(0.05)
                if app.live_run.error:
                    raise SystemExit(f"the run failed: {app.live_run.error}")
                return app.live_run.session_id

        session_id = asyncio.run(drive())
    finally:
        live_run.NcfTrack.for_run = original
    series = Store(str(store)).load(session_id).series()
    return float(series["step"][-1]) / float(series["elapsed"][-1])


def ui_time(config, store: Path, with_ncf: bool) -> tuple[float, float]:
    """(seconds of pane work on the UI thread, run seconds) of one run: every plot's render and
    the panels' show, with the four default panes (A) or the NCF pane (B) on screen."""
    from lab.widgets.classification_panel import ClassificationPanel
    from lab.widgets.ncf_pane import NcfPane
    from lab.widgets.run_plot import RunPlot

    spent = [0.0]
    targets = [(RunPlot, "render"), (ClassificationPanel, "show"), (NcfPane, "show")]
    originals = [getattr(owner, name) for owner, name in targets]

    def timed(function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - started
        return wrapper

    for (owner, name), function in zip(targets, originals):
        setattr(owner, name, timed(function))
    try:
        started = time.perf_counter()
        console_rate(config, store, with_ncf)
        wall = time.perf_counter() - started
    finally:
        for (owner, name), function in zip(targets, originals):
            setattr(owner, name, function)
    return spent[0], wall


def main() -> None:
    from core.config import load_config, replace

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--configs", default="small_init,breast_cancer", help="examples/NAME.toml to train, comma-separated")
    parser.add_argument("--skip-command", action="store_true", help="skip the relulab ncf timing")
    args = parser.parse_args()

    example = "examples/breast_cancer.toml"
    walls, cpus, checks = [], [], []
    for _ in range(0 if args.skip_command else args.rounds):
        wall, cpu = command_seconds(["ncf", example, "--json"])
        walls.append(wall)
        cpus.append(cpu)
        checks.append(command_seconds(["check", "--config", example, "--json"])[0])
    if walls:
        print(f"relulab ncf {example}: median wall {statistics.median(walls):.2f} s "
              f"(min {min(walls):.2f}), CPU {statistics.median(cpus):.2f} s; "
              f"relulab check on it: {statistics.median(checks):.2f} s  [{args.rounds} rounds]")

    results: dict[str, tuple[float, float]] = {}
    for name in args.configs.split(","):
        config = replace(load_config(REPO / "examples" / f"{name}.toml"), "train", steps=args.steps)
        rates: dict[str, list[float]] = {"A": [], "A'": [], "B": []}
        with tempfile.TemporaryDirectory() as tmp:
            console_rate(replace(config, "train", steps=500), Path(tmp) / "warm", True)  # warm-up
            for r in range(args.rounds):
                arms = ["A", "A'", "B"]
                for arm in arms[r % 3:] + arms[:r % 3]:
                    rates[arm].append(console_rate(config, Path(tmp) / f"store{r}{arm}", arm == "B"))
            ui = {arm: ui_time(config, Path(tmp) / f"timed{arm}", arm) for arm in (False, True)}
        b_over_a = statistics.median([b / a for a, b in zip(rates["A"], rates["B"])])
        aa = statistics.median([x / a for a, x in zip(rates["A"], rates["A'"])])
        results[name] = (b_over_a, aa)
        print(f"{name}: pane work on the UI thread: the four default panes {ui[False][0]:.2f} s of a "
              f"{ui[False][1]:.1f} s run ({100 * ui[False][0] / ui[False][1]:.1f}%), the NCF pane "
              f"{ui[True][0]:.2f} s of {ui[True][1]:.1f} s ({100 * ui[True][0] / ui[True][1]:.1f}%)")
        print(f"{name} ({args.steps} steps): without NCF {statistics.median(rates['A']):.0f} steps/s, "
              f"with the NCF pane {statistics.median(rates['B']):.0f} steps/s; median B/A {b_over_a:.3f}, "
              f"A'/A {aa:.3f}  [{args.rounds} rounds]")


if __name__ == "__main__":
    main()
