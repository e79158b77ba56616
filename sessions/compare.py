"""Several sessions side by side: the config keys that differ, final metrics, classification.

Shared by `relulab sessions compare` and the console's compare view.
"""

from __future__ import annotations

import math

from core.compare import differences
from core.config import config_to_dict

FINAL_KEYS = ("step", "loss", "test_loss", "accuracy", "test_accuracy")
CLASS_KEYS = ("pathological", "components", "effective_components", "signs")


def comparison(sessions: list) -> dict:
    """What `compare --json` prints: sessions, differences (dotted config key -> one value per
    session, in the order of `sessions`), and per session id its final metrics and classification."""
    configs = [config_to_dict(s.config) if s.config else None for s in sessions]
    out = {
        "sessions": [{"id": s.id, "name": s.name, "kind": s.kind, "status": s.status} for s in sessions],
        "differences": differences(configs),
        "final": {},
        "classification": {},
    }
    for s in sessions:
        out["final"][s.id] = {k: finite(s.info.final.get(k)) for k in FINAL_KEYS}
        found = s.final.to_dict() if s.final else {}
        out["classification"][s.id] = {**{k: found.get(k) for k in CLASS_KEYS}, "hops": len(s.hops)}
    return out


def finite(x):
    return None if isinstance(x, float) and not math.isfinite(x) else x
