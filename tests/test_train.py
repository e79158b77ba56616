"""The training engine against docs/science.md: conservation, projection, obstruction, faults."""

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from core.config import ConfigError, config_from_dict, load_config
from core.train import Sweep, Trainer, resolve_device, sweep

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def cfg(model=None, init=None, data=None, train=None):
    return config_from_dict({"model": model or {}, "init": init or {}, "data": data or {}, "train": train or {}})


def test_projected_gd_keeps_every_c_at_its_initial_value():
    config = cfg(model={"hidden": 6}, data={"name": "teacher", "samples": 64},
                 train={"optimizer": "projected_gd", "lr": 0.05, "steps": 3000, "dtype": "float64", "log_every": 100})
    trainer = Trainer(config)
    snaps = list(trainer.run())
    c0 = trainer.initial.c
    for s in snaps:
        assert np.allclose(s.c, c0, rtol=1e-10, atol=1e-12 * np.abs(c0).max())
    assert snaps[-1].loss < snaps[0].loss  # it does train
    assert trainer.status == "completed" and snaps[-1].step == 3000


def test_plain_gd_drift_matches_the_eta_squared_identity_step_by_step():
    config = cfg(model={"hidden": 4}, data={"name": "teacher", "samples": 40},
                 train={"lr": 0.2, "steps": 50, "dtype": "float64"})
    trainer = Trainer(config)
    s = trainer.sweep
    eta = config.train.lr
    for _ in range(50):
        before = s.w.conserved().clone()
        g = s.gradients()
        predicted = eta**2 * ((g.W**2).sum(-1) - (g.V**2).sum(1))
        s.step()
        change = s.w.conserved() - before
        assert torch.allclose(change, predicted, rtol=1e-8, atol=1e-15)
    assert float(s.w.conserved().sub(s.c0).abs().max()) > 0  # GD does drift


def test_weight_decay_shrinks_c_exponentially_and_keeps_its_sign():
    lam, lr, steps = 0.5, 1e-3, 2000
    config = cfg(model={"hidden": 3}, init={"signs": "+-"}, data={"name": "teacher", "samples": 30},
                 train={"lr": lr, "steps": steps, "weight_decay": lam, "dtype": "float64", "log_every": steps})
    trainer = Trainer(config)
    final = list(trainer.run())[-1]
    expected = trainer.initial.c * np.exp(-2 * lam * lr * steps)
    assert np.allclose(final.c, expected, rtol=2e-2)
    assert np.array_equal(np.sign(final.c), np.sign(trainer.initial.c))


@pytest.mark.parametrize("example, stalls", [("abs_obstructed.toml", True), ("abs_free.toml", False)])
def test_abs_example_stalls_from_plus_minus_and_fits_from_plus_plus(example, stalls):
    trainer = Trainer(load_config(EXAMPLES / example))
    last = list(trainer.run())[-1]
    for c in (trainer.initial, trainer.final):
        assert (c.pathological, c.components, c.effective_components) == (2, 4, 3)
    if stalls:
        assert last.loss > 0.05 and trainer.final.signs == "+-"
    else:
        assert last.loss < 1e-8 and trainer.final.signs == "++"


def test_prescribed_plus_minus_init_stalls_for_every_seed():
    config = cfg(init={"signs": "+-"}, train={"lr": 0.05, "steps": 3000, "log_every": 3000, "dtype": "float64"})
    result = sweep(config, seeds=list(range(8)))
    assert np.all(result.final_loss > 0.05)
    assert np.all(result.pathological == 2) and result.components == [4] * 8


@pytest.mark.parametrize("optimizer", ["gd", "sgd", "momentum", "adam", "projected_gd"])
def test_batched_and_single_runs_agree_on_the_same_seeds(optimizer):
    train = {"optimizer": optimizer, "lr": 0.05, "steps": 200, "dtype": "float64", "log_every": 50}
    if optimizer == "sgd":
        train["batch_size"] = 16
    config = cfg(model={"hidden": 5}, data={"name": "gaussians", "samples": 80}, train=dict(train, loss="bce"))
    seeds = [3, 11, 42]
    result = sweep(config, seeds=seeds)
    for i, seed in enumerate(seeds):
        single = config_from_dict({**_dict(config), "init": {**_dict(config)["init"], "seed": seed}})
        trainer = Trainer(single)
        last = list(trainer.run())[-1]
        assert last.loss == pytest.approx(result.final_loss[i], rel=1e-9)
        assert np.allclose(last.c, result.final_c[i], rtol=1e-9)


