"""One schema field of the set-up form: its name, an editor fitting its type, its error line.

The editor and the checks come from the field's declaration in `core.config` (choices -> a
select, bool -> a true / false select, anything else -> a text input read as TOML), and every edit is
validated at once by `check_value`, so the error reads as the CLI would print it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from core.config import ConfigError, allowed_text, field_type
from lab.form_values import check_text, format_value
from lab.widgets.form_input import FormInput

BLANK_LABEL = "(none)"


def field_help(section: str, f: dataclasses.Field) -> str:
    """`help — allowed values`, from the schema (what the CLI's --help and errors say too)."""
    return f"[{section}] {f.name}: {f.metadata['help']} — {allowed_text(section, f)}"



class ConfigField(Vertical):
    """Label + editor + (when invalid) the one-line error."""

    DEFAULT_CSS = """
    ConfigField { height: auto; }
    ConfigField > Horizontal { height: 1; }
    ConfigField .name { width: 19; color: $text-muted; }
    ConfigField.-focused .name { color: $text; text-style: bold; }
    ConfigField .editor { width: 1fr; max-width: 60; }
    ConfigField Input.editor { height: 1; }
    ConfigField > .error { display: none; color: $text-error; padding-left: 2; }
    ConfigField.-invalid > .error { display: block; }
    ConfigField.-invalid .name { color: $text-error; }
    """

    @dataclass
    class Changed(Message):
        """The field's text changed; `error` is None when it is valid."""

        field: "ConfigField"
        error: str | None

    def __init__(self, section: str, f: dataclasses.Field, value) -> None:
        super().__init__(id=f"field-{section}-{f.name}")
        self.section = section
        self.field = f
        self.base, self.optional = field_type(section, f.name)
        self.error: str | None = None  # shown under the field: its own error or a cross-field rule's
        self.own_error: str | None = None  # the field's own check (type, range), as last validated
        self.checked = value  # the last valid value (the initial one comes from a Config)
        self._initial = value
        self.help = field_help(section, f)

    @property
    def key(self) -> str:
        return f"{self.section}.{self.field.name}"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(self.field.name, classes="name")
            yield self._make_editor(self._initial)
        yield Static("", classes="error", markup=False)

    def _make_editor(self, value):
        choices = self.field.metadata.get("choices")
        editor_id = f"edit-{self.section}-{self.field.name}"
        if choices:
            select = Select([(c, c) for c in choices], value=value if value in choices else Select.BLANK,
                            allow_blank=self.optional, prompt=BLANK_LABEL, compact=True, id=editor_id,
                            classes="editor")
            select.tooltip = Text(self.help)
            return select
        if self.base is bool:
            # A select rather than a checkbox: "true" / "false" reads the same without colour.
            select = Select([("true", "true"), ("false", "false")], value=format_value(bool(value)),
                            allow_blank=False, compact=True, id=editor_id, classes="editor")
            select.tooltip = Text(self.help)
            return select
        editor = FormInput(format_value(value), placeholder="(empty)" if self.optional else "", compact=True,
                       id=editor_id, classes="editor")
        editor.tooltip = Text(self.help)
        return editor

    @property
    def editor(self):
        return self.query_one(".editor")

    @property
    def text(self) -> str:
        """The field's content as text (what `check_text` reads)."""
        editor = self.editor
        if isinstance(editor, Select):
            return "" if editor.value is Select.BLANK else str(editor.value)
        return editor.value

    def value(self):
        """The validated value; raises ConfigError."""
        return check_text(self.section, self.field.name, self.text)

    def set_value(self, value) -> None:
        """Show `value` (loading a config); validation follows from the change event."""
        editor = self.editor
        if isinstance(editor, Select):
            if self.base is bool:
                value = format_value(bool(value))
            editor.value = value if value is not None else Select.BLANK
        else:
            editor.value = format_value(value)
        self.validate()

    def set_placeholder(self, text: str) -> None:
        if isinstance(self.editor, Input):
            self.editor.placeholder = text

    def validate(self) -> str | None:
        """Check the current text; show and return the error (None when valid).

        The checked value is kept in `checked` so the form can be assembled without checking
        every field again at each keystroke.
        """
        try:
            self.checked = self.value()
            error = None
        except ConfigError as e:
            self.checked = None
            error = str(e)
        self.own_error = error
        self.show_error(error)
        return error

    def reject(self, error: str) -> None:
        """Mark the field invalid with `error` (a value its editor cannot even hold)."""
        self.checked = None
        self.own_error = error
        self.show_error(error)

    def show_error(self, error: str | None) -> None:
        if error == self.error:
            return  # nothing to restyle or relayout (the common case while typing)
        self.error = error
        self.set_class(error is not None, "-invalid")
        self.query_one(".error", Static).update(error or "")

    def _changed(self, event: Message) -> None:
        event.stop()
        self.post_message(self.Changed(self, self.validate()))

    def on_input_changed(self, event: Input.Changed) -> None:
        self._changed(event)

    def on_select_changed(self, event: Select.Changed) -> None:
        self._changed(event)
