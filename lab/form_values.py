"""Text <-> value for the set-up form: every field is edited as text and checked by the schema.

The form never knows a field by name: it asks `core.config` for the field's type, and lets
`check_value` produce the error message, so a bad value reads exactly as the CLI would print it.
"""

from __future__ import annotations

import json
import math
import sys

from core.config import check_value, field_type

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FORM_SOURCE = "form"


def parse_text(section: str, name: str, text: str):
    """The value a field's text stands for, before validation (None for an empty field).

    Numbers and arrays are read as TOML, so `1e-3`, `1_000` and `[[0.6], [-0.6]]` all work; text
    that does not parse is handed on as a string for the schema to reject with its own message.
    """
    base, _ = field_type(section, name)
    text = text.strip()
    if text == "":
        return None
    if base is str:
        # Quotes are optional: "abs" and abs mean the same.
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            return text[1:-1]
        return text
    if base is bool:
        lowered = text.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        return text
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def check_text(section: str, name: str, text: str):
    """Parse and validate one field's text; raises ConfigError with the CLI's one-line message."""
    return check_value(section, name, parse_text(section, name, text), FORM_SOURCE)


def format_value(value) -> str:
    """A value as the form shows it (the inverse of `parse_text`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)
