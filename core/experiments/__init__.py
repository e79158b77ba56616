"""The paper's evidence (and one step beyond it), as pure numerics: parameters in, arrays out.

    toy            the obstruction in its simplest form: y = |x| with two ReLU neurons
    breast_cancer  test loss over hidden width l and the number l_+ of non-pathological neurons
    probability    P(obstructed initialisation) over inputs d and width l: closed form vs Monte Carlo
    mitigation     the breast-cancer grid again, every neuron rescaled to c_k >= 0 at init
    level-sets     Freeman & Bruna: normalised geodesic length between trained pairs against the loss level
    atlas          the floor of every component of H(c): toy and breast cancer at l = l_- = 8
    small-init     directional convergence to the KKT points of the neural correlation function
                   (Kumar & Haupt, 2024) against the initial scale, and the saddle-to-saddle sequence

Source: Nurisso, Leroy & Vaccarino, "Topological obstruction to the training of shallow ReLU
neural networks" (NeurIPS 2024); docs/science.md has the theory. Training always goes through
the batched engine (`core.train.sweep`): one call per hidden width, every seed and every l_+ of
that width trained as one set of tensors. No terminal and no files here: lab/cli/experiment.py,
lab/views/experiments.py and lab/screens/experiment_screen.py show the results, the session store keeps them.
"""

from __future__ import annotations

import threading

import numpy as np

from core.config import Config, config_to_dict
from core.errors import UserError
from core.experiments.atlas import AtlasExperimentResult, atlas_configs, atlas_experiment
from core.experiments.breast_cancer import breast_cancer
from core.experiments.common import NAMES, PRESETS, Progress, Stopped
from core.experiments.level_sets import LevelSetsResult, level_sets
from core.experiments.grid import GRID_KEYS, GridResult, grid_arrays, grid_config, grid_findings, network_outputs, prescribed_params
from core.experiments.mitigation import MitigationResult, mitigation
from core.experiments.probability import PROBABILITY_KEYS, PROBABILITY_SCHEMES, ProbabilityResult, obstruction_monte_carlo, probability
from core.experiments.small_init import SmallInitResult, small_init
from core.experiments.toy import TOY_BASE, TOY_RUNS, ToyResult, toy, toy_configs

__all__ = [
    "NAMES", "PRESETS", "Progress", "Stopped", "toy", "toy_configs", "TOY_BASE", "TOY_RUNS", "ToyResult",
    "breast_cancer", "mitigation", "MitigationResult", "probability", "ProbabilityResult", "PROBABILITY_KEYS",
    "PROBABILITY_SCHEMES", "obstruction_monte_carlo", "GRID_KEYS", "GridResult", "grid_config", "grid_findings",
    "network_outputs", "prescribed_params", "level_sets", "LevelSetsResult", "AtlasExperimentResult", "atlas_configs", "atlas_experiment", "SmallInitResult", "small_init", "parameters", "run", "summary", "arrays", "result_config", "result_configs",
]


def parameters(name: str, quick: bool = False, **overrides) -> dict:
    """The parameters an experiment will run with: its preset, then every override that is not None."""
    if name not in PRESETS:
        raise UserError(f"experiment {name!r}: must be one of {', '.join(NAMES)}")
    params = dict(PRESETS[name]["quick" if quick else "full"])
    params.update({k: v for k, v in overrides.items() if v is not None})
    if "seeds" in params and isinstance(params["seeds"], int):
        params["seeds"] = list(range(params["seeds"]))
    return params


def run(name: str, params: dict, device: str = "auto", *, stop: threading.Event | None = None,
        progress: Progress | None = None):
    """Run experiment `name` with `params` (see `parameters`); returns its result dataclass."""
    p = dict(params)
    if name == "toy":
        return toy(p["steps"], p["lr"], device, stop=stop, progress=progress)
    if name == "breast-cancer":
        return breast_cancer(p["widths"], p["seeds"], p["steps"], p["lr"], device, stop=stop, progress=progress)
    if name == "mitigation":
        return mitigation(p["widths"], p["seeds"], p["steps"], p["lr"], device, p.get("ratios", ()),
                          stop=stop, progress=progress)
    if name == "level-sets":
        return level_sets(p["widths"], p["seeds"], p["steps"], p["lr"], device, stop=stop, progress=progress)
    if name == "atlas":
        return atlas_experiment(p["restarts"], p["steps"], p["lr"], device, stop=stop, progress=progress)
    if name == "probability":
        seeds = p.get("seeds") or [0]
        return probability(p["max_inputs"], p["max_hidden"], p["samples"], int(seeds[0]), device,
                           stop=stop, progress=progress)
    if name == "small-init":
        return small_init(p["scales"], p["seeds"], lr=p["lr"], saddle_steps=p["steps"], device=device, stop=stop,
                          progress=progress)
    raise UserError(f"experiment {name!r}: must be one of {', '.join(NAMES)}")


