"""ComBat inside the real engines: centres travel as metadata through run_cv, run_holdout and
leave-one-centre-out; a label-free multicentre cohort stays at chance; a centre shift is removed
in the held-out rows; unseen centres follow the configured policy and are recorded."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import ConfigError, FallbackWarning, SchemaMismatchError
from alnm_ray.model import fit_selection, run_cv
from alnm_ray.model.holdout import run_holdout, run_leave_one_center_out
from alnm_ray.model.inputs import prepare_metadata
from alnm_ray.select import SelectionConfig
from alnm_ray.select.combat import UnseenBatchError

#: A light in-fold pipeline (no ICC: the synthetic cohort has one reader) with ComBat on.
COMBAT = SelectionConfig(name="combat-test", icc_threshold=None, smote=True, zscore=True,
                         steps=("univariate",), harmonize="combat")
NO_COMBAT = COMBAT.replace(harmonize=None)
#: |mean CV AUC - 0.5| allowed on label-free data, averaged over COHORT_SEEDS cohorts: one
#: cohort's mean AUC spreads with SD ~0.045 (chance correlations CV legitimately finds), so
#: the mean of 8 has SD ~0.016 (measured: 0.511 with ComBat, 0.478 without, over 12 cohorts).
TOLERANCE = 0.05
COHORT_SEEDS = range(8)


def multicentre(seed: int, n_per: tuple[int, ...] = (60, 60, 60), p: int = 40,
                shift: float = 3.0, y: np.ndarray | None = None
                ) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Radiomics-like noise with a strong additive and scale effect per centre.

    Returns ``(X, y, centres)``; ``y`` is label-free (a permutation, independent
    of the centres) unless given.
    """
    rng = np.random.default_rng(seed)
    centres = np.repeat([f"C{c}" for c in range(len(n_per))], n_per)
    X = rng.normal(size=(centres.size, p))
    for c in range(len(n_per)):
        rows = centres == f"C{c}"
        X[rows] = X[rows] * (1.0 + 0.5 * c) + shift * c * rng.uniform(0.5, 1.5, size=p)
    ids = pd.Index([f"P{i:03d}" for i in range(centres.size)], name="patient_id")
    cols = [f"T2WI__original_firstorder_F{j:02d}" for j in range(p)]
    if y is None:
        y = rng.permutation(np.arange(centres.size) % 2)
    return (pd.DataFrame(X, index=ids, columns=cols), pd.Series(y, index=ids, name="label"),
            pd.Series(centres, index=ids))


def _mean_auc(results: pd.DataFrame) -> float:
    return float(results["auc"].mean())


def test_label_free_multicentre_cohort_stays_at_chance_with_combat_in_the_folds():
    aucs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        for s in COHORT_SEEDS:
            X, y, centres = multicentre(100 + s)
            out = run_cv({"radiomics": X}, y, ["lr"], COMBAT, repeats=2, folds=5, seed=s,
                         centers=centres)
            # every training fold saw all three centres: nothing unseen, no combat fallback
            assert not any("combat" in t for f in out.results["fallback"] for t in json.loads(f))
            assert json.loads(out.results["selection_config"].iloc[0])["harmonize"] == "combat"
            aucs.append(_mean_auc(out.results))
    assert abs(np.mean(aucs) - 0.5) < TOLERANCE, aucs


def test_centre_shift_is_removed_in_the_held_out_rows_of_every_fold():
    # The label IS the centre and the features carry only the centre effect: without
    # harmonisation every classifier finds the centre (AUC ~1); with ComBat learned on each
    # training fold and applied to its test rows with their own centres, nothing is left.
    X, y, centres = multicentre(7, n_per=(90, 90), y=np.repeat([0, 1], 90))
    raw = run_cv({"radiomics": X}, y, ["lr"], NO_COMBAT, repeats=1, folds=5, seed=0)
    assert _mean_auc(raw.results) > 0.95
    harmonised = run_cv({"radiomics": X}, y, ["lr"], COMBAT, repeats=2, folds=5, seed=0,
                        centers=centres)
    assert abs(_mean_auc(harmonised.results) - 0.5) < 0.15, harmonised.results["auc"].tolist()


