"""Console benchmarks: training throughput shown live in the app vs headless, and the first frame.

Throughput: the same config trained (a) headless, `core.train.Trainer` iterated directly, and
(b) from the console, started by a key press in a real pseudo-terminal (100x30) with the live
screen showing and the plots refreshing at the default rate, the run recorded in a session
store. The console's rate is read back from the recorded session (steps / elapsed at the last
snapshot, the trainer's own clock). Rounds alternate headless and console so load from other
processes hits both alike; medians are reported. Target: console >= 90% of headless.

The console trains with one core left to the UI (`lab.app.training_threads()`); headless is
measured both with that thread count (the like-for-like ratio) and with torch's default.

First frame: `python -m lab.cli` started in a pseudo-terminal; the time until the set-up
screen's top line ("F2 set-up") has been written. Target: about 2 s.

    python bench/bench_app.py [--rounds 5] [--steps 30000] [--frames 5] [--config examples/abs_obstructed.toml]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.config import config_to_toml, load_config, replace  # noqa: E402

CTRL_R, CTRL_Q = b"\x12", b"\x11"
SIZE = (100, 30)


class Terminal:
    """A child process on a pseudo-terminal of SIZE; its output is read and thrown away."""

    def __init__(self, argv: list[str], env: dict) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
        self.started = time.perf_counter()
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO,
                                        start_new_session=True)
        os.close(slave)
        self.seen = b""

    def pump(self, timeout: float = 0.05) -> bytes:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(self.master, 65536)
        except OSError:
            return b""
        self.seen = (self.seen + data)[-200_000:]
        return data

    def wait_for(self, needle: bytes, timeout: float) -> float:
        """Seconds from start until `needle` was written."""
        deadline = time.perf_counter() + timeout
        while needle not in self.seen:
            if time.perf_counter() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"no {needle!r} within {timeout} s (exit {self.process.poll()})")
            self.pump()
        return time.perf_counter() - self.started

    def send(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self, timeout: float = 20.0) -> None:
        deadline = time.perf_counter() + timeout
        while self.process.poll() is None and time.perf_counter() < deadline:
            self.pump()
        if self.process.poll() is None:
            self.process.kill()
        os.close(self.master)


def child_env(store: Path) -> dict:
    env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(SIZE[0]), LINES=str(SIZE[1]),
               RELULAB_STORE=str(store), PYTHONPATH=str(REPO))
    env.pop("NO_COLOR", None)
    return env


def headless_rate(config, threads: int | None) -> float:
    import torch

    from core.train import Trainer

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        trainer = Trainer(config)
        started = time.perf_counter()
        for _ in trainer.run():
            pass
        return config.train.steps / (time.perf_counter() - started)
    finally:
        torch.set_num_threads(before)


def console_rate(config_path: Path, store: Path) -> float:
    """Train in the console; the rate the trainer's clock recorded for the session."""
    from sessions import open_store

    term = Terminal([sys.executable, "-m", "lab.cli", str(config_path)], child_env(store))
    try:
        term.wait_for(b"F2 set-up", 30)
        known = {i.id for i in open_store(store).list()}
        time.sleep(0.5)  # let the preview settle, as a person would
        term.send(CTRL_R)
        deadline = time.perf_counter() + 600
        while True:
            term.pump(0.2)
            infos = [i for i in open_store(store).list() if i.id not in known]
            if infos and infos[0].status != "running":
                break
            if time.perf_counter() > deadline:
                raise RuntimeError("the console run did not finish")
        term.send(CTRL_Q)
    finally:
        term.close()
    session = open_store(store).load(infos[0].id)
    series = session.series()
    return float(series["step"][-1]) / float(series["elapsed"][-1])


def first_frame(store: Path) -> float:
    term = Terminal([sys.executable, "-m", "lab.cli"], child_env(store))
    try:
        seconds = term.wait_for(b"F2 set-up", 30)
        term.send(CTRL_Q)
    finally:
        term.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "examples" / "abs_obstructed.toml"))
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=5)
    args = parser.parse_args()

    import torch

    from lab.app import training_threads

    config = replace(load_config(args.config), "train", steps=args.steps, device="cpu")
    threads = training_threads()
    print(f"{Path(args.config).name}: {config.model.hidden} hidden, {args.steps} steps, log_every "
          f"{config.train.log_every}; torch {torch.__version__}, {os.cpu_count()} CPUs, console trains with "
          f"{threads} thread(s), torch default {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config_path = tmp / "bench.toml"
        config_path.write_text(config_to_toml(config))
        headless_rate(replace(config, "train", steps=min(2000, args.steps)), threads)  # warm-up
        same, default, console = [], [], []
        for r in range(args.rounds):
            same.append(headless_rate(config, threads))
            console.append(console_rate(config_path, tmp / "store"))
            default.append(headless_rate(config, None))
            print(f"  round {r + 1}: headless {same[-1]:,.0f} steps/s ({threads} thr), console {console[-1]:,.0f}, "
                  f"headless {default[-1]:,.0f} (default threads)", flush=True)
        m_same, m_console, m_default = (statistics.median(x) for x in (same, console, default))
        print(f"throughput: console {m_console:,.0f} steps/s = {m_console / m_same:.0%} of headless "
              f"({m_same:,.0f}, same threads), {m_console / m_default:.0%} of headless with torch's default "
              f"threads ({m_default:,.0f}); target >= 90%")
        frames = [first_frame(tmp / "store") for _ in range(args.frames)]
        print(f"first frame: median {statistics.median(frames):.2f} s, min {min(frames):.2f} s over "
              f"{len(frames)} starts; target about 2 s")


if __name__ == "__main__":
    main()
