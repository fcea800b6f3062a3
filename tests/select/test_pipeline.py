"""build_selection_pipeline: step order per preset/kind, ICC requirement, per-kind routing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from alnm_ray.exceptions import ConfigError, SchemaMismatchError
from alnm_ray.model.fitting import fit_selection
from alnm_ray.select import SelectionConfig, build_selection_pipeline

from .conftest import long_reader_table


def _names(pipe):
    return [n for n, _ in pipe.steps]


def test_guo2024_order():
    pipe = build_selection_pipeline("guo2024", kinds={"radiomics", "deep"})
    assert _names(pipe) == ["icc", "smote", "zscore", "univariate", "spearman", "mrmr", "lasso"]
    assert pipe.named_steps["smote"].k_neighbors == 5
    assert pipe.named_steps["lasso"].n_repeats == 20
    # Deep-only sets skip the ICC filter; clinical tables get the encoder.
    assert _names(build_selection_pipeline("guo2024", kinds={"deep"}))[0] == "smote"
    assert _names(build_selection_pipeline("guo2024", kinds={"clinical"}, encode=True))[0] == "encode"
    assert _names(build_selection_pipeline("liu2025"))[-3:] == [
        "spearman", "pearson", "lasso"]


def test_icc_requires_reader_table(rng):
    X = pd.DataFrame({"T2WI__original_glcm_F0": rng.normal(size=10)}, index=[f"P{i}" for i in range(10)])
    y = np.r_[np.zeros(5), np.ones(5)].astype(int)
    with pytest.raises(ConfigError, match="needs the readers' rows; got reader_table=None"):
        fit_selection(X, y, "guo2024")
    with pytest.raises(SchemaMismatchError, match="as data of fit; got None"):
        build_selection_pipeline("guo2024", kinds={"radiomics"}).fit(X, y)
    no_icc = SelectionConfig.preset("guo2024").replace(icc_threshold=None)
    assert "icc" not in _names(build_selection_pipeline(no_icc, kinds={"radiomics"}))


def test_seed_reaches_stochastic_steps():
    pipe = build_selection_pipeline("guo2024", kinds={"deep"}, seed=42)
    assert pipe.named_steps["smote"].seed == 42
    assert pipe.named_steps["spearman"].seed == 42
    assert pipe.named_steps["lasso"].seed == 42
    clone(pipe)  # every step is a proper scikit-learn estimator


def test_end_to_end_fit_transform_and_as_model(rng):
    n, p = 120, 30
    ids = [f"P{i:03d}" for i in range(n)]
    y = np.r_[np.ones(50), np.zeros(70)].astype(int)
    base = {f"original_glcm_F{j}": rng.normal(size=n) + (0.8 * y if j < 3 else 0) for j in range(p)}
    table = long_reader_table(base, ids, {"B": {}, "A2": {}}, ids[:30], seed=0)
    X = pd.DataFrame({f"T2WI__{k}": v for k, v in base.items()}, index=ids)
    cfg = SelectionConfig.preset("guo2024").replace(lasso_repeats=2, lasso_folds=5)
    pipe = build_selection_pipeline(cfg, kinds={"radiomics"})
    train, test = X.iloc[:90], X.iloc[90:]
    Xt = pipe.fit(train, y[:90], icc__reader_table=table).transform(test)
    assert list(Xt.index) == ids[90:]
    assert 1 <= Xt.shape[1] <= 20
    assert set(Xt.columns) <= set(X.columns)
    assert {"T2WI__original_glcm_F0", "T2WI__original_glcm_F1"} & set(Xt.columns)
    from imblearn.pipeline import Pipeline

    model = Pipeline(build_selection_pipeline(cfg).steps
                     + [("clf", LogisticRegression())]).fit(train, y[:90], icc__reader_table=table)
    assert model.predict_proba(test).shape == (30, 2)  # SMOTE is not applied to test rows


def test_gu2025_routes_kinds(rng):
    n = 150
    y = np.r_[np.ones(60), np.zeros(90)].astype(int)
    X = pd.DataFrame({f"T2WI__deep_{j:03d}": rng.normal(size=n) for j in range(30)})
    for j in range(8):
        X[f"T2WI__original_firstorder_F{j}"] = rng.normal(size=n) + (y if j == 0 else 0)
    X["age"] = rng.normal(size=n) + 1.5 * y
    X["T2WI__deep_003"] += 1.5 * y
    cfg = SelectionConfig.preset("gu2025").replace(icc_threshold=None, importance_k=3)
    pipe = build_selection_pipeline(cfg, seed=0)
    assert _names(pipe) == ["zscore", "router"]
    pipe.fit(X, y)
    router = pipe.named_steps["router"]
    assert type(router.fitted_routes_["deep"].steps[-1][1]).__name__ == "ImportanceSelector"
    assert type(router.fitted_routes_["radiomics"].steps[-1][1]).__name__ == "LassoCVSelector"
    out = pipe.transform(X)
    deep = [c for c in out.columns if "deep" in c]
    assert len(deep) == 3 and "T2WI__deep_003" in deep
    assert "age" in out.columns and "T2WI__original_firstorder_F0" in out.columns
