"""An atlas recorded in the session store as a session of kind "atlas": its config, c, the report
(the JSON `relulab atlas --json` prints), every member's final loss and deciding signs, and each
component's best member. Shared by `relulab atlas` and the console's atlas screen."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np


def atlas_arrays(result) -> dict[str, np.ndarray]:
    """c, every member's final loss (components then the reference, one row each) and signs, and
    each row's best member's parameters (NaN where a row kept no member)."""
    rows = result.components + [result.reference]
    out = {"c": result.c, "losses": np.stack([r.losses for r in rows]), "start_signs": result.start_signs,
           "end_signs": result.end_signs, "hopped": result.hopped.astype(np.int8)}
    for key in ("hidden_weight", "hidden_bias", "output_weight", "output_bias"):
        like = getattr(result.own_params, key)
        if like is None:
            continue
        out[f"best_{key}"] = np.stack([np.asarray(getattr(r.best, key), np.float64) if r.best is not None
                                       else np.full(np.shape(like), np.nan) for r in rows])
    return out


def record_atlas(store, config, result, report: dict, name: str | None = None, default_name: str = "atlas") -> str:
    """Record `result` (trained with `config`, core.atlas.atlas_config) in `store` as `name`, or
    as the first free one of `default_name`, `default_name (2)`, ...; returns the id."""
    from core.invariants import classify_params
    from core.train import environment, resolve_device

    env = environment(resolve_device(config.train.device))
    env["atlas"] = {k: report[k] for k in ("restarts", "steps", "lr", "seed")}
    name = name if name is not None else store.free_name(default_name)
    writer = store.create_session(config, env, name=name, tags=("atlas",), kind="atlas")
    try:
        writer.set_initial(classify_params(result.own_params))
        writer.put_json("atlas", report)
        for key, array in atlas_arrays(result).items():
            writer.put_array(key, array)
        writer.finish(result.status)
    except BaseException:
        writer.finish("failed")
        raise
    remember(config, report, writer.id, getattr(store, "path", None))
    return writer.id


# -- the floor of a run's own component, for the classification pane ----------------------------

# What is known in this process: (store, atlas key) -> (own component name, its floor, session id).
# Filled by `remember` (an atlas recorded here) and, once per store, by reading the store's atlases.
# Keyed by store: an atlas session of one store means nothing to a run recorded in another.
_known: dict[tuple, tuple[str, float, str | None]] = {}
_scanned: set[str] = set()


def atlas_key(config, c) -> tuple:
    """Same architecture, initialisation, data and loss, and the same c to 5 significant digits
    (a float32 run reports its c rounded; the atlas computes it in float64)."""
    from core.config import config_to_dict

    d = config_to_dict(config)
    sections = tuple(sorted((s, tuple(sorted((k, repr(v)) for k, v in d[s].items()))) for s in ("model", "init", "data")))
    return sections, config.train.loss, tuple(f"{float(x):.5g}" for x in c)


@functools.lru_cache(maxsize=64)
def _store_key(store_path) -> str | None:
    # Asked on every frame the console draws: resolve each path once.
    return None if store_path is None else str(Path(store_path).expanduser().resolve())


def remember(config, report: dict, session: str | None, store_path=None) -> None:
    own = next((r for r in report.get("components", []) if r.get("own")), None)
    if own is not None and own.get("floor") is not None:
        _known[(_store_key(store_path), atlas_key(config, report["c"]))] = (own["name"], float(own["floor"]), session)


def _scan(store_path) -> None:
    """Every atlas recorded in the store at `store_path`, read once per store; a damaged one is skipped."""
    where = _store_key(store_path)
    if where in _scanned:
        return
    _scanned.add(where)
    try:
        from sessions import Store

        store = Store(store_path)
        infos = [i for i in store.list() if i.kind == "atlas" and i.status in ("completed", "diverged")]
    except Exception:
        return
    for info in infos:
        try:
            session = store.load(info.id)
            if session.config is not None:
                remember(session.config, session.json("atlas"), info.id, store_path)
        except Exception:
            continue


def component_floor_line(store_path, config, initial) -> str | None:
    """"floor of this component 1+1-: 0.0859 (atlas 3f2a1b0c)" once an atlas of the same config and
    c exists (computed in this process, or recorded in the store at `store_path` when this process
    first looked); None otherwise. `initial` is the run's initial Classification."""
    if config is None or initial is None:
        return None
    if store_path is not None:
        _scan(store_path)
    found = _known.get((_store_key(store_path), atlas_key(config, initial.c)))
    if found is None:
        return None
    name, floor, session = found
    return f"floor of this component {name}: {floor:.4g}" + (f" (atlas {session})" if session else "")
