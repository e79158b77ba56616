"""The small-init experiment drawn on the console's experiments screen (plotext plots, a DataTable)."""

from __future__ import annotations

import numpy as np

from lab.views.experiments import small_init_conclusions

LINE = "braille"


def draw_small_init(left, right, table, result, report: dict) -> str:
    """Left: log10 max 1 - cos against log10 scale. Right: the saddle run's log10 ||theta_k||.
    The table: one row per plateau. Returns the conclusions line."""
    rows = [r for r in report["alignment"] if r["max_one_minus_cos"] is not None and r["max_one_minus_cos"] > 0]
    if rows:
        x = np.log10([r["scale"] for r in rows]).tolist()
        left.plot(x, np.log10([r["max_one_minus_cos"] for r in rows]).tolist(), label="max", marker=LINE)
        med = [(a, r["median_one_minus_cos"]) for a, r in zip(x, rows) if r["median_one_minus_cos"]]
        if med:
            left.plot([a for a, _ in med], np.log10([m for _, m in med]).tolist(), label="median", marker=LINE)
    left.title("log10 (1 - cos) to the KKT direction vs log10 scale")
    left.xlabel("log10 initial scale")
    norms = np.log10(np.maximum(result.saddle_norms, 1e-300))
    for k in range(norms.shape[1]):
        right.plot(result.saddle_steps.tolist(), norms[:, k].tolist(), label=f"θ{k}", marker=LINE)
    right.title("saddle to saddle: log10 ‖θ_k‖")
    right.xlabel("step")
    for col in ("plateau step", "loss", "grown", "predicted next", "N*", "escaped", "at step", "predicted", "cos"):
        table.add_column(col)
    for s in report["sequence"]:
        table.add_row(str(s["step"]), f"{s['loss']:.4g}", ",".join(map(str, s["grown"])) or "-",
                      str(s["predicted_neuron"]), f"{s['predicted_value']:.4g}", str(s["escaped_neuron"]),
                      str(s["escaped_step"]), f"{s['predicted_escape_step']:.0f}", f"{s['cosine']:.10f}")
    return small_init_conclusions(report["summary"], report["alignment"])
