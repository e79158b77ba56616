"""The four panes of a run: loss, c_k, quadric and classification, reflowed to the screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical

from lab.frame import RunFrame
from lab.widgets.ck_plot import CkPlot
from lab.widgets.classification_panel import ClassificationPanel
from lab.widgets.loss_plot import LossPlot
from lab.widgets.ncf_pane import NcfPane
from lab.widgets.quadric_plot import QuadricPlot
from lab.widgets.reflow_panes import ReflowPanes

PANES = ("loss", "ck", "quadric", "classification", "ncf")

# The live and replay screens both show a LiveView; these are their shared pane keys.
PANE_BINDINGS = [
    Binding("1", "pane('loss')", "Loss pane", show=False),
    Binding("2", "pane('ck')", "c_k pane", show=False),
    Binding("3", "pane('quadric')", "Quadric pane", show=False),
    Binding("4", "pane('classification')", "Classification pane", show=False),
    Binding("5", "pane('ncf')", "NCF pane (small initialisation)", show=False),
    Binding("right_square_bracket,f6", "cycle(1)", "Next pane", show=False),
    Binding("left_square_bracket,shift+f6", "cycle(-1)", "Previous pane", show=False),
]


class PaneKeys:
    """The actions behind PANE_BINDINGS, for a screen holding one LiveView."""

    def action_pane(self, pane: str) -> None:
        if pane in PANES:
            self.query_one(LiveView).activate(pane)

    def action_cycle(self, delta: int) -> None:
        self.query_one(LiveView).cycle(delta)


class LiveView(Vertical):
    """What a run looks like at one moment; fed by the live screen and by replay alike."""

    DEFAULT_CSS = """
    LiveView { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        loss = LossPlot(id="loss")
        loss.border_title = "Loss"
        ck = CkPlot(id="ck")
        ck.border_title = "c_k"
        quadric = QuadricPlot(id="quadric")
        quadric.border_title = "Quadric"
        panel = ClassificationPanel(id="classification")
        panel.border_title = "Classification"
        yield ReflowPanes([[loss, ck], [quadric, panel]], id="live-panes")
        ncf = NcfPane(id="ncf")  # in place of the four panes while selected (key 5)
        ncf.border_title = "NCF"
        ncf.display = False
        yield ncf

    def show(self, frame: RunFrame | None, empty: str | None = None) -> None:
        """Draw `frame` in every pane (plots rebuild lazily, when painted); with no frame, the
        panes say `empty` (why there is nothing to draw) or that they wait for a snapshot."""
        for plot_id in ("loss", "ck", "quadric"):
            self.query_one(f"#{plot_id}").show(frame, empty)
        self.query_one(ClassificationPanel).show(frame, empty)
        self.query_one(NcfPane).show(frame)

    def set_zoom(self, zoom: tuple[float, float] | None) -> None:
        """Show only steps in `zoom` on the loss and c_k plots (None: the whole run)."""
        for plot_id in ("loss", "ck"):
            self.query_one(f"#{plot_id}").set_zoom(zoom)

    def toggle_log(self) -> bool:
        plot = self.query_one(LossPlot)
        plot.log_y = not plot.log_y
        return plot.log_y

    def activate(self, pane: str) -> None:
        ncf = self.query_one(NcfPane)
        ncf.display = pane == "ncf"
        self.query_one(ReflowPanes).display = pane != "ncf"
        if pane == "ncf":
            ncf.show(ncf.frame)
        else:
            self.query_one(ReflowPanes).activate(pane)

    def cycle(self, delta: int) -> None:
        panes = self.query_one(ReflowPanes)
        if self.query_one(NcfPane).display:
            self.activate(panes.active)  # back to the four panes
        else:
            panes.cycle(delta)
