"""Panes side by side in columns on a big screen, one at a time under tabs on a small one.

The screen's breakpoint classes (`-narrow` below 100 columns, `-short` below 28 rows, set by the
App) decide; the same pane widgets are shown either way, so nothing is composed twice and no
state is lost on a resize.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Tab, Tabs


class ReflowPanes(Vertical):
    """Columns of titled panes; `activate` picks the pane shown when space is short."""

    DEFAULT_CSS = """
    ReflowPanes { height: 1fr; }
    ReflowPanes > Tabs { display: none; }
    ReflowPanes > .columns { height: 1fr; }
    ReflowPanes .column { width: 1fr; height: 1fr; }
    ReflowPanes .pane { border: round $primary 40%; border-title-color: $text-primary; }
    Screen.-narrow ReflowPanes > Tabs, Screen.-short ReflowPanes > Tabs { display: block; }
    Screen.-narrow ReflowPanes .column, Screen.-short ReflowPanes .column { display: none; }
    Screen.-narrow ReflowPanes .column.-active, Screen.-short ReflowPanes .column.-active { display: block; }
    Screen.-narrow ReflowPanes .pane, Screen.-short ReflowPanes .pane { display: none; }
    Screen.-narrow ReflowPanes .pane.-active, Screen.-short ReflowPanes .pane.-active {
        display: block; height: 1fr; border: none;
    }
    """

    def __init__(self, columns: list[list[Widget]], *, order: list[str] | None = None, scroll: bool = False,
                 id: str | None = None) -> None:
        """`columns` of panes (each with an id and a border title); `order` of their ids for the tabs."""
        super().__init__(id=id)
        self.columns = columns
        self.scroll = scroll
        panes = {pane.id: pane for column in columns for pane in column}
        self.panes = [panes[i] for i in order] if order else list(panes.values())
        for pane in self.panes:
            pane.add_class("pane")

    def compose(self) -> ComposeResult:
        yield Tabs(*[Tab(str(p.border_title or p.id), id=f"tab-{p.id}") for p in self.panes])
        with Horizontal(classes="columns"):
            for column in self.columns:
                container = VerticalScroll if self.scroll else Vertical
                with container(classes="column"):
                    yield from column

    def on_mount(self) -> None:
        self.activate(self.panes[0].id)

    @property
    def active(self) -> str:
        return next((p.id for p in self.panes if p.has_class("-active")), self.panes[0].id)

    def activate(self, pane_id: str) -> None:
        """Show pane `pane_id` when one pane is shown at a time (and select its tab)."""
        for pane in self.panes:
            pane.set_class(pane.id == pane_id, "-active")
        for column in self.query(".column"):
            column.set_class(any(c.id == pane_id for c in column.children), "-active")
        tabs = self.query_one(Tabs)
        if tabs.active != f"tab-{pane_id}":
            tabs.active = f"tab-{pane_id}"

    def cycle(self, delta: int) -> None:
        ids = [p.id for p in self.panes]
        self.activate(ids[(ids.index(self.active) + delta) % len(ids)])

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        event.stop()
        if event.tab is not None and event.tab.id:
            self.activate(event.tab.id.removeprefix("tab-"))
