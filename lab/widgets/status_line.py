"""One line: status, step / total, steps/s, elapsed, device, session id."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

STATE_STYLE = {
    "running": "bold green", "completed": "bold", "interrupted": "bold yellow", "diverged": "bold red",
    "failed": "bold red", "preparing": "dim", "ready": "dim", "playing": "bold green", "paused": "bold yellow",
}
# Shown instead of timings and ids when the app runs with `redact=True` (snapshot tests).
REDACTED = "–"


def format_seconds(seconds: float) -> str:
    minutes, s = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{s:04.1f}" if hours else f"{minutes}:{s:04.1f}"


class StatusLine(Static):
    """The run's vital signs; `show` takes plain values so live and replay fill it alike."""

    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; padding: 0 1; }
    """

    def show(self, *, state: str, device: str | None = None, steps_per_second: float | None = None,
             step: int | None = None, total: int | None = None, elapsed: float | None = None,
             session_id: str | None = None, extra: str = "", redact: bool = False) -> None:
        parts = Text(no_wrap=True, overflow="ellipsis")
        parts.append(state, style=STATE_STYLE.get(state, "bold"))
        if step is not None:
            parts.append(f" · step {step:,}" + (f"/{total:,}" if total else ""))
        if steps_per_second is not None:
            parts.append(f" · {REDACTED if redact else f'{steps_per_second:,.0f}'} steps/s")
        if elapsed is not None:
            parts.append(f" · {REDACTED if redact else format_seconds(elapsed)}")
        if device:
            parts.append(f" · {device}")
        if session_id:
            parts.append(f" · id {REDACTED if redact else session_id}")
        if extra:
            parts.append(f" · {extra}")
        self.update(parts, layout=False)  # one line, always: no relayout at every refresh
