"""Gu 2025's 1-D CNN features: shapes, the stated architecture, seeding, in-fold fitting, skops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from alnm_ray.exceptions import ConfigError, FallbackWarning, NotFittedError, SchemaMismatchError
from alnm_ray.select import SelectionConfig, build_selection_pipeline
from alnm_ray.select.cnn1d import CNN1DFeatures


def _table(rng, n=80, p=20, signal=0.0):
    y = np.r_[np.zeros(n // 2), np.ones(n - n // 2)].astype(int)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"DCE_P1__original_firstorder_F{j}" for j in range(p)],
                     index=[f"P{i:03d}" for i in range(n)])
    X.iloc[:, :3] += signal * y[:, None]
    return X, y


def test_output_is_the_64_penultimate_activations_with_names_and_index(rng):
    X, y = _table(rng)
    f = CNN1DFeatures(seed=0).fit(X.iloc[:60], y[:60])
    out = f.transform(X.iloc[60:])
    assert out.shape == (20, 64)
    assert list(out.columns) == [f"cnn_{i:02d}" for i in range(64)]
    assert out.columns[-1] == "cnn_63" and list(out.index) == list(X.index[60:])
    assert (out.to_numpy() >= 0).all()  # ReLU
    assert f.get_feature_names_out().tolist() == list(out.columns)
    assert isinstance(f.transform(X.to_numpy()[:5]), np.ndarray)


def test_the_stated_architecture_and_training(rng):
    X, y = _table(rng, p=20)
    f = CNN1DFeatures(seed=0).fit(X, y)
    shapes = {k: v.shape for k, v in f.weights_.items()}
    # Conv1D 64 filters, kernel 2 -> Flatten (64 x 19) -> Dense 64 -> Dense 1 (sigmoid in the loss)
    assert shapes == {"conv.weight": (64, 1, 2), "conv.bias": (64,), "dense.weight": (64, 64 * 19),
                      "dense.bias": (64,), "out.weight": (1, 64), "out.bias": (1,)}
    assert all(isinstance(v, np.ndarray) for v in f.weights_.values())
    assert (f.epochs, f.batch_size, f.learning_rate) == (10, 32, 1e-3)
    assert len(f.loss_curve_) == 10
    np.testing.assert_allclose(f.mean_, X.mean().to_numpy())  # z-scored with training statistics


def test_same_seed_same_features_other_seed_other_features(rng):
    X, y = _table(rng)
    a = CNN1DFeatures(seed=1, epochs=3).fit(X, y).transform(X)
    b = CNN1DFeatures(seed=1, epochs=3).fit(X, y).transform(X)
    c = CNN1DFeatures(seed=2, epochs=3).fit(X, y).transform(X)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.to_numpy(), c.to_numpy())


def test_learns_the_labels_it_is_given(rng):
    X, y = _table(rng, n=120, signal=1.5)
    f = CNN1DFeatures(seed=0).fit(X, y)
    assert f.loss_curve_[-1] < f.loss_curve_[0]


def test_inside_cv_label_free_data_scores_at_chance(rng):
    """Fitted in each training fold, the label-trained features carry no signal for held-out rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import Pipeline

    X, y = _table(rng, n=120, p=30)
    y = rng.permutation(y)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    model = Pipeline([("cnn1d", CNN1DFeatures(seed=0)), ("lr", LogisticRegression(max_iter=1000))])
    in_fold = cross_val_score(model, X, y, cv=cv, scoring="roc_auc").mean()
    assert abs(in_fold - 0.5) < 0.12
    # Contrast: training the network on every row first leaks the labels into the CV estimate.
    leaked = CNN1DFeatures(seed=0, epochs=30).fit(X, y).transform(X)
    leaky = cross_val_score(LogisticRegression(max_iter=1000), leaked, y, cv=cv, scoring="roc_auc").mean()
    assert leaky > in_fold + 0.15


def test_round_trips_through_a_skops_bundle(rng):
    from alnm_ray.score.serialize import dump_model, load_model

    X, y = _table(rng)
    f = CNN1DFeatures(seed=0, epochs=2).fit(X, y)
    data, info = dump_model(f, probe=None)
    assert "alnm_ray.select.cnn1d.CNN1DFeatures" in info["trusted_types"]
    again = load_model(data, "skops")
    pd.testing.assert_frame_equal(again.transform(X), f.transform(X))
    assert not any(type(v).__module__.startswith("torch") for v in vars(again).values())


def test_constant_column_is_recorded_and_enters_as_zero(rng):
    X, y = _table(rng, p=6)
    X["DCE_P1__original_firstorder_F5"] = 3.0
    with pytest.warns(FallbackWarning, match="1 column.*constant"):
        f = CNN1DFeatures(seed=0, epochs=1).fit(X, y)
    assert f.constant_features_ == ["DCE_P1__original_firstorder_F5"]
    shifted = X.assign(DCE_P1__original_firstorder_F5=99.0)
    pd.testing.assert_frame_equal(f.transform(shifted), f.transform(X))


def test_errors_name_the_fix(rng):
    X, y = _table(rng, p=4)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        CNN1DFeatures().transform(X)
    with pytest.raises(SchemaMismatchError, match="expected at least kernel_size=2"):
        CNN1DFeatures().fit(X.iloc[:, :1], y)
    f = CNN1DFeatures(epochs=1).fit(X, y)
    with pytest.raises(SchemaMismatchError, match="lacks 1 column"):
        f.transform(X.drop(columns=X.columns[0]))
    with pytest.raises(ConfigError, match="cnn1d: epochs"):
        CNN1DFeatures(epochs=0).fit(X, y)
    clone(f)  # a proper scikit-learn estimator


def test_cnn1d_is_a_step_per_kind(rng):
    n = 80
    y = np.r_[np.zeros(40), np.ones(40)].astype(int)
    X = pd.DataFrame({f"DCE_P1__deep_{j:03d}": rng.normal(size=n) + (y if j < 2 else 0) for j in range(16)})
    X["DCE_P1__original_firstorder_Mean"] = rng.normal(size=n) + y
    cfg = SelectionConfig(icc_threshold=None, smote=False, steps=("univariate",), cnn1d_epochs=2,
                          kind_steps={"deep": ["cnn1d", "importance"]}, importance_k=5)
    pipe = build_selection_pipeline(cfg, kinds={"deep", "radiomics"}, seed=3)
    out = pipe.fit(X, y).transform(X)
    route = pipe.named_steps["router"].fitted_routes_["deep"]
    assert [n for n, _ in route.steps] == ["cnn1d", "importance"]
    assert (route.named_steps["cnn1d"].epochs, route.named_steps["cnn1d"].seed) == (2, 3)
    cnn = [c for c in out.columns if c.startswith("cnn_")]
    assert 1 <= len(cnn) <= 5 and not any("deep" in c for c in out.columns)
    with pytest.raises(ConfigError, match="'cnn1d' step runs for kinds \\['deep', 'radiomics'\\]"):
        build_selection_pipeline(cfg.replace(steps=("cnn1d",)), kinds={"deep", "radiomics"})
