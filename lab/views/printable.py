"""User strings (names, notes, tags, config text, possibly from someone else's file) made safe to
print on a terminal: control characters are shown as escapes, never sent to the terminal.

An ESC in an imported session's name would otherwise let the file move the cursor, recolour or
retitle the terminal, or hide text; a bidirectional override could reorder what is shown.
Rich markup in such strings is a separate matter: print them as rich Text, never into markup.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, and the Unicode controls that reorder or hide text.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_UNSAFE_KEEP_LINES = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str | None, keep_newlines: bool = False) -> str:
    """`text` with every control character written as an escape (ESC as \\x1b); `keep_newlines`
    lets line breaks through (notes are paragraphs)."""
    if text is None:
        return ""
    pattern = _UNSAFE_KEEP_LINES if keep_newlines else _UNSAFE
    return pattern.sub(_escape, str(text))
