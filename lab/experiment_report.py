"""What an experiment reports: the JSON report, its provenance, the session it is recorded as and
the files --out writes. Shared by `relulab experiment` and the console's experiments screen."""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import sys
from pathlib import Path

import numpy as np

from core.strict_json import plain as jsonable  # numpy -> lists, NaN / inf -> null: strict JSON


def build_report(name: str, quick: bool, params: dict, result, device: str, started_at: str,
                 seconds: float) -> tuple[dict, dict]:
    """(report, provenance): what --json prints and what is written next to the results."""
    from core import experiments

    prov = provenance(name, quick, params, result, device, started_at, seconds)
    report = {"experiment": name, "quick": quick, "parameters": jsonable(params), "device": prov["device"],
              "seconds": round(seconds, 3), "summary": jsonable(experiments.summary(result))}
    report.update(headline_tables(result))
    diverged, networks = diverged_members(result)
    report["diverged"] = {"networks": diverged, "of": networks}
    # Any member whose loss stopped being finite makes the experiment `diverged`: its means
    # leave those networks out, which a reader must know.
    report["status"] = prov["status"] = "diverged" if diverged else "completed"
    return report, prov


def diverged_members(result) -> tuple[int, int]:
    """(networks whose loss stopped being finite, networks trained)."""
    from core.experiments import AtlasExperimentResult, GridResult, MitigationResult, ToyResult

    if isinstance(result, ToyResult):
        return int(np.sum(~np.isfinite(result.final_loss))), len(result.final_loss)
    if isinstance(result, AtlasExperimentResult):
        rows = [r for a in result.atlases for r in a.components + [a.reference]]
        return sum(r.diverged for r in rows), sum(len(r.losses) for r in rows)
    if isinstance(result, GridResult):
        flags = np.asarray(result.diverged, dtype=np.float64)
        return int(np.nansum(flags)), int(np.sum(np.isfinite(flags)))
    if isinstance(result, MitigationResult):
        a, b = diverged_members(result.prescribed), diverged_members(result.rebalanced)
        return a[0] + b[0], a[1] + b[1]
    return 0, 0  # probability: nothing is trained


def check_out_dir(out: Path) -> None:
    """--out DIR must be a directory this process can write into: checked before any work."""
    from core.errors import UserError

    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".relulab-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UserError(f"--out {out}: cannot write there ({e.strerror or e})") from None


def software() -> dict:
    import importlib.metadata as md

    import torch

    from core.provenance import code_version

    def version(package: str) -> str | None:
        try:
            return md.version(package)
        except md.PackageNotFoundError:
            return None

    return {"relulab": version("relulab"), "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "scipy": version("scipy"), "scikit-learn": version("scikit-learn"),
            "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
            "cuda": torch.version.cuda, **code_version()}


def provenance(name: str, quick: bool, params: dict, result, device: str, started_at: str, seconds: float) -> dict:
    """What ran, so a figure can be traced and rerun."""
    from core import experiments

    return {
        "experiment": name,
        "quick": quick,
        "argv": list(sys.argv),
        "rerun": rerun_command(name, quick, params, device),
        "parameters": jsonable(params),
        "seeds": [int(s) for s in params.get("seeds", [])],
        "steps": params.get("steps"),
        "lr": params.get("lr"),
        "device": result_device(result),
        "requested_device": device,
        "configs": experiments.result_configs(result),
        "software": software(),
        "started": started_at,
        "seconds": round(seconds, 3),
    }


def rerun_command(name: str, quick: bool, params: dict, device: str) -> str:
    parts = ["relulab", "experiment", name]
    for key, value in params.items():
        if key in ("widths", "seeds", "scales"):
            value = ",".join(str(v) for v in value)
        parts += ["--" + key.replace("_", "-"), str(value)]
    return " ".join(parts + ["--device", device])


def result_device(result) -> str:
    from core.experiments import MitigationResult

    return result.prescribed.device if isinstance(result, MitigationResult) else result.device


