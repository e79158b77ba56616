"""An atlas recorded in the session store as a session of kind "atlas": its config, c, the report
(the JSON `relulab atlas --json` prints), every member's final loss and deciding signs, and each
component's best member. Shared by `relulab atlas` and the console's atlas screen."""

from __future__ import annotations

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


def record_atlas(store, config, result, report: dict, name: str) -> str:
    """Record `result` (trained with `config`, core.atlas.atlas_config) in `store`; returns the id."""
    from core.invariants import classify_params
    from core.train import environment, resolve_device

    env = environment(resolve_device(config.train.device))
    env["atlas"] = {k: report[k] for k in ("restarts", "steps", "lr", "seed")}
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
    return writer.id