def _dict(config):
    from core.config import config_to_dict
    return config_to_dict(config)


def test_nan_run_ends_diverged_and_keeps_its_last_good_state():
    config = cfg(model={"hidden": 4}, data={"name": "teacher", "samples": 50},
                 train={"lr": 50.0, "steps": 2000, "log_every": 1})
    trainer = Trainer(config)
    snaps = list(trainer.run())
    assert trainer.status == "diverged"
    assert snaps and all(np.isfinite(s.loss) for s in snaps)
    assert snaps[-1].step < 2000
    assert np.all(np.isfinite(trainer.final_params.hidden_weight))
    assert np.allclose(trainer.final.c, snaps[-1].c)


def test_stop_request_ends_the_run_within_one_step():
    config = cfg(model={"hidden": 4}, train={"steps": 10**7, "log_every": 1})
    trainer = Trainer(config)
    seen = []
    for snap in trainer.run():
        seen.append(snap.step)
        if snap.step == 5:
            threading.Thread(target=trainer.stop).start()
            stopped_at = trainer.sweep.steps_done
            threading.Event().wait(0.05)
    assert trainer.status == "interrupted"
    # The thread's request lands while the loop runs; it finishes at most one step later.
    assert seen[-1] <= trainer.sweep.steps_done <= seen[-1] + 1
    assert seen[-1] < 10**6


def test_stop_from_another_thread_mid_run():
    config = cfg(model={"hidden": 4}, train={"steps": 10**8, "log_every": 1000})
    trainer = Trainer(config)
    timer = threading.Timer(0.3, trainer.stop)
    timer.start()
    snaps = list(trainer.run())
    assert trainer.status == "interrupted"
    assert snaps[-1].step == trainer.sweep.steps_done


def test_cuda_without_cuda_is_a_clear_error_and_auto_falls_back():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match=r'\[train\] device = "cuda": CUDA is not available'):
        resolve_device("cuda")
    with pytest.raises(ConfigError):
        Trainer(cfg(train={"device": "cuda:1"}))
    assert resolve_device("auto").type == "cpu"
    assert Trainer(cfg(train={"device": "auto"})).environment["device"] == "cpu"


def test_a_component_hop_is_reported(tmp_path):
    # One pathological neuron (c = 0.01 - 0.0121 < 0) pushed hard towards a target of -1:
    # a large discrete step carries v_k across zero, which gradient flow could never do.
    path = tmp_path / "neg.csv"
    xs = np.linspace(0.1, 1, 20)
    path.write_text("\n".join(f"{x},-1" for x in xs))
    config = cfg(model={"hidden": 1, "bias": False},
                 init={"hidden_weight": [[0.1]], "output_weight": [[0.11]]},
                 data={"path": str(path)}, train={"lr": 20.0, "steps": 3, "log_every": 1, "dtype": "float64"})
    trainer = Trainer(config)
    snaps = list(trainer.run())
    assert trainer.initial.pathological == 1
    assert trainer.hops, "expected a hop"
    hop = trainer.hops[0]
    assert hop.neuron == 0 and hop.c_before < 0 and hop.sign_before == 1 and hop.sign_after == -1
    assert any(s.hops for s in snaps)


def test_snapshots_carry_what_the_issue_lists():
    config = cfg(model={"hidden": 3}, data={"name": "breast_cancer"},
                 train={"loss": "bce", "steps": 40, "log_every": 10, "checkpoint_every": 20, "lr": 0.1})
    snaps = list(Trainer(config).run())
    assert [s.step for s in snaps] == [0, 10, 20, 30, 40]
    assert [s.params is not None for s in snaps] == [True, False, True, False, True]
    s = snaps[-1]
    assert s.test_loss is not None and 0 <= s.accuracy <= 1 and 0 <= s.test_accuracy <= 1
    assert s.c.shape == s.w_norm.shape == s.v.shape == s.v_sign.shape == (3,)
    assert np.allclose(s.c, s.w_norm**2 - s.v**2)
    assert s.max_drift >= 0 and s.elapsed >= 0


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_momentum_and_adam_break_the_conservation_law(optimizer):
    config = cfg(model={"hidden": 4}, data={"name": "teacher", "samples": 40},
                 train={"optimizer": optimizer, "lr": 0.05, "steps": 300, "dtype": "float64", "log_every": 300})
    trainer = Trainer(config)
    last = list(trainer.run())[-1]
    assert last.max_drift > 1e-3