def headline_tables(result) -> dict:
    """The rows that --json prints besides the summary: per-cell tables, small enough for stdout."""
    from core.experiments import (AtlasExperimentResult, GridResult, LevelSetsResult, MitigationResult, SmallInitResult,
                                  ToyResult)

    if isinstance(result, ToyResult):
        return {"runs": result.summary()}
    if isinstance(result, (LevelSetsResult, AtlasExperimentResult)):
        return {"cells": result.cells()}
    if isinstance(result, SmallInitResult):
        return {"alignment": result.alignment(), "sequence": [s.to_dict() for s in result.sequence],
                "kkt": result.kkt}
    if isinstance(result, GridResult):
        return {"cells": result.cells()}
    if isinstance(result, MitigationResult):
        return {"cells": [row for _, g in result.variants() for row in g.cells()]}
    return {"grid": {"schemes": result.schemes, "inputs": result.inputs, "hidden": result.hidden,
                     **{k: getattr(result, k) for k in ("pathological", "pathological_mc", "disconnected",
                                                        "disconnected_mc", "all_pathological", "all_pathological_mc",
                                                        "expected_effective")}}}


def record_result(store, name: str, result, prov: dict, report: dict, device: str = "auto",
                  session_name: str | None = None) -> str:
    """Record an experiment as a sweep session: every array, the summary, the tables and the
    provenance as named results; returns the session id."""
    from core import experiments
    from core.train import environment, resolve_device

    env = environment(resolve_device(device))
    env["experiment"] = name
    writer = store.create_session(experiments.result_config(result), env, name=session_name or f"experiment {name}",
                                  tags=("experiment", name), kind="sweep")
    try:
        for key, array in experiments.arrays(result).items():
            writer.put_array(key, np.asarray(array))
        writer.put_json("experiment", jsonable({"name": name, "summary": report["summary"]}))
        writer.put_json("provenance", jsonable(prov))
        for key in ("cells", "runs", "alignment", "sequence", "kkt"):
            if key in report:
                writer.put_json(key, jsonable(report[key]))
        status = report.get("status", "completed")
        d = report.get("diverged") or {}
        writer.finish(status, error=f"{d.get('networks')} of {d.get('of')} networks diverged (non-finite loss)"
                      if status == "diverged" else None)
    except BaseException:
        writer.finish("failed")
        raise
    return writer.id


def write_csv(path: Path, rows: list[dict]) -> Path:
    if not rows:
        return path
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if isinstance(v, float) and not math.isfinite(v) else
                            " ".join(map(str, v)) if isinstance(v, list) else v) for k, v in row.items()})
    return path


def write_out(out: Path, name: str, result, prov: dict, report: dict) -> list[Path]:
    """NAME.json (provenance, summary, every array) and NAME.csv (the main table), plus per-kind extras."""
    from core import experiments
    from core.errors import UserError
    from core.experiments import GridResult, MitigationResult, SmallInitResult, ToyResult

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {out}: cannot create the directory ({e.strerror or e})") from None
    stem = name.replace("-", "_")
    files = []
    try:
        data = {"provenance": prov, "summary": report["summary"], "arrays": experiments.arrays(result)}
        for key in ("runs", "cells", "alignment", "sequence", "kkt"):
            if key in report:
                data[key] = report[key]
        path = out / f"{stem}.json"
        path.write_text(json.dumps(jsonable(data), indent=1) + "\n", encoding="utf-8")
        files.append(path)
        if isinstance(result, ToyResult):
            files.append(write_csv(out / f"{stem}.csv", result.summary()))
            rows = []
            for t, step in enumerate(result.steps):
                row = {"step": int(step)}
                for i, label in enumerate(result.labels):
                    key = ("obstructed", "free", "control", "constant_start")[i] if i < 4 else f"run{i}"
                    row[f"{key}_loss"] = float(result.loss[t, i])
                    for k in range(result.v.shape[2]):
                        row[f"{key}_w{k}"] = float(result.w_norm[t, i, k])
                        row[f"{key}_v{k}"] = float(result.v[t, i, k])
                rows.append(row)
            files.append(write_csv(out / f"{stem}_curves.csv", rows))
        elif isinstance(result, (GridResult, MitigationResult)):
            grids = [result] if isinstance(result, GridResult) else [g for _, g in result.variants()]
            files.append(write_csv(out / f"{stem}.csv", [row for g in grids for row in g.cells()]))
            files.append(write_csv(out / f"{stem}_runs.csv", [row for g in grids for row in g.runs()]))
        elif isinstance(result, SmallInitResult):
            files.append(write_csv(out / f"{stem}.csv", report["alignment"]))
            files.append(write_csv(out / f"{stem}_saddles.csv", report["sequence"]))
        else:
            files.append(write_csv(out / f"{stem}.csv", result.cells()))
    except OSError as e:
        raise UserError(f"--out {out}: cannot write ({e.strerror or e})") from None
    return files