def summary(result) -> dict:
    """The headline numbers of a result, JSON-ready."""
    if isinstance(result, ToyResult):
        return {"runs": result.summary()}
    if isinstance(result, GridResult):
        return {"test": grid_findings(result, "test_loss"), "train": grid_findings(result, "train_loss")}
    if isinstance(result, MitigationResult):
        return {
            **{name: {"test": grid_findings(grid), "train": grid_findings(grid, "train_loss")}
               for name, grid in (("prescribed", result.prescribed), ("rebalanced", result.rebalanced))},
            "by_ratio": {f"{r:g}": {"test": grid_findings(g), "train": grid_findings(g, "train_loss")}
                         for r, g in sorted(result.by_ratio.items())},
            "comparison": result.findings(),
            "check": vars(result.check),
        }
    if isinstance(result, ProbabilityResult):
        return result.findings()
    if isinstance(result, (SmallInitResult, LevelSetsResult)):
        return result.findings()
    if isinstance(result, AtlasExperimentResult):
        return {**result.findings(), "conclusions": result.conclusions()}
    raise TypeError(type(result))


def arrays(result) -> dict[str, np.ndarray]:
    """Every array of a result by name (for the session store and JSON)."""
    if isinstance(result, ToyResult):
        return {"steps": result.steps, "loss": result.loss, "w_norm": result.w_norm, "v": result.v, "c": result.c}
    if isinstance(result, GridResult):
        return grid_arrays(result, "")
    if isinstance(result, MitigationResult):
        out = {**grid_arrays(result.prescribed, "prescribed_"), **grid_arrays(result.rebalanced, "rebalanced_")}
        for r, g in sorted(result.by_ratio.items()):
            out.update(grid_arrays(g, f"ratio{r:g}_"))
        return out
    if isinstance(result, ProbabilityResult):
        out = {"inputs": result.inputs, "hidden": result.hidden}
        for k in PROBABILITY_KEYS + ("expected_effective",):
            out[k] = getattr(result, k)
            out[k + "_mc"] = getattr(result, k + "_mc")
        return out
    if isinstance(result, SmallInitResult):
        return {"scales": result.scales, "seeds": result.seeds, "one_minus_cos": result.one_minus_cos,
                "balance": result.balance, "predicted_cosine": result.predicted_cosine, "stop_step": result.stop_step,
                "saddle_steps": result.saddle_steps, "saddle_loss": result.saddle_loss,
                "saddle_norms": result.saddle_norms}
    if isinstance(result, LevelSetsResult):
        return {k: getattr(result, k) for k in ("widths", "seeds", "levels", "variance", "final_loss",
                                                 "normalized_length", "beads", "connected", "barrier")}
    if isinstance(result, AtlasExperimentResult):
        out = {}
        for label, a in zip(result.labels, result.atlases):
            key = label.replace("-", "_")
            out[f"{key}_c"] = a.c
            out[f"{key}_losses"] = np.stack([r.losses for r in a.components + [a.reference]])
        return out
    raise TypeError(type(result))


def result_config(result) -> Config | None:
    """The config a result was trained from (the obstructed run for the toy); None for probability,
    which trains nothing."""
    if isinstance(result, ToyResult):
        return result.configs[0]
    if isinstance(result, GridResult):
        return result.config
    if isinstance(result, MitigationResult):
        return result.prescribed.config
    if isinstance(result, AtlasExperimentResult):
        return result.configs[-1]
    if isinstance(result, SmallInitResult):
        return result.configs["saddles"]
    return None  # probability trains nothing; level-sets trains on data built outside the schema


def result_configs(result) -> dict[str, dict]:
    """Every config a result ran, as TOML-ready dicts, for provenance."""
    if isinstance(result, (ToyResult, AtlasExperimentResult)):
        return {label: config_to_dict(c) for label, c in zip(result.labels, result.configs)}
    if isinstance(result, (GridResult, MitigationResult)):
        return {"base": config_to_dict(result_config(result)),
                "per_cell": "[model] hidden = l; [init] pathological = l - l_plus, signs = '-' * (l - l_plus); "
                            "init seed = each seed" + ("; mitigation: core.init.rebalance applied to each, norms swapped and at each ratio"
                                                        if isinstance(result, MitigationResult) else "")}
    if isinstance(result, SmallInitResult):
        from core.experiments.small_init import ALIGNMENT_DATA, SADDLE_DATA

        return {**{name: config_to_dict(c) for name, c in result.configs.items()},
                "per_run": "alignment: [init] std = each scale, seed = each seed; the data are given, not loaded",
                "alignment_data": {"x": ALIGNMENT_DATA[0].tolist(), "y": ALIGNMENT_DATA[1].ravel().tolist()},
                "saddle_data": {"x": SADDLE_DATA[0].tolist(), "y": SADDLE_DATA[1].ravel().tolist()}}
    if isinstance(result, LevelSetsResult):
        return {"base": config_to_dict(result.config),
                "per_cell": "[model] hidden = l; init seed = each seed; data: y = x^2 (quadratic) or x^3 (cubic) on "
                            "64 evenly spaced points of [-1, 1] in place of [data]; pairs are seeds (0, 1), (2, 3), ...; "
                            "connect: full space, aligned, levels L0 = fraction x Var(y)"}
    return {}
