"""The random-search path honours ``harmonize: combat``: every selection it fits (outer CV folds,
hold-out and held-out centres) has the ComBat step, learned on that fold's training rows."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import FallbackWarning
from alnm_ray.model.inputs import prepare_metadata
from alnm_ray.select import SelectionConfig
from alnm_ray.tune.config import TuneRunConfig
from alnm_ray.tune.inputs import load_inputs
from alnm_ray.tune.payload import build_payload
from alnm_ray.tune.search import cv_candidate, sample_candidates, split_search
from alnm_ray.tune.trial import execute_unit
from alnm_ray.tune.units import KIND_CV, KIND_HOLDOUT, plan_units

COMBAT = SelectionConfig(name="combat-search", icc_threshold=None, smote=False, zscore=True,
                         steps=("univariate",), harmonize="combat")


def centre_only_cohort(n_per: int = 60, p: int = 12, seed: int = 0):
    """Label = centre; the features carry only an additive and scale centre effect."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n_per)
    X = rng.normal(size=(2 * n_per, p))
    X[y == 1] = X[y == 1] * 1.5 + 3.0
    ids = pd.Index([f"P{i:03d}" for i in range(2 * n_per)], name="patient_id")
    cols = [f"T2WI__original_firstorder_F{j:02d}" for j in range(p)]
    centres = pd.Series(np.where(y == 1, "B", "A"), index=ids)
    return {"radiomics": pd.DataFrame(X, index=ids, columns=cols)}, pd.Series(y, index=ids), centres


def test_cv_candidate_harmonises_inside_each_outer_training_fold() -> None:
    sets, y, centres = centre_only_cohort()
    params = {"lr": {"C": 1.0}}
    kw = dict(repeats=1, folds=5, seed=0, repeat_indices=[0], reader_table=None, inner_folds=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        raw, _ = cv_candidate(sets, y, ["radiomics"], 0, params, COMBAT.replace(harmonize=None), **kw)
        res, _ = cv_candidate(sets, y, ["radiomics"], 0, params, COMBAT,
                              metadata=prepare_metadata(COMBAT, y.index, centres), **kw)
    assert raw["auc"].mean() > 0.95  # the centre is all there is to find
    assert res["auc"].mean() < 0.75  # ComBat learned per training fold removes it from the test rows
    assert json.loads(res["selection_config"].iloc[0])["harmonize"] == "combat"


def test_split_search_fits_combat_on_the_training_rows_only() -> None:
    sets, y, centres = centre_only_cohort()
    rng = np.random.default_rng(1)
    order = rng.permutation(len(y))
    tr, te = np.sort(order[:80]), np.sort(order[80:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        _, _, models = split_search(sets, y.to_numpy(), tr, te, ["radiomics"], ["lr"],
                                    sample_candidates(["lr"], 2, seed=0), COMBAT, reader_table=None,
                                    seed=0, inner_folds=3, label={"split": "holdout"},
                                    metadata=prepare_metadata(COMBAT, y.index, centres))
    model = models[("radiomics", "lr")]
    combat = model.selection.named_steps["combat"]
    assert combat.n_per_batch_ == centres.iloc[tr].value_counts().sort_index().to_dict()
    assert model.metadata["batch"].index.equals(y.index.astype(str))  # test rows keep their own centres


def test_search_trials_pass_the_centres_to_cv_and_holdout_units(tmp_path, tiny_store) -> None:
    store = tiny_store(tmp_path / "s", n=48, n_centers=2)["store"]
    cfg = TuneRunConfig(store=store.uri, repeats=1, folds=3, classifiers=("lr",), feature_sets=("radiomics",),
                        selection=COMBAT.to_dict(), search="random", samples=2, inner_folds=3)
    inputs = load_inputs(store, cfg)
    units = plan_units(inputs.plain, inputs.fusion, repeats=1, folds=3, widths={}, cpus=1, chunk=1,
                       holdout=True, samples=2)
    payload = build_payload(inputs, cfg, units, "run-combat", tmp_path / "trials",
                            sample_candidates(["lr"], 2, seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        for kind in (KIND_CV, KIND_HOLDOUT):
            unit = next(u for u in units if u.kind == kind)
            record = execute_unit(unit, payload)
            assert record["rows"] > 0
            if kind == KIND_HOLDOUT:
                steps = [s["step"] for s in record["selection"]["radiomics"]["steps"]]
                assert steps[:3] == ["input", "combat", "zscore"]
                harm = record["selection"]["radiomics"]["harmonization"]  # for the report's section
                assert sorted(harm["patients"]) == sorted(inputs.train_ids)
                importance = pd.DataFrame(record["permutation_importance"])  # on the test rows
                assert set(importance["feature_set"]) == {"radiomics"} and importance["auc_drop_sd"].ge(0).all()