def test_sweep_summaries():
    config = cfg(model={"hidden": 3}, train={"steps": 100, "log_every": 25})
    r = sweep(config, seeds=[0, 1, 2, 3])
    assert r.final_loss.shape == (4,) and r.loss_curve.shape == (5, 4)
    assert r.initial_c.shape == r.final_c.shape == (4, 3)
    assert list(r.curve_steps) == [0, 25, 50, 75, 100]
    assert r.device == "cpu" and not r.diverged.any()


def test_batches_hold_the_runs_snapshots_in_order():
    config = cfg(model={"hidden": 5}, data={"name": "teacher", "samples": 30},
                 train={"steps": 700, "log_every": 1, "checkpoint_every": 50, "dtype": "float64", "lr": 0.05})
    snaps = list(Trainer(config).run())
    batches = list(Trainer(config).batches())
    assert len(batches) >= 1 and sum(len(b) for b in batches) == len(snaps) == 701
    from_batches = [s for b in batches for s in b]
    for a, b in zip(snaps, from_batches):
        assert (a.step, a.loss, a.signs, a.max_drift) == (b.step, b.loss, b.signs, b.max_drift)
        np.testing.assert_array_equal(a.c, b.c)
        assert (a.params is None) == (b.params is None)
    assert [s.step for s in from_batches if s.params is not None] == list(range(0, 701, 50))
    # Each batch's columns are its snapshots' values.
    batch = batches[-1]
    np.testing.assert_array_equal(batch.c, np.array([s.c for s in batch]))
    np.testing.assert_array_equal(batch.step, [s.step for s in batch])


def test_a_big_network_is_evaluated_in_small_batches():
    from core.train import PENDING_BYTES

    config = cfg(model={"hidden": 1024}, data={"name": "breast_cancer"},
                 train={"steps": 20, "log_every": 1, "loss": "bce"})
    trainer = Trainer(config)
    batches = list(trainer.batches())
    assert sum(len(b) for b in batches) == 21
    # A snapshot's weight copy plus its evaluation: 1024 x 31 + 1024 + 1 values, and
    # (2 x 1024 + 1) activations for every one of the 569 samples, float32.
    per_snapshot = (1024 * 31 + 1024 + 1 + 569 * (2 * 1024 + 1)) * 4
    assert trainer._pending_limit() == PENDING_BYTES // per_snapshot < 20
    assert max(len(b) for b in batches) <= PENDING_BYTES // per_snapshot


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-10), ("float32", 1e-5)])
def test_projected_gd_keeps_c_for_neurons_of_any_size_dead_ones_included(dtype, rtol):
    """||W_k|| from 1 down to 0; neurons 1..5 are dead (w = 0, b <= 0: z <= 0 on every sample)."""
    from core.snapshot import Params

    w_norms = [1.0, 1e-1, 1e-3, 1e-5, 1e-8, 0.0]
    params = Params(
        hidden_weight=np.array([[0.7], [0.0], [0.0], [0.0], [0.0], [0.0]]),
        hidden_bias=np.array([0.3] + [-n for n in w_norms[1:]]),
        output_weight=np.array([[0.8, -0.8, 0.8, -0.8, 0.8, -0.8]]),
    )
    config = cfg(model={"hidden": 6}, data={"name": "abs", "samples": 32},
                 train={"optimizer": "projected_gd", "lr": 0.05, "steps": 200, "dtype": dtype, "log_every": 10})
    trainer = Trainer(config, params=params)
    c0 = trainer.sweep.c0[0].double().numpy()
    assert (c0 < 0).all()
    snaps = list(trainer.run())
    assert trainer.status == "completed"
    for s in snaps:
        assert np.all(np.abs(s.c - c0) <= rtol * np.abs(c0)), (s.step, s.c, c0)


