"""Experiments: pick one of the paper's experiments, run it in a worker thread, see its plots and tables.

The numerics are core/experiments.py (the same code as `relulab experiment NAME`); this screen
only chooses the parameters, runs it off the UI thread, records it in the session store as a
sweep and draws the result: two plotext figures, a heatmap / table and the headline numbers.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Checkbox, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from core import experiments
from lab.experiment_report import build_report, record_result
from lab.widgets.experiment_results import ExperimentResults
from lab.widgets.key_bar import KeyBar
from lab.widgets.mode_bar import ModeBar

DESCRIPTIONS = {
    "toy": "y = |x| with two ReLU neurons, both pathological: signs (+,-) stall, (+,+) fit, the "
           "rebalanced (+,-) control (same function, c_k > 0) fits too, and (+,-) from a constant start "
           "reaches the best constant fit, the lowest loss found in (+,-).",
    "breast-cancer": "Test loss for each hidden width l and number l_+ of non-pathological neurons "
                     "(the others start pathological with v_k < 0). Paper: the number l_+ matters, not l_+/l.",
    "probability": "P(initialisation obstructed) over inputs d and width l, Xavier vs Kaiming: closed form "
                   "checked against Monte Carlo. Paper: higher for small d, lower for Kaiming.",
    "mitigation": "The breast-cancer grid again with every neuron rescaled to c_k >= 0 at init (the same "
                  "function), by a norm swap and to ||W_k||/||v_k|| = 2, 3, 4, 8: does the dependence on l_+ go away?",
    "level-sets": "Freeman & Bruna: pairs of independently trained networks joined by dynamic string sampling; "
                  "normalised geodesic length against the loss level, per width.",
    "atlas": "The lowest loss each component of H(c) reaches, by number of positive pathological neurons: "
             "the toy |x| network and breast cancer at l = l_- = 8; the own component and the gap.",
    "small-init": "Small initialisation (Kumar & Haupt): 1 - cos to the NCF's KKT directions against the "
                  "initial scale, and the saddle-to-saddle sequence with the residual NCF's predictions.",
}


class ExperimentScreen(Screen):
    """Choose an experiment on the left, run it (r), stop it (s); results fill the right side."""

    TITLE = "Experiments"
    HELP = """
