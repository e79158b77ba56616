"""JSON as every other program reads it: strict when written, bounded when read.

Written: NaN and infinities (a diverged run) become null, numpy scalars and arrays plain numbers
and lists, so `json.loads` in any language accepts the text. Read: text nested deeper than
MAX_DEPTH is refused with a ValueError instead of exhausting the interpreter's recursion limit,
because stored JSON may come from someone else's file.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

MAX_DEPTH = 64  # our own documents nest 3 levels at most


def plain(obj: Any) -> Any:
    """`obj` with non-finite floats as None, numpy values as Python ones, tuples as lists."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def dumps(obj: Any, **kwargs) -> str:
    """Strict JSON text of `obj` (see `plain`); other objects (dates, paths) as their str()."""
    return json.dumps(plain(obj), allow_nan=False, default=str, **kwargs)


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON; ValueError if it is not JSON or nests deeper than `max_depth`."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="strict")
    if _depth(text) > max_depth:
        raise ValueError(f"nested more than {max_depth} levels deep")
    return json.loads(text)


def _depth(text: str) -> int:
    """The deepest nesting of [ and { in `text`, outside strings (a quick scan, no parsing)."""
    if "[" not in text and "{" not in text:
        return 0
    # Drop strings (with their escapes) first, then count brackets in what remains.
    import re

    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    depth = deepest = 0
    for ch in re.sub(r"[^\[\]{}]", "", bare):
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest
