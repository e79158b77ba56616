"""The four panes of a run: loss, c_k, quadric and classification, reflowed to the screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical

from lab.frame import RunFrame
from lab.widgets.ck_plot import CkPlot
from lab.widgets.classification_panel import ClassificationPanel
from lab.widgets.loss_plot import LossPlot
from lab.widgets.quadric_plot import QuadricPlot
from lab.widgets.reflow_panes import ReflowPanes

PANES = ("loss", "ck", "quadric", "classification")


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

    def show(self, frame: RunFrame | None) -> None:
        """Draw `frame` in every pane (plots rebuild lazily, when painted)."""
        for plot_id in ("loss", "ck", "quadric"):
            self.query_one(f"#{plot_id}").show(frame)
        self.query_one(ClassificationPanel).show(frame)

    def toggle_log(self) -> bool:
        plot = self.query_one(LossPlot)
        plot.log_y = not plot.log_y
        return plot.log_y

    def activate(self, pane: str) -> None:
        self.query_one(ReflowPanes).activate(pane)

    def cycle(self, delta: int) -> None:
        self.query_one(ReflowPanes).cycle(delta)