def test_fold_selection_applies_training_parameters_to_test_rows_by_patient_id():
    X, y, centres = multicentre(3, n_per=(100, 100, 100))
    train = np.arange(len(X)) % 3 != 0
    meta = prepare_metadata(COMBAT, X.index, centres)
    sel = fit_selection(X[train], y[train].to_numpy(), COMBAT, seed=0, metadata=meta)
    assert [n for n, _ in sel.pipeline.steps][:3] == ["combat", "smote", "zscore"]
    combat = sel.pipeline.named_steps["combat"]
    test = X[~train]
    harmonised = combat.transform(test, batch=meta["batch"])
    by_centre = harmonised.groupby(centres[~train].to_numpy()).mean()
    raw_gap = test.groupby(centres[~train].to_numpy()).mean().agg(np.ptp).mean()
    # what is left is sampling noise of ~33 test rows per centre (SD up to 2): ~0.5 vs ~6 raw
    assert raw_gap > 3.0 and by_centre.agg(np.ptp).mean() < 0.15 * raw_gap
    gamma = combat.gamma_star_.copy()
    out = sel.transform(test)  # the metadata travels with the fitted selection
    assert list(out.index) == list(test.index)
    np.testing.assert_array_equal(gamma, combat.gamma_star_)  # test rows never refit it


def test_unseen_centre_refused_or_recorded_in_leave_one_centre_out():
    X, y, centres = multicentre(5, n_per=(50, 50, 50))
    with pytest.raises(UnseenBatchError, match=r"centre\(s\) 'C\d' were not in the training rows"):
        run_leave_one_center_out({"radiomics": X}, y, centres, ["lr"], COMBAT, seed=0)
    none = COMBAT.replace(combat_unseen="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        out = run_leave_one_center_out({"radiomics": X}, y, centres, ["lr"], none, seed=0)
    for _, row in out.results.iterrows():
        assert (f"combat: centre '{row['center']}' unseen in training: left unharmonised"
                in json.loads(row["fallback"]))
    ref = COMBAT.replace(combat_unseen="reference", combat_reference="C0")
    train, test = X.index[centres != "C2"], X.index[centres == "C2"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        held = run_holdout({"radiomics": X}, y, ["lr"], ref, seed=0, train_ids=train,
                           test_ids=test, centers=centres)
    assert json.loads(held.results["fallback"].iloc[0]) == [
        "combat: centre 'C2' unseen in training: adjusted as reference centre 'C0'"]


def test_holdout_models_score_new_rows_with_their_centres():
    X, y, centres = multicentre(9, n_per=(60, 60))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        out = run_holdout({"radiomics": X}, y, ["lr"], COMBAT, seed=0, centers=centres)
    model = out.models[("radiomics", "lr")]
    p = model.predict_sets({"radiomics": X})
    assert p.shape == (len(X),) and np.isfinite(p).all()


def test_engines_refuse_harmonisation_without_centres_before_any_fit():
    X, y, centres = multicentre(1)
    with pytest.raises(ConfigError, match=r"centers: harmonize='combat' needs each patient's "
                                          r"centre; got None\. Pass centers="):
        run_cv({"radiomics": X}, y, ["lr"], COMBAT, repeats=1, folds=3)
    with pytest.raises(SchemaMismatchError, match=r"centers: 1 patient\(s\) have no centre "
                                                  r"\('P000'\)"):
        run_cv({"radiomics": X}, y, ["lr"], COMBAT, repeats=1, folds=3,
               centers=centres.drop("P000"))
    with pytest.raises(ConfigError, match="fit_selection: harmonize='combat' needs"):
        fit_selection(X, y.to_numpy(), COMBAT)
    with pytest.raises(ConfigError, match=r"covariates: combat_covariates=\['age'\] needs"):
        run_cv({"radiomics": X}, y, ["lr"], COMBAT.replace(combat_covariates=("age",)),
               repeats=1, folds=3, centers=centres)
    # without harmonisation, centres are not needed and nothing changes
    assert prepare_metadata(NO_COMBAT, X.index, None) == {}


def test_covariates_reach_the_step_through_the_engine():
    X, y, centres = multicentre(2, n_per=(60, 60))
    age = pd.DataFrame({"age": np.random.default_rng(0).normal(55, 10, len(X))}, index=X.index)
    cfg = COMBAT.replace(combat_covariates=("age",))
    meta = prepare_metadata(cfg, X.index, centres, age)
    sel = fit_selection(X, y.to_numpy(), cfg, seed=0, metadata=meta)
    assert sel.pipeline.named_steps["combat"].beta_.shape == (1, X.shape[1])