def test_projected_gd_with_weight_decay_follows_the_decayed_quadric():
    """W_k, v_k <- (1 - lr lambda)(W_k, v_k) - lr grad: the decay scales c_k by (1 - lr lambda)^2 per step."""
    lam, lr, steps = 0.1, 0.01, 500
    train = {"lr": lr, "steps": steps, "weight_decay": lam, "dtype": "float64", "log_every": 50}
    config = cfg(model={"hidden": 2}, init={"signs": "+-"}, data={"name": "abs"}, train={**train, "optimizer": "projected_gd"})
    trainer = Trainer(config)
    c0 = trainer.sweep.c0[0].numpy()
    for s in trainer.run():
        law = c0 * (1 - lr * lam) ** (2 * s.step)
        assert np.allclose(s.c, law, rtol=1e-10, atol=0), (s.step, s.c, law)
    # Plain GD is the same law plus its O(lr^2) drift; the flow's e^{-2 lambda t} is close too.
    plain = list(Trainer(cfg(model={"hidden": 2}, init={"signs": "+-"}, data={"name": "abs"}, train=train)).run())[-1]
    assert np.allclose(plain.c, s.c, rtol=5e-2)
    assert np.allclose(s.c, c0 * np.exp(-2 * lam * lr * steps), rtol=1e-3)


def test_sweep_and_trainer_classify_a_nearly_balanced_neuron_alike():
    """|c_k| = 1e-9 of ||W_k||^2 + ||v_k||^2 is balanced for every caller (one tolerance)."""
    from core.snapshot import Params

    params = Params(hidden_weight=np.array([[0.6, 0.0], [1.0, 0.5]]), hidden_bias=np.array([0.8, 0.0]),
                    output_weight=np.array([[-np.sqrt(1.0 + 1e-9), 2.0]]))
    config = cfg(model={"hidden": 2}, data={"name": "teacher"},
                 train={"steps": 1, "dtype": "float64"})
    trainer = Trainer(config, params=params)
    result = sweep(config, params=[params], dataset=trainer.dataset)
    assert trainer.initial.status == ["balanced", "pathological"]
    assert (result.components[0], result.effective_components[0]) == (trainer.initial.components, trainer.initial.effective_components) == (2, 2)


def test_a_free_neuron_whose_w_changes_sign_with_d_eff_one_is_a_hop():
    """d_eff = 1: a free neuron's pieces are w > 0 and w < 0. One sample x = 1, y = 0, mse:
    dL/dw = 2 v (w x) ... = v, dL/dv = w, so lr 4 takes (w, v) = (1, 0.5) to (-1, -3.5)."""
    from core.data import Dataset
    from core.snapshot import Params

    data = Dataset("one", np.array([[1.0]]), np.array([[0.0]]), None, None)
    params = Params(hidden_weight=np.array([[1.0]]), hidden_bias=None, output_weight=np.array([[0.5]]))
    config = cfg(model={"hidden": 1, "bias": False}, data={"name": "teacher"},
                 train={"lr": 4.0, "steps": 1, "dtype": "float64", "log_every": 1})
    trainer = Trainer(config, dataset=data, params=params)
    assert trainer.initial.signs == "/+"
    snaps = list(trainer.run())
    assert [(h.step, h.neuron, h.sign_before, h.sign_after) for h in trainer.hops] == [(1, 0, 1, -1)]
    assert trainer.hops[0].c_before > 0
    result = sweep(config, params=[params], dataset=data, log_every=1)
    assert result.hops.tolist() == [1]
    assert snaps[0].signs == "/+"


