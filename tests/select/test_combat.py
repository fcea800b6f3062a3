"""ComBat harmonisation: agreement with neuroCombat, centre shifts removed, unseen-centre
policies, and no leakage (a label-free cohort stays at chance with ComBat inside the folds)."""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
import pytest
from imblearn.pipeline import Pipeline
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from alnm_ray.exceptions import FallbackWarning, NotFittedError, SchemaMismatchError
from alnm_ray.select import ComBatHarmonizer, ZScoreScaler
from alnm_ray.select.combat import UnseenBatchError
from alnm_ray.select.routing import transform_with_metadata

neuroCombat = pytest.importorskip("neuroCombat").neuroCombat


def multicentre(rng, n_per=(40, 30, 50), p=25, shift=2.0, scale=(1.0, 2.0, 0.6)):
    """Rows from len(n_per) centres; centre c adds a per-feature shift and a scale factor."""
    centres = np.repeat([f"C{c}" for c in range(len(n_per))], n_per)
    age = rng.integers(35, 75, size=centres.size).astype(float)  # float32-exact (neuroCombat casts)
    base = rng.normal(size=(centres.size, p)) + 0.03 * age[:, None]
    X = base.copy()
    for c, (m, s) in enumerate(zip(n_per, scale)):
        rows = centres == f"C{c}"
        X[rows] = X[rows] * s + shift * c * rng.uniform(0.5, 1.5, size=p)
    ids = [f"P{i:03d}" for i in range(centres.size)]
    cols = [f"T2WI__original_firstorder_F{j}" for j in range(p)]
    return (pd.DataFrame(X, columns=cols, index=ids), pd.Series(centres, index=ids),
            pd.DataFrame({"age": age}, index=ids))


def reference(X, centres, *, covars=None, **kw):
    """neuroCombat's harmonised data, (rows x features)."""
    cov = pd.DataFrame({"batch": np.asarray(centres)})
    cont = None
    if covars is not None:
        cov["age"] = covars["age"].to_numpy()
        cont = ["age"]
    with contextlib.redirect_stdout(io.StringIO()):  # neuroCombat prints its progress
        out = neuroCombat(dat=X.to_numpy(dtype=float).T, covars=cov, batch_col="batch",
                          continuous_cols=cont, **kw)
    return out["data"].T


@pytest.mark.parametrize("kw", [{}, {"parametric": False}, {"mean_only": True},
                                {"mean_only": True, "parametric": False}, {"eb": False}],
                         ids=["parametric", "nonparametric", "mean_only", "mean_only-np", "no-eb"])
@pytest.mark.parametrize("with_age", [False, True], ids=["no-cov", "age"])
def test_training_data_matches_neurocombat(rng, kw, with_age):
    X, centres, covars = multicentre(rng)
    est = ComBatHarmonizer(covariates=("age",) if with_age else (), **kw)
    ours = est.fit_transform(X, batch=centres, covariates=covars if with_age else None)
    ref = reference(X, centres, covars=covars if with_age else None, **kw)
    np.testing.assert_allclose(ours.to_numpy(), ref, rtol=0, atol=1e-6)
    # transform of the training rows with the learned parameters gives the same values
    again = est.transform(X, batch=centres, covariates=covars if with_age else None)
    np.testing.assert_allclose(again.to_numpy(), ours.to_numpy(), rtol=0, atol=1e-12)


def test_centre_shift_is_removed_and_test_rows_use_training_parameters(rng):
    X, centres, _ = multicentre(rng, n_per=(200, 200, 200), shift=3.0)
    train = np.arange(len(X)) % 4 != 0
    est = ComBatHarmonizer().fit(X[train], batch=centres)  # Series looked up by patient id
    out = est.transform(X[~train], batch=centres)
    raw_gap = X[~train].groupby(centres[~train].to_numpy()).mean().agg(np.ptp).mean()
    new_gap = out.groupby(centres[~train].to_numpy()).mean().agg(np.ptp).mean()
    assert raw_gap > 3.0 and new_gap < 0.5
    sds = out.groupby(centres[~train].to_numpy()).std()
    assert (sds.max() / sds.min()).median() < 1.5  # scale effect removed too (raw: 2 / 0.6)
    # test rows never change the learned parameters
    before = est.gamma_star_.copy()
    est.transform(X, batch=centres)
    np.testing.assert_array_equal(before, est.gamma_star_)


