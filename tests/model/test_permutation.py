"""Permutation importance on held-out rows: the informative feature loses AUC, noise does not."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from alnm_ray.exceptions import FallbackWarning
from alnm_ray.model import fit_selection, make_classifier
from alnm_ray.model.fitted import FittedModel
from alnm_ray.model.inputs import prepare_metadata
from alnm_ray.model.permutation import COLUMNS, permutation_auc_drop
from alnm_ray.select import SelectionConfig

CFG = SelectionConfig(name="perm", icc_threshold=None, smote=False, zscore=True, steps=())


def _model(cfg: SelectionConfig = CFG, metadata=None, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 160
    y = rng.permutation(np.arange(n) % 2)
    ids = pd.Index([f"P{i:03d}" for i in range(n)], name="patient_id")
    X = pd.DataFrame(rng.normal(size=(n, 4)), index=ids,
                     columns=[f"T2WI__original_firstorder_F{j}" for j in range(4)])
    X.iloc[:, 0] += 2.0 * y
    tr, te = np.arange(100), np.arange(100, n)
    meta = metadata(ids) if metadata else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        sel = fit_selection(X.iloc[tr], y[tr], cfg, seed=0, metadata=meta)
    clf = make_classifier("lr", seed=0).fit(sel.X_train.to_numpy(float), sel.y_train)
    model = FittedModel("radiomics", "lr", sel.pipeline, clf, 0.5, list(X.columns), sel.selected, sel.metadata)
    return model, X.iloc[te], y[te]


def test_the_informative_feature_loses_auc_and_noise_does_not() -> None:
    model, X_te, y_te = _model()
    table = permutation_auc_drop(model, X_te, y_te, seed=3)
    assert tuple(table.columns) == COLUMNS and len(table) == 4
    assert table["feature"].iloc[0] == "T2WI__original_firstorder_F0"
    assert table["auc_drop_mean"].iloc[0] > 0.2 and table["auc_drop_mean"].iloc[1:].abs().max() < 0.05
    # the same numbers as scikit-learn's permutation_importance of the classifier on the selection's output
    ref = permutation_importance(model.model, model.selection.transform(X_te).to_numpy(float), y_te,
                                 scoring="roc_auc", n_repeats=10, random_state=3)
    np.testing.assert_allclose(table.set_index("feature").loc[model.selected, "auc_drop_mean"],
                               ref.importances_mean)


def test_one_class_has_no_auc_to_lose() -> None:
    model, X_te, y_te = _model()
    assert permutation_auc_drop(model, X_te, np.zeros_like(y_te)) is None


def test_a_harmonised_model_transforms_the_rows_with_their_centres() -> None:
    cfg = CFG.replace(harmonize="combat")
    centres = lambda ids: prepare_metadata(cfg, ids, pd.Series(np.where(np.arange(len(ids)) % 2, "A", "B"),  # noqa: E731
                                                               index=ids))
    model, X_te, y_te = _model(cfg, centres)
    table = permutation_auc_drop(model, X_te, y_te)
    assert table["feature"].iloc[0] == "T2WI__original_firstorder_F0"
