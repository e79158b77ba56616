"""One line under a replay: play / pause, speed, position, hops, and the keys that drive them."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class ReplayControls(Static):
    """`show(...)` takes the replay's state; the keys live on the replay screen."""

    DEFAULT_CSS = """
    ReplayControls { height: 1; padding: 0 1; background: $boost; }
    """

    def show(self, *, playing: bool, speed: int, index: int, count: int, step: int, hops_seen: int,
             hops_total: int, readout: str = "", zoom: tuple[float, float] | None = None) -> None:
        text = Text()
        text.append("▶ playing" if playing else "❚❚ paused", style="bold green" if playing else "bold yellow")
        text.append(f" · {speed}/s · snapshot {index + 1:,}/{count:,} · step {step:,}")
        text.append(f" · hops {hops_seen}/{hops_total}")
        if readout:
            text.append(f" · {readout}", style="bold")
        if zoom is not None:
            text.append(f" · zoom {zoom[0]:,.0f}–{zoom[1]:,.0f}")
        text.append("   space ←/→ ,/. +/- </> [/] home/end h", style="dim")
        self.update(text, layout=False)
