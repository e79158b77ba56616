"""Item 1 of issue 12: a recorded value is a function of the config alone, not of how the
trainer happened to batch its snapshot evaluations (which follows wall time and machine load)."""

import math

import numpy as np
import pytest

import core.train as train
from core.config import config_from_dict
from core.train import Trainer


def run_batched(monkeypatch, config, flush_seconds: float, max_pending: int):
    monkeypatch.setattr(train, "FLUSH_SECONDS", flush_seconds)
    monkeypatch.setattr(train, "MAX_PENDING", max_pending)
    trainer = Trainer(config)
    batches = list(trainer.batches())
    return trainer, batches


CONFIGS = [
    # float64, several samples and neurons: the case the issue measured (last digits differed).
    {"model": {"hidden": 16}, "data": {"name": "breast_cancer"},
     "train": {"loss": "bce", "steps": 60, "log_every": 1, "dtype": "float64", "lr": 0.1}},
    {"model": {"hidden": 7}, "data": {"name": "teacher", "samples": 97},
     "train": {"steps": 45, "log_every": 1, "dtype": "float32", "lr": 0.05}},
]


@pytest.mark.parametrize("raw", CONFIGS)
def test_every_recorded_value_is_bitwise_the_same_whatever_the_batch_boundaries(monkeypatch, raw):
    config = config_from_dict(raw)
    # One snapshot per batch, then everything in one batch, then batches of 3 and of 11: forced
    # through the module's own limits rather than hoped for from the clock.
    runs = [run_batched(monkeypatch, config, 0.0, 1), run_batched(monkeypatch, config, math.inf, 4096),
            run_batched(monkeypatch, config, math.inf, 3), run_batched(monkeypatch, config, math.inf, 11)]
    sizes = [[len(b) for b in batches] for _, batches in runs]
    assert sizes[0] == [1] * len(sizes[0]) and len(sizes[1]) == 1 and max(sizes[2]) == 3 and max(sizes[3]) == 11
    reference_trainer, reference = runs[0]
    ref = [s for b in reference for s in b]
    for trainer, batches in runs[1:]:
        snaps = [s for b in batches for s in b]
        assert len(snaps) == len(ref) == config.train.steps + 1
        for a, b in zip(ref, snaps):
            assert a.step == b.step
            assert a.loss == b.loss and a.test_loss == b.test_loss and a.accuracy == b.accuracy
            assert a.max_drift == b.max_drift and a.signs == b.signs
            np.testing.assert_array_equal(a.c, b.c)
            np.testing.assert_array_equal(a.w_norm, b.w_norm)
            np.testing.assert_array_equal(a.v, b.v)
        np.testing.assert_array_equal(trainer.final.c, reference_trainer.final.c)
