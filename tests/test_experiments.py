"""The built-in experiments at tiny sizes: the paper's claims checked numerically, the mitigation's
premise (rebalancing keeps the function and makes every c_k >= 0), the CLI and the TUI screen."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core import experiments as E
from core.config import Config, replace
from core.errors import UserError
from core.init import initial_params, rebalance
from core.invariants import conserved
from core.probability import closed_form, monte_carlo
from lab.cli.main import main
from lab.cli.experiment import parse_seeds, parse_widths


# -- toy ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def toy():
    return E.toy(steps=1500, lr=0.05, device="cpu")


def test_toy_obstructed_loss_stays_far_above_the_free_one(toy):
    obstructed, free, control, _ = toy.final_loss
    assert obstructed > 0.05  # stalls at a clearly positive loss
    assert free < 1e-6 and obstructed > 1e4 * free
    # The rebalanced control computes the same function at init yet is not obstructed.
    assert control < 1e-4


def test_toy_classifications_and_signs(toy):
    by_label = dict(zip(toy.labels, zip(toy.initial, toy.final)))
    init, end = by_label["obstructed (+,-)"]
    assert init["pathological"] == 2 and init["components"] == 4 and init["signs"] == "+-"
    assert end["signs"] == "+-" and end["v_sign"] == [1, -1]  # the frozen sign is still negative
    init, end = by_label["control: rebalanced (+,-)"]
    assert init["pathological"] == 0 and init["components"] == 1 and init["v_sign"] == [1, -1]
    assert end["v_sign"] == [1, 1]  # a free neuron crossed v = 0
    assert toy.c[0, 0] == pytest.approx([0.36 - 1.0] * 2) and toy.c[0, 2] == pytest.approx([1.0 - 0.36] * 2)
    # Plain GD: c_k moves only by O(eta^2) per step, never changes sign.
    assert np.all(np.sign(toy.c) == np.sign(toy.c[:1]))


def test_toy_stall_at_0172_is_a_local_minimum_inside_the_plus_minus_component(toy):
    """The (+,-) component contains the best constant fit (neuron 0: w = 0, v b = mean y; neuron 1
    silent), whose MSE is the variance of y; GD gets there from a constant start and stays in (+,-)."""
    from core.data import load_dataset

    y = load_dataset(toy.configs[0]).y_train[:, 0]
    assert toy.constant_fit == pytest.approx(np.mean((y - y.mean()) ** 2), rel=1e-12)
    assert toy.constant_fit == pytest.approx(1 / 12, rel=0.05)  # Var |x| for x uniform on [-1, 1]
    by_label = dict(zip(toy.labels, toy.final_loss))
    start, end = dict(zip(toy.labels, zip(toy.initial, toy.final)))["(+,-) from a constant"]
    assert start["signs"] == end["signs"] == "+-" and start["components"] == 4
    assert by_label["(+,-) from a constant"] == pytest.approx(toy.constant_fit, rel=1e-6)
    assert by_label["obstructed (+,-)"] > 1.9 * toy.constant_fit  # same component, twice the loss
    assert any("local minimum" in line for line in toy.findings())


def test_toy_control_is_the_same_function_at_init():
    configs = list(E.toy_configs().values())
    obstructed, control = initial_params(configs[0], 1), initial_params(configs[2], 1)
    x = np.linspace(-1, 1, 101)[:, None]
    assert np.max(np.abs(E.network_outputs([control], x) - E.network_outputs([obstructed], x))) < 1e-14
    assert np.all(conserved(control) > 0) and np.all(conserved(obstructed) < 0)


# -- probability --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def probability():
    return E.probability(max_inputs=8, max_hidden=8, samples=20_000, seed=1, device="cpu")


def test_probability_closed_form_within_4_standard_errors_of_monte_carlo(probability):
    for key in E.PROBABILITY_KEYS:
        z = probability.z(key)
        assert np.all(np.abs(z) <= 4), (key, np.unravel_index(np.argmax(np.abs(z)), z.shape), np.abs(z).max())


def test_probability_is_monotone_in_d_and_lower_for_kaiming(probability):
    p = probability.pathological
    assert np.all(np.diff(p, axis=1) <= 1e-12)  # non-increasing in d, both schemes, every l
    assert np.all(np.diff(probability.disconnected, axis=1) <= 1e-12)
    x, k = p[0], p[1]
    d, l = np.meshgrid(probability.inputs, probability.hidden, indexing="ij")
    assert np.all((k < x)[l * l > d]) and np.all((k >= x - 1e-12)[l * l <= d])  # Kaiming lower exactly where l^2 > d
    assert p[0, 0, 0] == pytest.approx(0.5)  # d = l = 1 Xavier: s_w = s_v, P(z_w^2 < z_v^2) = 1/2
    f = probability.findings()
    assert f["monotone_in_d"] == {"xavier_normal": True, "kaiming_normal": True}
    assert f["kaiming_lower_where_l2_gt_d"]


def test_probability_derived_figures(probability):
    p, l = probability.pathological, probability.hidden[None, None, :]
    assert probability.disconnected == pytest.approx(1 - (1 - p) ** l)
    assert probability.all_pathological == pytest.approx(p**l)
    assert probability.expected_effective == pytest.approx(1 + l * p)
    assert probability.pathological[1, 4, 2] == pytest.approx(closed_form("kaiming_normal", 5, 3))


def test_fast_monte_carlo_agrees_with_the_whole_network_sampler():
    """Same distribution as core.probability.monte_carlo (which draws whole networks via draw_batch)."""
    counts = E.obstruction_monte_carlo(["xavier_normal"], [3], [4], samples=40_000, seed=3)
    fast = counts["pathological"][0, 0, 0] / 40_000
    ref, ref_se, _, _ = monte_carlo("xavier_normal", 3, 4, bias=True, samples=10_000, seed=5)
    se = np.hypot(ref_se, np.sqrt(fast * (1 - fast) / 40_000))
    assert abs(fast - ref) < 4 * se


def test_probability_grid_with_gaps_uses_the_right_cells():
    r = E.probability(samples=5_000, seed=2, device="cpu", inputs=[2, 7], hidden=[1, 5])
    assert r.pathological.shape == (2, 2, 2)
    assert r.pathological[0, 1, 1] == pytest.approx(closed_form("xavier_normal", 7, 5))
    assert np.all(np.abs(r.z("pathological")) <= 4) and np.all(np.abs(r.z("disconnected")) <= 4)


# -- breast-cancer ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def grid():
    return E.breast_cancer(widths=(2, 4), seeds=range(4), steps=300, lr=0.1, device="cpu")


def test_breast_cancer_loss_decreases_with_l_plus_at_the_largest_width(grid):
    for key in ("train_loss", "test_loss"):
        f = E.grid_findings(grid, key)
        assert f["largest_width"] == 4
        assert f["drop"] > 0.2  # all pathological with v < 0 vs all free
        # Decreasing up to saturation: no rise beyond 2 s.e. or 5 % of the drop, a negative rank correlation.
        assert f["non_increasing_within_tolerance"], f["loss_by_l_plus"]
        assert f["largest_rise"] < 0.05 * f["drop"] and f["rank_correlation"] < -0.5
        assert f["loss_by_l_plus"][1] < f["loss_by_l_plus"][0] - 0.1
    assert not np.any(grid.diverged[np.isfinite(grid.diverged)])


def test_breast_cancer_l_plus_0_respects_the_f_le_0_bound(grid):
    """l_+ = 0: every v_k < 0 on a frozen sheet, so f <= 0 and softplus(f) - f >= log 2 on each
    positive label: the mean test BCE is at least (fraction of y = 1) log 2."""
    from core.data import load_dataset

    y = load_dataset(grid.config).y_test[:, 0]
    assert grid.l_plus_0_bound == pytest.approx(np.mean(y == 1) * np.log(2), rel=1e-12)
    assert 0.3 < grid.l_plus_0_bound < 0.6  # about 63 % of the breast-cancer labels are 1
    at_zero = grid.test_loss[:, 0].ravel()
    assert np.all(at_zero >= grid.l_plus_0_bound - 1e-6)
    assert E.grid_findings(grid)["bound_at_l_plus_0"] == grid.l_plus_0_bound
    # ...and never predicts a positive: the test accuracy is the fraction of y = 0 exactly
    assert np.allclose(grid.test_accuracy[:, 0], np.mean(y == 0))


def test_breast_cancer_grid_layout(grid):
    assert grid.test_loss.shape == (2, 5, 4)
    assert np.all(np.isnan(grid.test_loss[0, 3:]))  # l = 2 has no l_+ = 3, 4
    # The engine saw exactly l_- = l - l_+ pathological neurons at init.
    for i, l in enumerate(grid.widths):
        for lp in range(l + 1):
            assert np.all(grid.pathological[i, lp] == l - lp)
            assert np.all(grid.positive[i, lp] <= lp)  # pathological neurons start negative
    cells = grid.cells()
    assert len(cells) == 3 + 5 and cells[-1]["l"] == 4 and cells[-1]["fraction"] == 1.0
    assert {"test_loss", "test_loss_se", "train_loss", "test_accuracy", "networks"} <= set(cells[0])
    assert len(grid.runs()) == (3 + 5) * 4


def test_grid_findings_number_versus_fraction():
    """A synthetic grid where the loss depends on l_+ only: the number spread is zero."""
    widths = np.array([2, 4])
    loss = np.full((2, 5, 3), np.nan)
    for i, l in enumerate(widths):
        for lp in range(l + 1):
            loss[i, lp] = 1.0 / (1 + lp)
    g = E.GridResult(widths=widths, seeds=np.arange(3), rebalanced=False, test_loss=loss, train_loss=loss,
                     test_accuracy=loss, sign_flips=loss * 0, pathological=loss * 0, positive=loss * 0,
                     diverged=loss * 0,
                     min_initial_c=loss, curve_steps=np.arange(2), test_curve=np.zeros((2, 5, 2)), config=Config(),
                     device="cpu", seconds=0.0)
    f = E.grid_findings(g)
    assert f["spread_at_equal_number"] == 0.0 and f["spread_at_equal_fraction"] > 0.05
    assert f["rank_correlation"] == pytest.approx(-1.0) and f["non_increasing_within_tolerance"]


# -- mitigation ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mitigation():
    return E.mitigation(widths=(3,), seeds=range(3), steps=40, lr=0.1, device="cpu")


def test_mitigation_prescribed_grid_is_the_breast_cancer_grid_bit_for_bit(mitigation):
    # The same member configs through the same runner: the prescribed half of mitigation is the
    # breast-cancer experiment on that grid, whatever else trains beside it in a chunk.
    alone = E.breast_cancer(widths=(3,), seeds=range(3), steps=40, lr=0.1, device="cpu")
    for key in ("test_loss", "train_loss", "sign_flips", "pathological"):
        assert np.array_equal(getattr(alone, key), getattr(mitigation.prescribed, key), equal_nan=True), key
    assert np.array_equal(alone.test_curve, mitigation.prescribed.test_curve, equal_nan=True)


def test_mitigation_every_neuron_starts_with_nonnegative_c(mitigation):
    check = mitigation.check
    assert check.min_c_before < 0  # the prescribed grid has pathological neurons...
    assert check.min_c_after >= 0  # ...rebalancing leaves none, in float64...
    assert np.nanmin(mitigation.rebalanced.min_initial_c) >= 0  # ...and as the (float32) engine measured it
    assert np.all(mitigation.rebalanced.pathological[np.isfinite(mitigation.rebalanced.pathological)] == 0)
    assert check.networks == (1 + len(mitigation.by_ratio)) * 4 * 3  # the swap and each ratio


def test_mitigation_keeps_the_function_at_init_to_rounding_error(mitigation):
    check = mitigation.check
    assert check.max_output > 0.1
    assert check.max_output_change <= 1e-13 * check.max_output


def test_mitigation_reports_both_grids(mitigation):
    f = mitigation.findings()
    assert f["widths"] == [3] and len(f["prescribed_range_over_l_plus"]) == 1
    s = E.summary(mitigation)
    assert set(s) == {"prescribed", "rebalanced", "by_ratio", "comparison", "check"}
    arrays = E.arrays(mitigation)
    assert arrays["prescribed_test_loss"].shape == arrays["rebalanced_test_loss"].shape == (1, 4, 3)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), hidden=st.integers(1, 12), inputs=st.integers(1, 6),
       scheme=st.sampled_from(["xavier_normal", "kaiming_normal", "xavier_uniform", "torch_default"]),
       bias=st.sampled_from(["zeros", "scheme"]))
def test_init_rebalance_option_keeps_the_function_and_flips_only_negative_c(seed, hidden, inputs, scheme, bias):
    base = replace(replace(replace(Config(), "model", hidden=hidden, inputs=inputs), "data", name="teacher"),
                   "init", scheme=scheme, hidden_bias=bias, seed=seed)
    before = initial_params(base, inputs)
    after = initial_params(replace(base, "init", rebalance=True), inputs)
    c0, c1 = conserved(before), conserved(after)
    assert np.all(c1 >= 0)
    assert c1 == pytest.approx(np.abs(c0), rel=1e-9, abs=1e-12)  # c_k -> -c_k where it was negative
    x = np.random.default_rng(seed).standard_normal((64, inputs))
    f0, f1 = E.network_outputs([before], x), E.network_outputs([after], x)
    assert np.max(np.abs(f1 - f0)) <= 1e-12 * max(1.0, np.max(np.abs(f0)))
    assert np.array_equal(np.sign(after.output_weight), np.sign(before.output_weight))
    assert rebalance(after).output_weight == pytest.approx(after.output_weight)  # idempotent


# -- the command line ---------------------------------------------------------------------------------

def test_cli_toy_json_out_and_store(capsys, tmp_path):
    out = tmp_path / "out"
    assert main(["experiment", "toy", "--steps", "800", "--json", "--out", str(out), "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["experiment"] == "toy" and report["parameters"]["steps"] == 800 and report["device"] == "cpu"
    runs = report["runs"]
    assert runs[0]["final_loss"] > 0.05 and runs[1]["final_loss"] < 1e-3
    assert sorted(p.name for p in out.iterdir()) == ["toy.csv", "toy.json", "toy_curves.csv"]
    saved = json.loads((out / "toy.json").read_text())
    prov = saved["provenance"]
    assert prov["steps"] == 800 and prov["lr"] == 0.05 and prov["device"] == "cpu"
    assert {"python", "torch", "numpy", "scipy", "scikit-learn"} <= set(prov["software"])
    assert prov["configs"]["obstructed (+,-)"]["init"]["output_weight"] == [[1.0, -1.0]]
    assert prov["rerun"].startswith("relulab experiment toy --steps 800")
    assert len(saved["arrays"]["loss"]) == len(saved["arrays"]["steps"])
    # Recorded as a sweep session with its arrays and provenance.
    from sessions import open_store

    store = open_store(None)
    session = store.load(report["session"])
    assert session.kind == "sweep"
    assert session.array("loss").shape == (len(saved["arrays"]["steps"]), len(E.TOY_RUNS))
    assert session.json("provenance")["experiment"] == "toy"
    # Exportable: the file imports into another store with every result intact.
    other = open_store(tmp_path / "other")
    copy = other.load(other.import_(store.export(report["session"], tmp_path / "toy.relulab")))
    assert np.array_equal(copy.array("v"), session.array("v")) and copy.json("runs") == session.json("runs")


def test_cli_probability_csv(capsys, tmp_path):
    args = ["experiment", "probability", "--samples", "3000", "--max-inputs", "3", "--max-hidden", "4",
            "--seeds", "7", "--out", str(tmp_path), "--no-save", "--device", "cpu"]
    assert main(args) == 0
    text = " ".join(capsys.readouterr().out.split())  # the titles wrap at 80 columns
    assert "P(H(c) disconnected)" in text and "closed form vs Monte Carlo" in text
    rows = (tmp_path / "probability.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 3 * 4 and rows[0].startswith("scheme,d,l,pathological,pathological_mc")
    prov = json.loads((tmp_path / "probability.json").read_text())["provenance"]
    assert prov["seeds"] == list(range(7)) and prov["session"] is None


def test_cli_breast_cancer_tiny_prints_the_heatmap(capsys, tmp_path):
    args = ["experiment", "breast-cancer", "--widths", "2", "--seeds", "0-1", "--steps", "20", "--no-save",
            "--out", str(tmp_path), "--device", "cpu"]
    assert main(args) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "test loss" in text and "l\\l+" in text
    assert len((tmp_path / "breast_cancer_runs.csv").read_text().splitlines()) == 1 + 3 * 2


@pytest.mark.parametrize("args, message", [
    (["toy", "--widths", "2,4"], "--widths: not used by the toy experiment"),
    (["toy", "--ratios", "2,4"], "--ratios: not used by the toy experiment"),
    (["mitigation", "--ratios", "0.5,2"], "--ratios 0.5,2: must be a list of numbers between 1 and 1e6"),
    (["mitigation", "--ratios", "two"], "--ratios two: must be a list of numbers"),
    (["breast-cancer", "--seeds", "x"], "--seeds x: must be a count N"),
    (["breast-cancer", "--widths", "0,2"], "--widths 0,2: must be a list of integers"),
    (["probability", "--samples", "1"], "--samples 1: must be an integer >= 2"),
    (["toy", "--steps", "0"], "--steps 0: must be an integer >= 1"),
    (["toy", "--device", "tpu"], '--device: [train] device = "tpu"'),
])
def test_cli_bad_arguments_exit_2_with_one_line(args, message, capsys):
    assert main(["experiment", *args, "--no-save"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cli_cuda_without_cuda_exits_2_before_running():
    command = [sys.executable, "-m", "lab.cli", "experiment", "breast-cancer", "--device", "cuda", "--no-save"]
    r = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "CUDA is not available" in r.stderr and "Traceback" not in r.stderr


def test_parse_seeds_and_widths():
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("5,2,5") == [5, 2]
    assert parse_seeds("0,4-6") == [0, 4, 5, 6]
    assert parse_widths("8, 2,4,2") == [2, 4, 8]


# -- the TUI screen -----------------------------------------------------------------------------------

def test_screen_runs_an_experiment_in_a_worker_and_shows_it():
    from textual.app import App
    from textual.widgets import DataTable, Static

    from lab.screens.experiment_screen import ExperimentScreen

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(ExperimentScreen(device="cpu"))

    async def body():
        app = Host()
        async with app.run_test(size=(140, 45)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ExperimentScreen) and screen.selected == "toy" and screen.quick
            await pilot.press("r")
            deadline = time.monotonic() + 60
            while screen.result is None or screen.running:
                assert time.monotonic() < deadline, "the toy experiment did not finish"
                await pilot.pause(0.05)
            assert isinstance(screen.result, E.ToyResult)
            assert screen.query_one(DataTable).row_count == len(E.TOY_RUNS)
            assert "local minimum inside the component" in str(screen.query_one("#exp-summary", Static).render())
            assert "done in" in str(screen.query_one("#exp-status", Static).render())
            # Pick probability with the keyboard (down, down) and run it: its heatmap has one row per (scheme, d).
            screen.query_one("#exp-list").focus()
            await pilot.press("down", "down")
            assert screen.selected == "probability"
            await pilot.press("r")
            deadline = time.monotonic() + 60
            while not isinstance(screen.result, E.ProbabilityResult) or screen.running:
                assert time.monotonic() < deadline, "the probability experiment did not finish"
                await pilot.pause(0.05)
            assert screen.query_one(DataTable).row_count == 2 * 10

    asyncio.run(body())


def test_mitigation_runs_a_ratio_axis_each_keeping_the_function_and_landing_on_its_ratio():
    """Every r >= 1 is a rescaling (W_k, v_k) -> (a W_k, v_k / a): f unchanged, c_k = ||W_k|| ||v_k|| (r - 1/r)."""
    from core.experiments.grid import grid_config, prescribed_params
    from core.data import load_dataset
    from core.init import rebalance

    m = E.mitigation(widths=(2,), seeds=range(2), steps=5, lr=0.1, device="cpu", ratios=(3, 2, 1))
    assert sorted(m.by_ratio) == [1.0, 2.0, 3.0]
    assert [name for name, _ in m.variants()] == ["prescribed", "swap", "ratio 1", "ratio 2", "ratio 3"]
    assert m.check.networks == 4 * 3 * 2  # swap and three ratios, (l_+ = 0..2) x 2 seeds each
    assert m.check.min_c_after >= -1e-12  # ratio 1 lands on c_k = 0 up to rounding
    assert m.check.max_output_change <= 1e-13 * m.check.max_output
    # ratio 1 is balanced: the engine reads every formerly pathological neuron as balanced
    assert np.all(m.by_ratio[1.0].pathological[np.isfinite(m.by_ratio[1.0].pathological)] == 0)
    config = grid_config(5, 0.1, "cpu")
    raw = prescribed_params(config, load_dataset(config).inputs, 2, [0])[0]  # l_+ = 0: both pathological
    for r in (2.0, 3.0):
        q = rebalance(raw, r)
        assert np.allclose(np.linalg.norm(q.incoming, axis=1) / np.abs(q.output_weight[0]), r)
    f = m.findings()
    assert set(f["by_ratio"]) == {"1", "2", "3"} and f["verdict"]
    s = E.summary(m)
    assert set(s["by_ratio"]) == {"1", "2", "3"}
    assert E.arrays(m)["ratio2_test_loss"].shape == (1, 3, 2)
    with pytest.raises(UserError, match="--ratios"):
        E.mitigation(widths=(2,), seeds=range(1), steps=1, device="cpu", ratios=(0.5,))
