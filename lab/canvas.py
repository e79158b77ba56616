"""A small numpy braille plotter that renders straight to Textual strips.

The live plots redraw a few times a second while the trainer shares the interpreter (and its
GIL) with the UI: every millisecond spent drawing is a millisecond of training lost. plotext
builds an ANSI string cell by cell and Rich then parses it back; this rasterises lines with
numpy into braille dots (2 x 4 per cell) and emits one Segment per run of equal style, about
ten times cheaper for the same picture.

Coordinates: data (x, y) -> dot (column, row) inside the plot area; row 0 is the top.
"""

from __future__ import annotations

import math
import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

# Braille dot bits, indexed [row % 4][column % 2] (Unicode braille patterns, U+2800).
DOT_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.uint8)
BRAILLE = 0x2800
PLAIN = Style()  # every segment gets a style: filters such as NO_COLOR's monochrome expect one


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round numbers spanning [low, high] (about `count` of them), inside the range."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return ticks or [low]


def format_tick(value: float, span: float) -> str:
    """Short label for a tick: few digits, scientific only for extreme magnitudes."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")
    if span >= 10 or float(value).is_integer():
        return f"{value:,.0f}" if magnitude >= 1000 else f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    digits = max(0, min(4, 1 - int(math.floor(math.log10(span))) if span > 0 else 2))
    return f"{value:.{digits}f}"


class Canvas:
    """A `width` x `height` cell plot: title on the first row, x labels on the last, y labels left."""

    def __init__(self, width: int, height: int, *, title: str = "", axis_style: Style | None = None,
                 title_style: Style | None = None) -> None:
        self.width = max(8, width)
        self.height = max(4, height)
        self.title = title
        self.axis_style = axis_style or Style(dim=True)
        self.title_style = title_style or Style(bold=True)
        self.x_range = (0.0, 1.0)
        self.y_range = (0.0, 1.0)
        self.log_y = False
        self._styles: list[Style] = [Style()]
        self._calls: list[tuple] = []

    # -- ranges -----------------------------------------------------------------------------------

    def set_x(self, low: float, high: float) -> None:
        self.x_range = _widen(low, high)

    def set_y(self, low: float, high: float, log: bool = False) -> None:
        self.log_y = log
        if log:
            low, high = math.log10(max(low, 1e-300)), math.log10(max(high, 1e-300))
        self.y_range = _widen(low, high, pad=0.05)

    # -- drawing calls (recorded, rasterised in render once the axes' width is known) -------------

    def _style(self, style: Style) -> int:
        self._styles.append(style)
        return len(self._styles) - 1

    def line(self, x, y, style: Style, marker: str | None = None) -> None:
        """A polyline through the points; `marker` (one character) draws points instead of dots."""
        self._calls.append(("line", np.asarray(x, float), np.asarray(y, float), self._style(style), marker))

    def scatter(self, x, y, style: Style, marker: str) -> None:
        self._calls.append(("scatter", np.asarray(x, float), np.asarray(y, float), self._style(style), marker))

    def hline(self, y: float, style: Style) -> None:
        self._calls.append(("hline", y, self._style(style)))

    def text(self, x: float, y: float, label: str, style: Style) -> None:
        self._calls.append(("text", x, y, label, self._style(style)))

    # -- rendering --------------------------------------------------------------------------------

    def _y_ticks(self) -> list[tuple[float, str]]:
        low, high = self.y_range
        rows = self.height - 2
        if self.log_y:
            ticks = [float(k) for k in range(math.ceil(low), math.floor(high) + 1)]
            if len(ticks) < 2:
                ticks = nice_ticks(low, high, max(2, min(4, rows // 3)))
                return [(t, format_tick(10**t, 10 ** high - 10 ** low)) for t in ticks]
            stride = max(1, math.ceil(len(ticks) / max(2, rows // 2)))
            return [(t, f"1e{int(t)}") for t in ticks[::stride]]
        ticks = nice_ticks(low, high, max(2, min(5, rows // 3)))
        return [(t, format_tick(t, high - low)) for t in ticks]

    def render(self) -> list[Strip]:
        """Rasterise every call and return one Strip per row."""
        return [Strip(row, self.width) for row in self.render_rows()]

    def render_rows(self) -> list[list[Segment]]:
        """Rasterise every call: the segments of each row (equal rows compare equal)."""
        y_ticks = self._y_ticks()
        margin = max((len(label) for _, label in y_ticks), default=1) + 1
        cols, rows = self.width - margin, self.height - 2
        if cols < 4 or rows < 2:
            return [[Segment(" " * self.width, PLAIN)] for _ in range(self.height)]
        dot_w, dot_h = 2 * cols, 4 * rows
        bits = np.zeros((rows, cols), np.uint8)
        owner = np.zeros((rows, cols), np.int32)  # style index of the last call drawing a cell
        chars: dict[tuple[int, int], tuple[str, int]] = {}  # cell -> (character, style) overlays
        labels: set[int] = set()  # style indices of text labels (each call has its own)
        (x0, x1), (y0, y1) = self.x_range, self.y_range

        def to_dots(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            if self.log_y:
                with np.errstate(divide="ignore", invalid="ignore"):
                    y = np.log10(np.where(y > 0, y, np.nan))
            px = (x - x0) / (x1 - x0) * (dot_w - 1)
            py = (y1 - y) / (y1 - y0) * (dot_h - 1)
            ok = np.isfinite(px) & np.isfinite(py)
            return px, py, ok

        for call in self._calls:
            kind = call[0]
            if kind == "hline":
                _, value, style = call
                _, py, ok = to_dots(np.array([x0]), np.array([value], float))
                if ok[0] and 0 <= py[0] <= dot_h - 1:
                    r = int(round(py[0]))
                    bits[r // 4, :] |= DOT_BITS[r % 4, 0] | DOT_BITS[r % 4, 1]
                    owner[r // 4, :] = style
            elif kind == "line" and call[4] is None:
                _, x, y, style, _ = call
                px, py, ok = to_dots(x, y)
                cx, cy = _rasterise(px, py, ok)
                inside = (cx >= 0) & (cx < dot_w) & (cy >= 0) & (cy < dot_h)
                cx, cy = cx[inside], cy[inside]
                np.bitwise_or.at(bits, (cy // 4, cx // 2), DOT_BITS[cy % 4, cx % 2])
                owner[cy // 4, cx // 2] = style
            elif kind in ("line", "scatter"):
                _, x, y, style, marker = call
                px, py, ok = to_dots(x, y)
                ccol = (px[ok] // 2).astype(int)
                crow = (py[ok] // 4).astype(int)
                for r, c in zip(crow.tolist(), ccol.tolist()):
                    if 0 <= r < rows and 0 <= c < cols:
                        chars[(r, c)] = (marker, style)
            elif kind == "text":
                _, x, y, label, style = call
                px, py, ok = to_dots(np.array([x], float), np.array([y], float))
                if ok[0]:
                    r = min(rows - 1, max(0, int(py[0] // 4)))
                    c = min(cols - len(label), max(0, int(px[0] // 2)))
                    # Labels at the same spot (neurons with equal values) step left, not on top.
                    while c > 0 and any(chars.get((r, c + i), ("", 0))[1] in labels for i in range(len(label))):
                        c -= len(label) + 1
                    for i, ch in enumerate(label):
                        chars[(r, max(0, c) + i)] = (ch, style)
                    labels.add(style)

        styles = self._styles
        axis = self.axis_style
        tick_rows = {}
        for value, label in y_ticks:
            r = int(round((y1 - value) / (y1 - y0) * (dot_h - 1))) // 4
            if 0 <= r < rows:
                tick_rows[r] = label
        lines: list[list[Segment]] = []
        title = self.title[: self.width]
        pad = (self.width - len(title)) // 2
        lines.append([Segment(" " * pad, PLAIN), Segment(title, self.title_style),
                      Segment(" " * (self.width - pad - len(title)), PLAIN)])
        for r in range(rows):
            label = tick_rows.get(r)
            left = (label.rjust(margin - 1) + "┤") if label is not None else " " * (margin - 1) + "│"
            segments = [Segment(left, axis)]
            run_text: list[str] = []
            run_style: Style = PLAIN
            row_bits, row_owner = bits[r], owner[r]
            for c in range(cols):
                overlay = chars.get((r, c))
                if overlay is not None:
                    ch, style = overlay[0], styles[overlay[1]]
                elif row_bits[c]:
                    ch, style = chr(BRAILLE + int(row_bits[c])), styles[int(row_owner[c])]
                else:
                    ch, style = " ", PLAIN
                if style is not run_style and run_text:
                    segments.append(Segment("".join(run_text), run_style))
                    run_text = []
                run_style = style
                run_text.append(ch)
            if run_text:
                segments.append(Segment("".join(run_text), run_style))
            lines.append(segments)
        lines.append(self._x_axis(margin, cols))
        return lines

    def _x_axis(self, margin: int, cols: int) -> list[Segment]:
        x0, x1 = self.x_range
        cells = [" "] * cols
        ticks = nice_ticks(x0, x1, max(2, min(5, cols // 12)))
        for t in ticks:
            label = format_tick(t, x1 - x0)
            c = int(round((t - x0) / (x1 - x0) * (cols - 1)))
            start = min(max(0, c - len(label) // 2), cols - len(label))
            if start < 0 or any(ch != " " for ch in cells[max(0, start - 1):start + len(label) + 1]):
                continue
            cells[start:start + len(label)] = list(label)
        return [Segment(" " * margin + "".join(cells), self.axis_style)]


def _widen(low: float, high: float, pad: float = 0.0) -> tuple[float, float]:
    """A non-empty, finite range around [low, high], padded by `pad` of its span."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return (0.0, 1.0)
    if high - low <= 1e-12 * max(1.0, abs(high), abs(low)):
        half = max(abs(high) * 0.1, 1e-3)
        return (low - half, high + half)
    span = high - low
    return (low - pad * span, high + pad * span)


