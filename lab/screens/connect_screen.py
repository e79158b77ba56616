"""A recorded connection (`relulab connect`): the loss along the path with the beads marked, and
every neuron's c_k along it."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Static
from textual_plotext import PlotextPlot

from core.errors import UserError
from lab.views.connect import summary_text
from lab.widgets.key_bar import KeyBar

LOG_FLOOR = 1e-12  # an exact zero loss on a log axis
MAX_NEURONS = 12  # c_k lines drawn; more would be one colour smear


class ConnectScreen(Screen):
    """Shows connect session `session_id` from the app's store."""

    TITLE = "Connection"
    HELP = """
A connection between two parameter points A and B found by dynamic string sampling: the loss
along the chain of beads (positions are fractions of the chain's length, 0 at A, 1 at B; beads
are the points marked; the level L0 is the flat line), and each neuron's c_k along the chain
(constant inside H(c), free to move in the full space).
"""
    BINDINGS = [
        Binding("l", "toggle_log", "Log y"),
        Binding("escape,backspace", "close", "Back"),
    ]

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.data: dict | None = None
        self.log_y = True

    def compose(self) -> ComposeResult:
        yield Static(Text(f"loading connection {self.session_id}…", style="dim"), id="connect-summary")
        with Horizontal(id="connect-plots"):
            yield PlotextPlot(id="connect-loss")
            yield PlotextPlot(id="connect-c")
        yield KeyBar()

    def on_mount(self) -> None:
        store = getattr(self.app, "store", None)
        if store is None:
            self.show_error(f"no session store: {getattr(self.app, 'store_error', '')}")
            return
        self.load(store)

    @work(thread=True, exclusive=True, group="connect-load", exit_on_error=False)
    def load(self, store) -> None:
        try:
            data, error = read_connection(store, self.session_id), None
        except UserError as e:
            data, error = None, str(e)
        except Exception as e:  # a damaged file must not take the app down
            data, error = None, f"session {self.session_id} cannot be shown: {type(e).__name__}: {e}"
        self.app.call_from_thread(self.loaded, data, error)

    def loaded(self, data: dict | None, error: str | None) -> None:
        if error is not None:
            self.show_error(error)
            return
        self.data = data
        self.query_one("#connect-summary", Static).update(summary_text(data["report"]))
        self.draw()

    def show_error(self, message: str) -> None:
        self.query_one("#connect-summary", Static).update(Text(message, style="bold red"))

    def draw(self) -> None:
        if self.data is None:
            return
        draw_loss(self.query_one("#connect-loss", PlotextPlot), self.data, self.log_y)
        draw_c(self.query_one("#connect-c", PlotextPlot), self.data)

    def action_toggle_log(self) -> None:
        self.log_y = not self.log_y
        self.draw()

    def action_close(self) -> None:
        self.app.pop_screen()


def read_connection(store, session_id: str) -> dict:
    """Everything the screen draws, read from a connect session."""
    session = store.load(session_id)
    if session.kind != "connect":
        raise UserError(f"session {session.id} is a {session.kind}, not a connection")
    report = dict(session.json("connection"))
    report["session"] = session.id
    names = session.result_names()
    return {
        "report": report,
        "position": session.array("profile_position"),
        "loss": session.array("profile_loss"),
        "c": session.array("profile_c") if "profile_c" in names else None,
        "bead_positions": session.array("bead_positions"),
    }


def draw_loss(widget: PlotextPlot, data: dict, log_y: bool) -> None:
    plt = widget.plt
    plt.clear_data()
    plt.clear_figure()
    report = data["report"]
    x, y = np.asarray(data["position"], float), np.asarray(data["loss"], float)
    level = float(report["level"])
    if log_y:
        plt.yscale("log")
        y = np.maximum(y, LOG_FLOOR)
    plt.plot(x.tolist(), y.tolist(), marker="braille", label="loss")
    plt.plot([0.0, 1.0], [level, level], marker="braille", color="red", label="level L0")
    beads = np.asarray(data["bead_positions"], float)
    if len(beads):
        at = np.interp(beads, x, y)
        plt.scatter(beads.tolist(), at.tolist(), marker="●", color="yellow", label="beads")
    plt.title(f"loss along the path · {len(beads)} beads · normalised length {report['normalized_length']:.4f}"
              + (" · log" if log_y else ""))
    plt.xlabel("position along the chain (0 = A, 1 = B)")
    widget.refresh()


def draw_c(widget: PlotextPlot, data: dict) -> None:
    plt = widget.plt
    plt.clear_data()
    plt.clear_figure()
    c = data["c"]
    if c is None or not len(c):
        plt.title("c_k along the path: not recorded")
        widget.refresh()
        return
    x = np.asarray(data["position"], float).tolist()
    c = np.asarray(c, float)
    for k in range(min(c.shape[1], MAX_NEURONS)):
        plt.plot(x, c[:, k].tolist(), marker="braille", label=f"c_{k}" if c.shape[1] <= 6 else None)
    more = f" (first {MAX_NEURONS} of {c.shape[1]})" if c.shape[1] > MAX_NEURONS else ""
    plt.title(f"c_k along the path{more} · space {data['report']['space']}")
    plt.xlabel("position along the chain (0 = A, 1 = B)")
    widget.refresh()
