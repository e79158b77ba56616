"""Sessions: every recorded run in the store; filter, rename, tag, delete, replay, reuse its config."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, Static

from core.errors import UserError
from lab.screens.confirm_screen import ConfirmScreen
from lab.screens.text_prompt import TextPrompt
from lab.widgets.form_input import FormInput
from lab.widgets.key_bar import KeyBar
from lab.widgets.mode_bar import ModeBar
from lab.widgets.sessions_table import SessionsTable, matches

FOLLOW_SECONDS = 1.0  # how often the list is re-read while a session is recording


class SessionsScreen(Screen):
    """A table of `store.list()`; enter replays the selected session."""

    TITLE = "Sessions"
    AUTO_FOCUS = "#sessions-table"
    HELP = """
Every run started from the console (and from `relulab run`) is recorded in the session store.
Type in the filter to keep the sessions whose id, name, status, config or tags contain every word.
Space marks a session (a marks every session the filter shows, x clears the marks); v opens the
compare view of the marked sessions (2 to 12) on one chart.
"""

    BINDINGS = [
        Binding("enter", "replay", "Replay"),
        Binding("slash", "filter", "Filter"),
        Binding("r", "rename", "Rename"),
        Binding("t", "tag", "Tag"),
        Binding("d,delete", "delete", "Delete"),
        Binding("c", "use_config", "Use config"),
        Binding("space", "mark", "Mark"),
        Binding("a", "mark_all", "Mark all", show=False),
        Binding("x", "clear_marks", "Clear marks", show=False),
        Binding("v", "compare", "Compare"),
        Binding("ctrl+r", "reload", "Reload"),
        Binding("escape", "leave_filter", "Back to the table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="sessions")
        self.infos: list = []

    def compose(self) -> ComposeResult:
        yield ModeBar("sessions", id="mode-bar")
        yield FormInput(placeholder="/ filter: words in id, name, status, config, tags", id="filter", compact=True)
        yield Static("", id="sessions-message", markup=False)
        yield SessionsTable(id="sessions-table")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(SessionsTable).redact = getattr(self.app, "redact", False)
        self.reload()
        self.set_interval(FOLLOW_SECONDS, self._follow)

    def _follow(self) -> None:
        """While a session is recording, reload now and then: its loss and step move on."""
        if self.app.screen is self and (self.app.running or any(i.status == "running" for i in self.infos)):
            self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    @property
    def table(self) -> SessionsTable:
        return self.query_one(SessionsTable)

    # -- loading --------------------------------------------------------------------------------

    def reload(self, select: str | None = None) -> None:
        store = self.app.store
        if store is None:
            self._say(f"no session store: {self.app.store_error}", "yellow")
            return
        self.query_one(ModeBar).set_context("store" if self.app.redact else str(store.path))
        self._load(store, select)

    @work(thread=True, exclusive=True, group="sessions-list", exit_on_error=False)
    def _load(self, store, select: str | None) -> None:
        try:
            infos = store.list()
            error = None
        except UserError as e:
            infos, error = [], str(e)
        self.app.call_from_thread(self._loaded, infos, error, select)

    def _loaded(self, infos: list, error: str | None, select: str | None) -> None:
        if error:
            self._say(error, "red")
            return
        self.infos = infos
        self._apply_filter(select)

    def _apply_filter(self, select: str | None = None) -> None:
        words = self.query_one("#filter", Input).value.lower().split()
        shown = [i for i in self.infos if matches(i, words)]
        self.table.show(shown, select)
        if not self.infos:
            self._say("no sessions yet: start a run from the set-up screen (F2, then ctrl+r)")
        elif not shown:
            self._say(f"no session matches the filter ({len(self.infos)} in the store)")
        else:
            self._say(f"{len(shown)} of {len(self.infos)} sessions · enter: replay")

    def _say(self, text: str, style: str = "dim") -> None:
        self.query_one("#sessions-message", Static).update(Text(text, style=style))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self._apply_filter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.table.focus()

    def on_data_table_row_selected(self, event: SessionsTable.RowSelected) -> None:
        event.stop()
        self.action_replay()

    # -- actions --------------------------------------------------------------------------------

    def _selected(self) -> str | None:
        session_id = self.table.selected_id
        if session_id is None:
            self.notify("no session selected", severity="warning", timeout=3)
        return session_id

    def _info(self, session_id: str):
        return next((i for i in self.infos if i.id == session_id), None)

    def action_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_leave_filter(self) -> None:
        self.table.focus()

    def action_reload(self) -> None:
        self.reload()

    def action_mark(self) -> None:
        session_id = self._selected()
        if session_id is None:
            return
        marked = self.table.marked
        self.table.set_marked([i for i in marked if i != session_id] if session_id in marked else [*marked, session_id])
        self._say(f"{len(self.table.marked)} marked · v: compare")

    def action_mark_all(self) -> None:
        self.table.set_marked([*self.table.marked, *self.table.shown_ids()])
        self._say(f"{len(self.table.marked)} marked · v: compare")

    def action_clear_marks(self) -> None:
        self.table.set_marked([])
        self._say("marks cleared")

    def action_compare(self) -> None:
        from lab.screens.compare_screen import MAX_RUNS, CompareScreen

        existing = {i.id for i in self.infos}
        marked = [i for i in self.table.marked if i in existing]
        if len(marked) < 2:
            self.notify("mark two or more sessions with space first (a marks all shown)", severity="warning",
                        timeout=4)
            return
        if len(marked) > MAX_RUNS:
            self.notify(f"{len(marked)} sessions marked: compare takes at most {MAX_RUNS}", severity="warning",
                        timeout=4)
            return
        self.app.push_screen(CompareScreen(marked))

    def action_replay(self) -> None:
        session_id = self._selected()
        if session_id is None:
            return
        info = self._info(session_id)
        if info is not None and info.kind == "connect":
            from lab.screens.connect_screen import ConnectScreen

            self.app.push_screen(ConnectScreen(session_id))
        elif info is not None and info.kind == "sweep" and "sweep" in info.tags:  # made by `relulab sweep`
            from lab.screens.sweep_screen import SweepScreen

            self.app.push_screen(SweepScreen(session_id))
        else:
            self.app.open_replay(session_id)

    def _store_call(self, what: str, call) -> bool:
        try:
            call()
        except UserError as e:
            self.notify(str(e), title=f"Cannot {what}", severity="error", timeout=8)
            return False
        return True

    def action_rename(self) -> None:
        session_id = self._selected()
        store = self.app.store
        if session_id is None or store is None:
            return
        info = self._info(session_id)

        def done(name: str | None) -> None:
            if name is not None and self._store_call("rename", lambda: store.rename(session_id, name)):
                self.reload(session_id)

        self.app.push_screen(TextPrompt(f"Name of session {session_id} (empty: no name):",
                                        (info.name or "") if info else ""), done)

    def action_tag(self) -> None:
        session_id = self._selected()
        store = self.app.store
        if session_id is None or store is None:
            return

        def done(text: str | None) -> None:
            if not text:
                return
            words = [w.strip() for w in text.replace(",", " ").split() if w.strip()]
            add = [w for w in words if not w.startswith("-")]
            remove = [w[1:] for w in words if w.startswith("-") and len(w) > 1]

            def call():
                if add:
                    store.tag(session_id, add)
                if remove:
                    store.tag(session_id, remove, remove=True)

            if self._store_call("tag", call):
                self.reload(session_id)

        self.app.push_screen(TextPrompt(f"Tags for session {session_id} (space separated; -tag removes one):"), done)

    def action_delete(self) -> None:
        session_id = self._selected()
        store = self.app.store
        if session_id is None or store is None:
            return
        info = self._info(session_id)
        label = f"{session_id}{f' ({info.name})' if info and info.name else ''}"

        def done(yes: bool | None) -> None:
            if yes and self._store_call("delete", lambda: store.delete(session_id)):
                self.notify(f"deleted session {label}", timeout=4)
                self.reload()

        self.app.push_screen(ConfirmScreen(f"Delete session {label}? This cannot be undone."), done)

    def action_use_config(self) -> None:
        """Put the session's config in the set-up form, to run it again or change it."""
        session_id = self._selected()
        store = self.app.store
        if session_id is None or store is None:
            return
        try:
            session = store.load(session_id)
        except UserError as e:
            self.notify(str(e), severity="error", timeout=8)
            return
        if session.config is None:
            self.notify(f"session {session_id} has no config", severity="warning")
            return
        self.app.action_mode("setup")
        self.app.mode_screen("setup").load(session.config)
        self.app.notify(f"config of session {session_id} loaded into the form")
