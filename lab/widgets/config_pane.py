"""One section of the config schema as a pane of fields, generated from the dataclass."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical

from core.config import schema_fields
from lab.widgets.config_field import ConfigField


class ConfigPane(Vertical):
    """Every field of `section` in declaration order; `extra` widgets follow them."""

    DEFAULT_CSS = """
    ConfigPane { height: auto; padding: 0 1; }
    """

    def __init__(self, section: str, title: str, values, *, extra=()) -> None:
        super().__init__(id=f"pane-{section}")
        self.section = section
        self.border_title = title
        self._values = values
        self._extra = list(extra)

    def compose(self) -> ComposeResult:
        for f in schema_fields(self.section):
            yield ConfigField(self.section, f, getattr(self._values, f.name))
        yield from self._extra

    @property
    def fields(self) -> list[ConfigField]:
        return list(self.query(ConfigField))