def test_unseen_centre_policies(rng):
    X, centres, _ = multicentre(rng)
    train = centres != "C2"
    refuse = ComBatHarmonizer().fit(X[train], batch=centres[train])
    with pytest.raises(UnseenBatchError, match=r"centre\(s\) 'C2' were not in the training rows.*"
                                               r"unseen='reference'"):
        refuse.transform(X, batch=centres)
    ref = ComBatHarmonizer(unseen="reference", reference_batch="C0").fit(X[train],
                                                                        batch=centres[train])
    with pytest.warns(FallbackWarning, match="adjusted as reference centre 'C0'"):
        out = ref.transform(X, batch=centres)
    assert ref.unseen_ == {"C2": "adjusted as reference centre 'C0'"}  # recorded on the step
    as_c0 = ref.transform(X[~train], batch=pd.Series("C0", index=X.index[~train]))
    np.testing.assert_allclose(out[~train.to_numpy()], as_c0)
    none = ComBatHarmonizer(unseen="none").fit(X[train], batch=centres[train])
    with pytest.warns(FallbackWarning, match="left unharmonised"):
        out = none.transform(X, batch=centres)
    pd.testing.assert_frame_equal(out[~train.to_numpy()], X[~train])
    assert none.unseen_ == {"C2": "left unharmonised"}
    with pytest.raises(SchemaMismatchError, match="reference_batch: 'C9' is not a training"):
        ComBatHarmonizer(unseen="reference", reference_batch="C9").fit(X, batch=centres)


def test_single_centre_and_missing_labels_are_recorded_no_ops(rng):
    X, centres, _ = multicentre(rng)
    one = centres == "C0"
    with pytest.warns(FallbackWarning, match="1 centre"):
        est = ComBatHarmonizer().fit(X[one], batch=centres[one])
    pd.testing.assert_frame_equal(est.transform(X[one], batch=centres[one]), X[one])
    assert "no centre effect" in est.fallback_
    with pytest.warns(FallbackWarning, match="no batch labels"):
        ComBatHarmonizer().fit(X)
    with pytest.raises(SchemaMismatchError, match="expected the centre of each"):
        ComBatHarmonizer().fit(X, batch=centres).transform(X)
    with pytest.raises(NotFittedError, match="not fitted"):
        ComBatHarmonizer().transform(X, batch=centres)


def test_only_named_kinds_are_harmonised_and_constant_columns_kept(rng):
    X, centres, _ = multicentre(rng, p=6)
    X["age"] = np.where(centres == "C1", 60.0, 50.0)  # a clinical column differing by centre
    X["T2WI__original_shape_Const"] = 1.0
    est = ComBatHarmonizer(kinds=("radiomics",)).fit(X, batch=centres)
    out = est.transform(X, batch=centres)
    pd.testing.assert_series_equal(out["age"], X["age"])
    pd.testing.assert_series_equal(out["T2WI__original_shape_Const"],
                                   X["T2WI__original_shape_Const"])
    assert est.constant_features_ == ["T2WI__original_shape_Const"]
    assert "age" not in est.harmonized_features_ and len(est.harmonized_features_) == 6


def _null_cohort(rng, n=180, p=200):
    """No label signal at all; strong centre effects; centres unrelated to the label."""
    X, centres, _ = multicentre(rng, n_per=(60, 60, 60), p=p, shift=3.0)
    y = pd.Series(rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)]).astype(int),
                  index=X.index)
    return X, y, centres


def _cv_auc(X, y, centres, selection, seed):
    """Out-of-fold AUC: selection + logistic regression refitted in every training fold, the
    test fold transformed with the fitted parameters (its centres passed as metadata)."""
    aucs = []
    for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y):
        sel = clone(selection).fit(X.iloc[tr], y.iloc[tr], combat__batch=centres)
        clf = LogisticRegression(C=0.05, max_iter=2000).fit(
            sel.transform(X.iloc[tr]) if "combat" not in sel.named_steps
            else transform_with_metadata(sel, X.iloc[tr], batch=centres), y.iloc[tr])
        Xte = transform_with_metadata(sel, X.iloc[te], batch=centres)
        aucs.append(roc_auc_score(y.iloc[te], clf.predict_proba(Xte)[:, 1]))
    return float(np.mean(aucs))


def test_label_free_cohort_stays_at_chance_with_combat_in_the_folds(rng):
    X, y, centres = _null_cohort(rng)
    selection = Pipeline([("combat", ComBatHarmonizer()), ("zscore", ZScoreScaler())])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        aucs = [_cv_auc(X, y, centres, selection, seed) for seed in range(4)]
    assert abs(np.mean(aucs) - 0.5) < 0.06, aucs


def test_transform_with_metadata_runs_a_fitted_pipeline_without_global_routing(rng):
    X, centres, _ = multicentre(rng)
    pipe = Pipeline([("combat", ComBatHarmonizer()), ("zscore", ZScoreScaler())])
    pipe.fit(X.iloc[::2], None, combat__batch=centres)  # legacy step__param fit syntax
    out = transform_with_metadata(pipe, X.iloc[1::2], batch=centres)
    expected = pipe.named_steps["zscore"].transform(
        pipe.named_steps["combat"].transform(X.iloc[1::2], batch=centres))
    pd.testing.assert_frame_equal(out, expected)