@pytest.mark.parametrize("activation,loss", [("gelu", "bce"), ("tanh", "cross_entropy"), ("relu", "mse")])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_networks_loss_and_gradients_do_not_depend_on_the_other_networks_in_its_tensors(activation, loss, dtype):
    # 45 samples: no multiple of any vector width, so unpadded the last ones of a lone network would
    # take an elementwise kernel's scalar tail, and in a batch its vector body.
    from core.model import Weights, backward, forward, loss_and_grad, pad_columns

    rng = np.random.default_rng(3)
    N, l, d, e, n = 7, 5, 4, 3 if loss == "cross_entropy" else 1, 45
    x = pad_columns(torch.tensor(rng.standard_normal((d, n)), dtype=dtype))
    if loss == "cross_entropy":
        target = torch.nn.functional.one_hot(torch.as_tensor(rng.integers(0, e, n)), e).to(dtype).T
    else:
        target = torch.tensor(rng.random((e, n)) > 0.5, dtype=dtype)
    target = pad_columns(target.contiguous())
    w = Weights(torch.tensor(rng.standard_normal((N, l, d)), dtype=dtype),
                torch.tensor(rng.standard_normal((N, e, l)), dtype=dtype), torch.tensor(rng.standard_normal((N, e)), dtype=dtype))

    def loss_and_grads(w):
        fw = forward(w, x, activation)
        value, g = loss_and_grad(fw.out, target, loss, n=n)
        return value, backward(w, x, fw, g, activation)

    together, grads = loss_and_grads(w)
    for i in range(N):
        alone, alone_grads = loss_and_grads(Weights(w.W[i:i + 1].clone(), w.V[i:i + 1].clone(), w.o[i:i + 1].clone()))
        assert torch.equal(alone[0], together[i])
        for a, b in zip(alone_grads.tensors(), grads.tensors()):
            assert torch.equal(a[0], b[i])


def test_padding_the_samples_changes_no_value_but_the_rounding():
    # The padded columns are ignored: loss, gradients and accuracy equal the unpadded ones (float64).
    from core.model import Weights, accuracy, backward, forward, loss_and_grad, pad_columns

    rng = np.random.default_rng(4)
    x = torch.tensor(rng.standard_normal((3, 45)))
    y = torch.tensor(rng.random((1, 45)) > 0.5, dtype=torch.float64)
    w = Weights(torch.tensor(rng.standard_normal((2, 4, 3))), torch.tensor(rng.standard_normal((2, 1, 4))), None)
    results = []
    for xs, ys in ((x, y), (pad_columns(x), pad_columns(y))):
        fw = forward(w, xs, "relu")
        value, g = loss_and_grad(fw.out, ys, "bce", n=45)
        grads = backward(w, xs, fw, g, "relu")
        results.append((value, grads.W, grads.V, accuracy(fw.out, ys, "bce", n=45)))
    for a, b in zip(*results):
        assert torch.allclose(a, b, rtol=1e-13, atol=0)


@pytest.mark.parametrize("optimizer", ["gd", "sgd", "projected_gd"])
def test_max_drift_is_measured_from_the_law_c_follows_under_weight_decay(optimizer):
    # GD with decay lambda: c_k(t) = c_k(0) (1 - lr lambda)^(2t) up to the gradient's O(lr^2) per
    # step (docs/science.md). Drift is the distance from that law, not the decay itself.
    lr, decay, steps = 0.05, 0.1, 400
    config = config_from_dict({"model": {"hidden": 4}, "init": {"pathological": 2}, "data": {"name": "abs", "samples": 32},
                               "train": {"lr": lr, "weight_decay": decay, "steps": steps, "dtype": "float64",
                                         "optimizer": optimizer, "batch_size": 16 if optimizer == "sgd" else None}})
    trainer = Trainer(config)
    snaps = list(trainer.run())
    c0, c_end = snaps[0].c, snaps[-1].c
    law_end = c0 * (1 - lr * decay) ** (2 * steps)
    assert snaps[-1].max_drift >= np.abs(c_end - law_end).max() - 1e-15
    decay_alone = np.abs(c0 - law_end).max()  # what "drift from c_k(0)" would have reported
    assert snaps[-1].max_drift < 0.02 * decay_alone
    assert decay_alone > 0.3  # the decay itself is large here


def test_without_a_law_drift_is_measured_from_the_start():
    # Adam obeys no conservation law: its drift is |c_k(t) - c_k(0)|, weight decay or not.
    config = config_from_dict({"model": {"hidden": 4}, "data": {"name": "abs", "samples": 32},
                               "train": {"lr": 0.01, "weight_decay": 0.1, "steps": 200, "dtype": "float64",
                                         "optimizer": "adam"}})
    snaps = list(Trainer(config).run())
    worst = max(np.abs(s.c - snaps[0].c).max() for s in snaps)
    assert snaps[-1].max_drift == pytest.approx(worst, rel=1e-12)
