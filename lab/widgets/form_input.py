"""A one-line input whose `?` opens help instead of being typed.

No field of the config schema, nor the sessions filter, has a use for `?`, while the key bar
promises `? Help` on every screen; text prompts for names, tags and paths keep a plain Input.
"""

from __future__ import annotations

from textual.widgets import Input

HELP_CHARACTER = "?"


class FormInput(Input):
    """An Input that does not consume `?`, so the app's help binding gets it."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        if character == HELP_CHARACTER:
            return False
        return super().check_consume_key(key, character)
