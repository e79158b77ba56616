"""Messages from the training worker to the UI.

`RunProgress` coalesces: if the UI is busy, a newer one replaces any still queued for the same
run, so a fast trainer can never build a backlog of repaints.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from lab.live_run import LiveRun


@dataclass
class RunProgress(Message):
    """`run` has something new to show (posted at most `refresh_hz` times a second, and at the end)."""

    run: LiveRun

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunProgress) and message.run is self.run


@dataclass
class RunNotice(Message):
    """A one-line note from the worker for a notification (a store that cannot be written...)."""

    text: str
    severity: str = "warning"