Each experiment reproduces one result of Nurisso, Leroy & Vaccarino (NeurIPS 2024), or goes one
step beyond it (mitigation). Quick runs the reduced grid (seconds); untick it for the full grid
(minutes for breast-cancer and mitigation). Every finished experiment is recorded in the session
store as a sweep; `relulab experiment NAME --out DIR` writes the same numbers as CSV and JSON.
"""

    BINDINGS = [
        Binding("r", "run", "Run"),
        Binding("s", "stop", "Stop"),
        Binding("escape", "close", "Back"),
    ]

    # The controls that change while an experiment runs (buttons, progress, status) come first,
    # so they stay in view on a 24-line terminal; the description scrolls below them.
    DEFAULT_CSS = """
    ExperimentScreen #exp-controls { width: 30; padding: 0 1; }
    ExperimentScreen #exp-list { height: 8; }  /* six experiments and the border */
    ExperimentScreen #exp-buttons { height: 1; margin-top: 1; }
    ExperimentScreen #exp-buttons Button { width: 1fr; min-width: 8; margin-right: 1; }
    ExperimentScreen #exp-progress { margin-top: 1; }
    ExperimentScreen #exp-status { height: auto; max-height: 4; }
    ExperimentScreen #exp-about-scroll { height: 1fr; margin-top: 1; }
    ExperimentScreen #exp-about { height: auto; color: $text-muted; }
    """

    def __init__(self, device: str = "auto") -> None:
        super().__init__(id="experiments")
        self.device = device
        self.stop_event = threading.Event()
        self.running = False
        self.result = None
        self.report: dict | None = None

    def compose(self) -> ComposeResult:
        yield ModeBar("experiments", id="mode-bar")
        with Horizontal():
            with Vertical(id="exp-controls"):
                yield OptionList(*[Option(name, id=name) for name in experiments.NAMES], id="exp-list")
                yield Checkbox("quick (reduced grid)", value=True, id="exp-quick", compact=True)
                with Horizontal(id="exp-buttons"):
                    yield Button("Run r", id="exp-run", variant="primary", compact=True)
                    yield Button("Stop s", id="exp-stop", disabled=True, compact=True)
                yield ProgressBar(total=1.0, show_eta=False, show_percentage=False, id="exp-progress")
                yield Static("", id="exp-status", markup=False)
                with VerticalScroll(id="exp-about-scroll"):
                    yield Static("", id="exp-about", markup=False)
            yield ExperimentResults(id="exp-results")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#exp-list", OptionList).highlighted = 0
        self.describe()

    # -- choosing -----------------------------------------------------------------------------------

    @property
    def selected(self) -> str:
        index = self.query_one("#exp-list", OptionList).highlighted
        return experiments.NAMES[index or 0]

    @property
    def quick(self) -> bool:
        return self.query_one("#exp-quick", Checkbox).value

    def parameters(self) -> dict:
        return experiments.parameters(self.selected, self.quick)

    @on(OptionList.OptionHighlighted, "#exp-list")
    @on(Checkbox.Changed, "#exp-quick")
    def describe(self, _event=None) -> None:
        params = self.parameters()
        shown = "\n".join(f"  {k}: {_short(v)}" for k, v in params.items())
        self.query_one("#exp-about", Static).update(f"{DESCRIPTIONS.get(self.selected, '')}\n\n{shown}")

    @on(OptionList.OptionSelected, "#exp-list")
    def selected_and_run(self, _event) -> None:
        self.action_run()

    # -- running ------------------------------------------------------------------------------------

    @on(Button.Pressed, "#exp-run")
    def action_run(self) -> None:
        if self.running:
            self.notify("an experiment is already running; stop it first (s)", severity="warning")
            return
        self.running = True
        self.stop_event = threading.Event()
        self.query_one("#exp-run", Button).disabled = True
        self.query_one("#exp-stop", Button).disabled = False
        self.set_progress(0.0, "starting")
        self.query_one(ExperimentResults).clear(f"running {self.selected}…")
        self.execute(self.selected, self.quick, self.parameters())

    @on(Button.Pressed, "#exp-stop")
    def action_stop(self) -> None:
        if self.running:
            self.stop_event.set()
            self.set_progress(None, "stopping after the current training call")

    def action_close(self) -> None:
        """Back to the screen shown before; an experiment in progress goes on (s stops it)."""
        self.app.action_back()

    @work(thread=True, exclusive=True, group="experiment")
    def execute(self, name: str, quick: bool, params: dict) -> None:
        """Runs off the UI thread; talks to the screen only through call_from_thread."""
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        started = time.perf_counter()

        def progress(fraction: float, what: str) -> None:
            self.app.call_from_thread(self.set_progress, fraction, what)

        try:
            result = experiments.run(name, params, self.device, stop=self.stop_event, progress=progress)
        except experiments.Stopped:
            self.app.call_from_thread(self.finished, name, None, None, "stopped; nothing recorded")
            return
        except Exception as e:  # shown in place; the console keeps running
            self.app.call_from_thread(self.finished, name, None, None, f"failed: {e}")
            return
        report, prov = build_report(name, quick, params, result, self.device, started_at,
                                    time.perf_counter() - started)
        note = f"done in {report['seconds']:.1f} s on {report['device']}"
        store = getattr(self.app, "store", None)
        if store is not None:
            try:
                # Names are unique in a store: the second run of the same experiment gets a suffix.
                session_name = store.free_name(f"experiment {name}" + (" --quick" if quick else ""))
                sid = record_result(store, name, result, prov, report, self.device, session_name)
                note += f"; recorded as session {sid}"
            except Exception as e:  # the result is still shown
                note += f"; not recorded: {e}"
        self.app.call_from_thread(self.finished, name, result, report, note)

    def set_progress(self, fraction: float | None, what: str) -> None:
        if not self.is_attached:  # closed while the worker was still running
            return
        if fraction is not None:
            self.query_one("#exp-progress", ProgressBar).update(progress=fraction)
        self.query_one("#exp-status", Static).update(what)

    def finished(self, name: str, result, report: dict | None, note: str) -> None:
        self.running = False
        if not self.is_attached:
            return
        self.query_one("#exp-run", Button).disabled = False
        self.query_one("#exp-stop", Button).disabled = True
        self.set_progress(1.0 if result is not None else None, note)
        if result is not None:
            self.result, self.report = result, report
            self.query_one(ExperimentResults).show(name, result, report["summary"])
        else:
            self.query_one(ExperimentResults).clear(note)


def _short(value) -> str:
    if isinstance(value, (list, tuple)):
        return f"{value[0]}..{value[-1]} ({len(value)})" if len(value) > 6 else ",".join(map(str, value))
    return str(value)


