"""Writing to a stdout whose reader may leave (`relulab ... | head`): the work goes on, quietly."""

from __future__ import annotations

import os
import sys


def silence_stdout() -> None:
    """The reader of stdout is gone: send the rest of the output nowhere (the exit flush too)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def say(text: str) -> None:
    """print(), except that a closed pipe silences the output instead of stopping the command."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        silence_stdout()
