"""Trial granularity and Ray start-up change the schedule, never the numbers."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from alnm_ray.constants import THREAD_ENV_VARS
from alnm_ray.model import run_cv
from alnm_ray.tune import TuneRunConfig, run_sweep
from alnm_ray.tune.sweep import trial_overhead

pytestmark = pytest.mark.ray

FAST = {"preset": "guo2024", "icc_threshold": None, "lasso_repeats": 2, "lasso_folds": 3}
DETERMINISTIC = ("lr", "nb", "knn", "svm")
KEY = ["feature_set", "classifier", "repeat", "fold"]


def test_one_trial_per_repeat_and_one_trial_in_all_give_the_rows_of_run_cv(ray_local, tmp_path,
                                                                           tiny_store) -> None:
    made = tiny_store(tmp_path / "s", n=45, signal=0.8, p_rad=12, p_deep=8)
    cfg = TuneRunConfig(store=made["store"].uri, repeats=3, folds=3, classifiers=DETERMINISTIC,
                        feature_sets=("radiomics", "deep"), selection=FAST, holdout=False,
                        external=False, quiet=True)
    fine = run_sweep(cfg.replace(chunk=1, max_concurrent=1), tmp_path / "fine")
    coarse = run_sweep(cfg.replace(chunk=3), tmp_path / "coarse")
    assert fine.run_id == coarse.run_id  # scheduling fields stay out of the run id
    assert len([u for u in fine.units if u.kind == "cv"]) == 2 * 3
    assert len([u for u in coarse.units if u.kind == "cv"]) == 2
    a = pd.read_parquet(tmp_path / "fine" / "cv_results.parquet").sort_values(KEY)
    b = pd.read_parquet(tmp_path / "coarse" / "cv_results.parquet").sort_values(KEY)
    assert len(a) == 2 * 4 * 3 * 3
    np.testing.assert_array_equal(a["auc"].to_numpy(), b["auc"].to_numpy())
    np.testing.assert_array_equal(a["selected_features"].to_numpy(), b["selected_features"].to_numpy())
    # The automatic plan on 2 CPUs splits each repeat's folds into trials: same rows and predictions.
    auto = run_sweep(cfg.replace(max_concurrent=2), tmp_path / "auto")
    assert auto.run_id == fine.run_id
    assert all(u.folds for u in auto.units) and len(auto.units) == 2 * 3 * 2
    c = pd.read_parquet(tmp_path / "auto" / "cv_results.parquet").sort_values(KEY)
    np.testing.assert_array_equal(a["auc"].to_numpy(), c["auc"].to_numpy())
    np.testing.assert_array_equal(a["selected_features"].to_numpy(), c["selected_features"].to_numpy())
    oof_key = KEY[:3] + ["patient_id"]
    oof_fine = pd.read_parquet(tmp_path / "fine" / "oof_predictions.parquet").sort_values(oof_key)
    oof_auto = pd.read_parquet(tmp_path / "auto" / "oof_predictions.parquet").sort_values(oof_key)
    np.testing.assert_array_equal(oof_fine["probability"].to_numpy(), oof_auto["probability"].to_numpy())
    inputs = fine.inputs
    ref = run_cv(inputs.sets, inputs.y, list(DETERMINISTIC), cfg.selection_config(), repeats=3,
                 folds=3, seed=0).results.sort_values(KEY)
    np.testing.assert_array_equal(a["auc"].to_numpy(), ref["auc"].to_numpy())
    # One concurrent trial: every unit ran in the same reused worker, one after the other.
    trials = tmp_path / "fine" / "trials"
    pids = {json.loads((trials / f"{u.uid}.json").read_text(encoding="utf-8"))["pid"]
            for u in fine.units}
    assert len(pids) == 1
    sweep = json.loads((tmp_path / "fine" / "run.json").read_text(encoding="utf-8"))["sweep"]
    assert sweep["workers"] == 1 and sweep["gap_between_units"] is not None
    assert 0 <= sweep["gap_between_units"] < sweep["tune_seconds"]
    assert 0 <= sweep["first_unit_after"] < sweep["tune_seconds"]
    assert math.isfinite(sweep["overhead_per_trial"])


def test_trial_overhead_splits_start_up_gaps_and_tail() -> None:
    recs = [{"seconds": 2.0, "pid": 7, "started": 101.0, "ended": 103.0},
            {"seconds": 2.0, "pid": 8, "started": 101.5, "ended": 103.5},
            {"seconds": 1.0, "pid": 7, "started": 103.25, "ended": 104.25}]
    out = trial_overhead(recs, 100.0, 105.0, 2)
    assert out["first_unit_after"] == pytest.approx(1.0)
    assert out["gap_between_units"] == pytest.approx(0.25)
    assert out["after_last_unit"] == pytest.approx(0.75)
    assert out["overhead_per_trial"] == pytest.approx((2 * 5.0 - 5.0) / 3)
    assert out["workers"] == 2
    assert trial_overhead([], 0.0, 1.0, 2) == {}
    assert trial_overhead(recs[:2], 100.0, 105.0, 2)["gap_between_units"] is None


def test_embedded_ray_workers_run_with_one_blas_thread(ray_local) -> None:
    import ray

    from alnm_ray.runtime import local_start_env

    assert {k: local_start_env()[k] for k in THREAD_ENV_VARS} == {k: "1" for k in THREAD_ENV_VARS}

    @ray.remote(num_cpus=1)
    def env() -> dict[str, str | None]:
        return {k: os.environ.get(k) for k in THREAD_ENV_VARS}

    assert ray.get(env.remote()) == {k: "1" for k in THREAD_ENV_VARS}
