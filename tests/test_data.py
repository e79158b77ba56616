import json

import numpy as np
import pytest

from core.config import ConfigError, config_from_dict
from core.data import dataset_inputs, load_dataset


def cfg(**sections):
    return config_from_dict(sections)


def test_abs_is_absolute_value_on_minus_one_one():
    ds = load_dataset(cfg(data={"name": "abs", "samples": 11}))
    assert ds.x_train.shape == (11, 1) and ds.x_test is None
    assert np.allclose(ds.y_train[:, 0], np.abs(ds.x_train[:, 0]))
    assert ds.x_train.min() == -1 and ds.x_train.max() == 1


def test_breast_cancer_is_standardised_on_a_stratified_split():
    ds = load_dataset(cfg(data={"name": "breast_cancer"}, train={"loss": "bce"}))
    assert ds.inputs == 30 == dataset_inputs(cfg(data={"name": "breast_cancer"}))
    assert len(ds.x_train) + len(ds.x_test) == 569
    assert len(ds.x_test) == pytest.approx(0.3 * 569, abs=1)
    assert np.allclose(ds.x_train.mean(0), 0, atol=1e-12) and np.allclose(ds.x_train.std(0), 1)
    assert set(np.unique(ds.y_train)) == {0.0, 1.0}
    # Stratified: the class balance of both parts matches the whole.
    assert abs(ds.y_train.mean() - ds.y_test.mean()) < 0.02


@pytest.mark.parametrize("name, loss, outputs", [("xor", "bce", 1), ("teacher", "mse", 1), ("teacher", "mse", 3),
                                                 ("gaussians", "bce", 1), ("gaussians", "cross_entropy", 4)])
def test_synthetic_sets_fit_their_losses(name, loss, outputs):
    ds = load_dataset(cfg(data={"name": name, "samples": 50}, model={"outputs": outputs}, train={"loss": loss}))
    assert len(ds.x_train) == 50
    if loss == "cross_entropy":
        assert ds.y_train.ndim == 1 and ds.y_train.max() < outputs
    else:
        assert ds.y_train.shape == (50, outputs)


def test_csv_with_header_and_named_target(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,label,b\n1,0,2\n3,1,4\n5,0,6\n")
    ds = load_dataset(cfg(data={"path": str(path), "target": "label"}, train={"loss": "bce"}))
    assert ds.x_train.tolist() == [[1, 2], [3, 4], [5, 6]] and ds.y_train[:, 0].tolist() == [0, 1, 0]


def test_csv_without_header_uses_last_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2,0.5\n3,4,1.5\n")
    ds = load_dataset(cfg(data={"path": str(path)}))
    assert ds.inputs == 2 and ds.y_train[:, 0].tolist() == [0.5, 1.5]


def test_npz_with_x_and_y(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((4, 3)), y=np.arange(4.0))
    assert load_dataset(cfg(data={"path": str(path)})).inputs == 3


def test_npz_holding_a_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(ConfigError, match="cannot read it as NPZ"):
        load_dataset(cfg(data={"path": str(path)}))


@pytest.mark.parametrize("content, message", [
    ("", "the file is empty"),
    ("a,b\n1,x\n", "cannot read it as CSV"),
    ("1,2\n3,nan\n", "NaN or infinite"),
])
def test_bad_files_give_one_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_dataset(cfg(data={"path": str(path)}))


def test_missing_file_and_wrong_inputs_and_bad_targets(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_dataset(cfg(data={"path": str(tmp_path / "nope.csv")}))
    with pytest.raises(ConfigError, match=r"\[model\] inputs = 3: the abs dataset has 1 input"):
        load_dataset(cfg(model={"inputs": 3}))
    path = tmp_path / "d.csv"
    path.write_text("1,2\n3,0.5\n")
    with pytest.raises(ConfigError, match="needs targets 0 or 1"):
        load_dataset(cfg(data={"path": str(path)}, train={"loss": "bce"}))
