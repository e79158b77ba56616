"""The monkey: seeded random keys across every screen, at 100x30 and 80x24, with runs, replays
and experiments started by the keys themselves; the console must still be running at the end,
with no exception.

CI drives RELULAB_MONKEY_KEYS keys per terminal size (default 150: about 20 s each on a loaded 2-core machine);
run it longer locally, e.g. `RELULAB_MONKEY_KEYS=5000 RELULAB_MONKEY_SEED=7 python3 -m pytest -s
tests/test_app_monkey.py`. It prints how many keys it drove and which screens it reached.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter

import pytest

from core.config import Config, replace
from lab.app import RelulabApp

KEYS_PER_SIZE = int(os.environ.get("RELULAB_MONKEY_KEYS", "150"))
SEED = int(os.environ.get("RELULAB_MONKEY_SEED", "11"))

NAVIGATION = ["f1", "f2", "f3", "f4", "f5", "escape", "enter", "tab", "shift+tab", "up", "down", "left", "right",
              "home", "end", "pageup", "pagedown", "space", "backspace", "delete", "f6", "shift+f6"]
COMMANDS = ["ctrl+r", "ctrl+s", "ctrl+o", "ctrl+t", "ctrl+n", "ctrl+g", "ctrl+u", "question_mark",
            "slash", "full_stop", "comma", "greater_than_sign", "less_than_sign", "plus", "minus",
            "left_square_bracket", "right_square_bracket", "shift+right", "shift+left"]
LETTERS = list("rsntdclhey") + list("1234") + ["x", "q", "0", "9"]
# What a person does on purpose now and then: start a run, open a replay and play it, run an experiment.
MOVES = [["f2", "ctrl+r"], ["f4", "escape", "home", "enter"], ["f4", "escape", "enter", "space"],
         ["f4", "escape", "end", "enter", "end"], ["f5", "r"],
         ["f4", "r"], ["f4", "t"], ["f3", "s"], ["ctrl+p"]]
STRINGS = ["[", "[/b]", "[bold]x", "\x1b[31m", "run [/b] x", "[paper] run", "αβγ ✓ 中文 😀", "-1", "1e-3", "cuda",
           "+-+", "[[1.0], [2.0], [3.0]]", "nan", "inf", "x" * 300, "/nonexistent/file.csv", "?", "2", ""]


def next_keys(rng: random.Random) -> list[str]:
    """One move of the monkey: a key, or a typed string (each character a key)."""
    roll = rng.random()
    if roll < 0.35:
        return [rng.choice(NAVIGATION)]
    if roll < 0.6:
        return [rng.choice(COMMANDS)]
    if roll < 0.8:
        return [rng.choice(LETTERS)]
    if roll < 0.88:
        return list(rng.choice(MOVES))
    return list(rng.choice(STRINGS))


async def drive(size: tuple[int, int], budget: int, seed: int) -> tuple[int, Counter]:
    import time

    started = time.monotonic()
    rng = random.Random(seed)
    # Runs long enough to be in progress part of the time, short enough to end now and then.
    app = RelulabApp(replace(Config(), "train", steps=20_000), prewarm=False)
    screens: Counter = Counter()
    driven = 0
    async with app.run_test(size=size, notifications=True) as pilot:
        await pilot.press("ctrl+r")  # one session recorded early, for the sessions and replay screens
        while driven < budget:
            keys = next_keys(rng)[: budget - driven]
            for key in keys:
                await pilot.press(key)
            driven += len(keys)
            screens[type(app.screen).__name__] += 1
            assert app.is_running and app._exception is None, f"after {driven} keys: {app._exception!r}"
            if rng.random() < 0.05:
                await pilot.pause(0.2)  # let a run, a replay or a reload move on
        assert app.is_running and app._exception is None
        print(f"\n{driven} keys in {time.monotonic() - started:.1f} s")
        experiments = app.get_screen("experiments")
        experiments.stop_event.set()  # an experiment the monkey started stops at its next check
        await app.stop_and_wait()
        worker = [w for w in app.workers if w.group == "experiment"]
        for w in worker:
            await asyncio.wait_for(w.wait(), timeout=120)
    return driven, screens


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=["100x30", "80x24"])
def test_monkey_never_crashes_the_console(size, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ctrl+s then enter writes relulab.toml: here, not in the repository
    driven, screens = asyncio.run(drive(size, KEYS_PER_SIZE, SEED + size[0]))
    print(f"\nmonkey {size[0]}x{size[1]} seed {SEED + size[0]}: {driven} keys; screens reached: {dict(screens)}")
    assert driven == KEYS_PER_SIZE
