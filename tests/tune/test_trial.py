"""One unit run in-process: the same rows as the library, files and resume markers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from alnm_ray.model import run_cv
from alnm_ray.tune.config import TuneRunConfig
from alnm_ray.tune.inputs import cv_patients, load_inputs
from alnm_ray.tune.payload import build_payload
from alnm_ray.tune.trial import execute_unit, selection_record, unit_done
from alnm_ray.tune.units import KIND_CV, KIND_HOLDOUT, plan_units

FAST = {"preset": "guo2024", "lasso_repeats": 2, "lasso_folds": 3}


def setup(tmp_path, tiny_store, **kw):
    made = tiny_store(tmp_path / "s", n=40, signal=1.0)
    cfg = TuneRunConfig(store=made["store"].uri, repeats=3, folds=3, classifiers=("lr", "nb"),
                        feature_sets=("radiomics", "post:clinical+deep"), selection=FAST, **kw)
    inputs = load_inputs(made["store"], cfg)
    units = plan_units(inputs.plain, inputs.fusion, repeats=3, folds=3, widths={}, cpus=1, chunk=2,
                       holdout=True)
    payload = build_payload(inputs, cfg, units, "run-x", tmp_path / "trials", None)
    return cfg, inputs, units, payload


def test_cv_unit_reproduces_run_cv_rows_and_marks_completion(tmp_path, tiny_store) -> None:
    cfg, inputs, units, payload = setup(tmp_path, tiny_store)
    unit = next(u for u in units if u.kind == KIND_CV and u.plain == ("radiomics",) and u.repeats == (2,))
    assert not unit_done(tmp_path / "trials", unit.uid, "run-x")
    record = execute_unit(unit, payload)
    assert unit_done(tmp_path / "trials", unit.uid, "run-x")
    assert not unit_done(tmp_path / "trials", unit.uid, "another-run")
    got = pd.read_parquet(tmp_path / "trials" / f"{unit.uid}.results.parquet")
    ids = cv_patients(inputs, cfg)
    ref = run_cv({"radiomics": inputs.sets["radiomics"].loc[ids]}, inputs.y.loc[ids], ["lr", "nb"],
                 cfg.selection_config(), repeats=3, folds=3, seed=0, repeat_indices=[2],
                 reader_table=inputs.reader_ratings).results
    assert record["rows"] == len(got) == 2 * 3
    np.testing.assert_allclose(got["auc"].to_numpy(), ref["auc"].to_numpy())
    assert got["selected_features"].tolist() == ref["selected_features"].tolist()


def test_holdout_unit_writes_train_and_test_predictions_and_selection(tmp_path, tiny_store) -> None:
    cfg, inputs, units, payload = setup(tmp_path, tiny_store)
    unit = next(u for u in units if u.kind == KIND_HOLDOUT and u.plain == ("radiomics",))
    record = execute_unit(unit, payload)
    preds = pd.read_parquet(tmp_path / "trials" / f"{unit.uid}.predictions.parquet")
    assert set(preds["split"]) == {"train", "test"}
    assert set(preds.loc[preds.split == "test", "patient_id"]) == set(inputs.test_ids)
    assert set(preds.loc[preds.split == "train", "patient_id"]) == set(inputs.train_ids)
    steps = record["selection"]["radiomics"]["steps"]
    assert steps[0] == {"step": "input", "n": 12}
    assert [s["step"] for s in steps][1:] == ["icc", "smote", "zscore", "univariate", "spearman", "mrmr", "lasso"]
    lasso = record["selection"]["radiomics"]["lasso"]
    assert len(lasso["alphas"]) == len(lasso["mse_mean"]) == len(lasso["coef_path"][0])
    assert set(lasso["coefs"]) == set(lasso["features"]) and lasso["features"]
    assert json.loads((tmp_path / "trials" / f"{unit.uid}.json").read_text(encoding="utf-8"))["run_id"] == "run-x"
    fusion = next(u for u in units if u.kind == KIND_HOLDOUT and u.fusion)
    execute_unit(fusion, payload)
    res = pd.read_parquet(tmp_path / "trials" / f"{fusion.uid}.results.parquet")
    assert set(res["feature_set"]) == {"post:clinical+deep"}  # components are not reported


def test_selection_record_counts_columns_after_each_step(tiny_store, tmp_path) -> None:
    from alnm_ray.model import fit_selection
    from alnm_ray.select import SelectionConfig

    cfg, inputs, _, _ = setup(tmp_path, tiny_store)
    X = inputs.sets["clinical"]
    sel = fit_selection(X, inputs.y.to_numpy(), SelectionConfig(icc_threshold=None, steps=("univariate",)),
                        seed=0)
    rec = selection_record(sel.pipeline, X)
    assert rec["steps"][0] == {"step": "input", "n": 2}
    assert rec["steps"][1]["step"] == "encode" and rec["steps"][1]["n"] == 4  # age + grade one-hot
    assert rec["steps"][-1]["n"] == len(sel.selected) and rec["lasso"] is None