def _rasterise(px: np.ndarray, py: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dot coordinates along the polyline, one per dot step, skipping gaps (non-finite points)."""
    if len(px) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    if len(px) == 1:
        return (np.round(px[ok]).astype(int), np.round(py[ok]).astype(int))
    x0, x1 = px[:-1], px[1:]
    y0, y1 = py[:-1], py[1:]
    good = ok[:-1] & ok[1:]
    x0, x1, y0, y1 = x0[good], x1[good], y0[good], y1[good]
    if len(x0) == 0:
        return (np.round(px[ok]).astype(int), np.round(py[ok]).astype(int))
    # Clip huge segments (a point far outside the canvas) so the number of steps stays bounded.
    limit = 4096.0
    x0, x1, y0, y1 = (np.clip(a, -limit, limit) for a in (x0, x1, y0, y1))
    steps = np.maximum(np.abs(x1 - x0), np.abs(y1 - y0)).astype(int) + 1
    starts = np.repeat(np.arange(len(steps)), steps)
    offsets = np.arange(steps.sum()) - np.repeat(np.cumsum(steps) - steps, steps)
    t = offsets / np.maximum(steps[starts] - 1, 1)
    xs = np.round(x0[starts] + (x1[starts] - x0[starts]) * t).astype(int)
    ys = np.round(y0[starts] + (y1[starts] - y0[starts]) * t).astype(int)
    return xs, ys
