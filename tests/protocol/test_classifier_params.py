"""A protocol's per-classifier parameters reach every fit of the sweep, and bad ones fail first."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import ConfigError
from alnm_ray.model import run_cv
from alnm_ray.tune.config import TuneRunConfig
from alnm_ray.tune.inputs import cv_patients, load_inputs
from alnm_ray.tune.payload import build_payload
from alnm_ray.tune.trial import execute_unit
from alnm_ray.tune.units import KIND_CV, KIND_HOLDOUT, plan_units


def _make_store():
    spec = importlib.util.spec_from_file_location(
        "_tune_store_factory_params", Path(__file__).resolve().parents[1] / "tune" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_store


make_store = _make_store()
FAST = {"preset": "guo2024", "lasso_repeats": 2, "lasso_folds": 3}


def test_empty_parameters_keep_the_run_id_and_given_ones_change_it() -> None:
    base = TuneRunConfig(store="s", classifiers=("lr", "knn"), repeats=2, folds=3)
    same = base.replace(classifier_params={"knn": {}}, fusion_meta_params={}, protocol={})
    other = base.replace(classifier_params={"knn": {"n_neighbors": 1}})
    assert base.content() == same.content() and "classifier_params" not in base.content()
    assert other.run_hash({}) != base.run_hash({})
    assert other.classifier_map() == {"lr": {}, "knn": {"n_neighbors": 1}}
    assert base.replace(protocol={"name": "x", "hash": "h"}).run_hash({}) != base.run_hash({})


def test_bad_parameters_are_refused_before_any_work() -> None:
    with pytest.raises(ConfigError, match=r"classifier 'knn': invalid parameter\(s\) \['n_neighbours'\]"):
        TuneRunConfig(store="s", classifiers=("knn",), classifier_params={"knn": {"n_neighbours": 3}})
    with pytest.raises(ConfigError, match=r"parameters for \['svm'\]; expected parameters only for the "
                                          r"sweep's classifiers \(lr\)"):
        TuneRunConfig(store="s", classifiers=("lr",), classifier_params={"svm": {"C": 1}})
    with pytest.raises(ConfigError, match="search='random'; expected one of the two"):
        TuneRunConfig(store="s", classifiers=("knn",), classifier_params={"knn": {"n_neighbors": 3}},
                      search="random")
    with pytest.raises(ConfigError, match="classifier 'svm': invalid parameter"):
        TuneRunConfig(store="s", classifiers=("lr",), fusion_meta_params={"kernal": "linear"})


def _payload(tmp_path, store, **kw):
    cfg = TuneRunConfig(store=store.uri, repeats=2, folds=3, classifiers=("knn",), feature_sets=("radiomics",),
                        selection=FAST, **kw)
    inputs = load_inputs(store, cfg)
    units = plan_units(inputs.plain, inputs.fusion, repeats=2, folds=3, widths={}, cpus=1, chunk=2, holdout=True)
    name = "p" if kw else "d"
    return cfg, inputs, units, build_payload(inputs, cfg, units, f"run-{name}", tmp_path / f"trials-{name}", None)


def test_cv_and_holdout_units_fit_with_the_given_parameters(tmp_path) -> None:
    store = make_store(tmp_path / "s", n=40, signal=1.0)["store"]
    params = {"knn": {"n_neighbors": 1}}
    cfg, inputs, units, payload = _payload(tmp_path, store, classifier_params=params)
    _, _, d_units, d_payload = _payload(tmp_path, store)
    unit = next(u for u in units if u.kind == KIND_CV)
    execute_unit(unit, payload)
    got = pd.read_parquet(tmp_path / "trials-p" / f"{unit.uid}.results.parquet")
    ids = cv_patients(inputs, cfg)
    ref = run_cv({"radiomics": inputs.sets["radiomics"].loc[ids]}, inputs.y.loc[ids], params,
                 cfg.selection_config(), repeats=2, folds=3, seed=0, repeat_indices=list(unit.repeats),
                 reader_table=inputs.reader_ratings).results
    np.testing.assert_allclose(got["auc"].to_numpy(), ref["auc"].to_numpy())
    d_unit = next(u for u in d_units if u.uid == unit.uid)
    execute_unit(d_unit, d_payload)
    default = pd.read_parquet(tmp_path / "trials-d" / f"{unit.uid}.results.parquet")
    # 1-NN probabilities are 0/1, the default 5-NN's are not: the parameter was used.
    assert not np.allclose(got["auc"].to_numpy(), default["auc"].to_numpy())
    hold = next(u for u in units if u.kind == KIND_HOLDOUT)
    execute_unit(hold, payload)
    preds = pd.read_parquet(tmp_path / "trials-p" / f"{hold.uid}.predictions.parquet")
    assert set(np.round(preds.loc[preds.split == "test", "prob"], 6)) <= {0.0, 1.0}
