"""Training summaries and calibrated drift checks (KS, binned chi-square, Holm), PSI as a description."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, ks_2samp

from alnm_ray.exceptions import DriftWarning, NotFittedError, SchemaMismatchError
from alnm_ray.score.drift import (DRIFT_ALPHA, PSI_SIGNIFICANT, TrainingDistribution, binned_pvalue,
                                  drift_report, holm_adjust, ks_against_sketch,
                                  population_stability_index, psi_level, smoothed_fractions)


@pytest.fixture
def train(rng):
    return pd.DataFrame({"stable": rng.normal(0, 1, 400), "moved": rng.normal(0, 1, 400),
                         "const": np.full(400, 3.0)})


def test_shifted_feature_is_flagged_and_unshifted_is_not(rng, train):
    summary = TrainingDistribution().fit(train)
    new = pd.DataFrame({"stable": rng.normal(0, 1, 300), "moved": rng.normal(1.0, 1, 300),
                        "const": np.full(300, 3.0)})
    with pytest.warns(DriftWarning, match=r"1 of 3 feature\(s\) differ beyond sampling noise .*: moved\."):
        report = drift_report(summary, new).set_index("feature")
    assert report.loc["moved", "flagged"]
    assert report.loc["moved", "psi"] > PSI_SIGNIFICANT
    assert report.loc["moved", "psi_level"] == "significant"
    assert report.loc["moved", "reason"] == "binned chi-square p_adj < 0.05; KS p_adj < 0.05"
    assert not report.loc["stable", "flagged"]
    assert report.loc["stable", "psi"] < 0.1
    assert not report.loc["const", "flagged"] and report.loc["const", "psi"] == pytest.approx(0.0, abs=1e-9)
    assert report.index[0] == "moved"  # sorted by PSI, largest first


def test_values_beyond_a_constant_training_feature_are_flagged(rng, train):
    summary = TrainingDistribution().fit(train, ["const"])
    with pytest.warns(DriftWarning):
        report = drift_report(summary, pd.DataFrame({"const": np.full(100, 4.0)}))
    assert bool(report.loc[0, "flagged"]) and report.loc[0, "psi"] > 1.0


def test_ks_from_the_sketch_matches_scipy_two_sample_ks(rng):
    a, b = rng.normal(0, 1, 500), rng.normal(0.3, 1, 200)
    summary = TrainingDistribution().fit(pd.DataFrame({"f": a}))
    d, p = ks_against_sketch(summary.stats_["f"]["quantiles"], 500, b)
    exact = ks_2samp(a, b)
    assert d == pytest.approx(exact.statistic, abs=0.02)  # sketch resolution: 1 percentile
    # p is computed at D less one sketch step, so never smaller than the exact p-value (conservative).
    assert exact.pvalue - 0.005 <= p <= 0.2


def test_small_training_sets_do_not_flag_sampling_noise(rng):
    # 70 training patients: an unshifted feature's PSI is ~0.15-0.3 by chance alone.
    summary = TrainingDistribution().fit(pd.DataFrame({f"f{i}": rng.normal(0, 1, 70) for i in range(20)}))
    new = pd.DataFrame({f"f{i}": rng.normal(0, 1, 300) for i in range(20)})
    report = drift_report(summary, new)
    assert report["psi"].max() > 0.15  # the raw magnitude rule would be close to firing
    assert not report["flagged"].any()
    shifted = np.array([40, 60] * 5)  # the same bin imbalance ...
    assert binned_pvalue(shifted, shifted[::-1] // 4) > binned_pvalue(shifted * 20, shifted[::-1] * 5)
    assert np.isnan(binned_pvalue(shifted, np.ones(10)))  # ... and too few patients for the test


def test_psi_is_zero_for_identical_fractions_and_grows_with_shift():
    e = np.array([0.1] * 10)
    assert population_stability_index(e, e) == pytest.approx(0.0)
    assert population_stability_index(e, np.array([0.2] * 5 + [0.0] * 5)) == np.inf  # no floor
    assert population_stability_index(e, smoothed_fractions(np.array([2] * 5 + [0] * 5))) < 1.0
    assert population_stability_index(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0.0
    assert [psi_level(v) for v in (0.05, 0.15, 0.25, np.nan)] == ["none", "moderate", "significant", "n/a"]


def test_summary_round_trips_through_json_and_counts_missing(rng, train):
    data = train.copy()
    data.loc[:9, "stable"] = np.nan
    summary = TrainingDistribution(n_bins=5).fit(data)
    again = TrainingDistribution.from_dict(json.loads(json.dumps(summary.to_dict())))
    assert again.stats_ == summary.stats_ and again.n_bins == 5
    assert summary.stats_["stable"]["missing"] == 10 and summary.stats_["stable"]["n"] == 390
    new = pd.DataFrame({"stable": [np.nan, 0.0, 0.1], "moved": [0.0, 0.2, -0.1], "const": [3.0] * 3})
    report = drift_report(again, new).set_index("feature")
    assert report.loc["stable", "missing_new"] == 1 and report.loc["stable", "n_new"] == 2


def test_errors_name_the_feature(train):
    with pytest.raises(NotFittedError, match="call fit"):
        drift_report(TrainingDistribution(), train)
    summary = TrainingDistribution().fit(train, ["stable"])
    with pytest.raises(SchemaMismatchError, match="expected features nope in the training summary"):
        drift_report(summary, train, features=["nope"])
    with pytest.raises(SchemaMismatchError, match="expected features stable in the new cohort's table"):
        drift_report(summary, train.drop(columns="stable"), features=["stable"])
    with pytest.raises(SchemaMismatchError, match="expected features absent"):
        TrainingDistribution().fit(train, ["absent"])


def _population(rng, n):
    """Six radiomics-like features: two normal, a skewed, a heavy-tailed, a discrete and a bounded one."""
    return pd.DataFrame({"a": rng.normal(0, 1, n), "b": rng.normal(5, 2, n), "skew": rng.lognormal(0, 1, n),
                         "tail": rng.standard_t(3, n), "count": rng.poisson(3, n).astype(float),
                         "frac": rng.beta(2, 5, n)})


@pytest.mark.parametrize("n_new", [10, 30, 100])
def test_cohorts_from_the_training_distribution_are_flagged_at_most_alpha(n_new):
    rng = np.random.default_rng(20240 + n_new)
    summary = TrainingDistribution().fit(_population(rng, 1000))
    sims = 300
    flagged = sum(bool(drift_report(summary, _population(rng, n_new), warn=False)["flagged"].any())
                  for _ in range(sims))
    # Cohort-level false-positive rate <= 5 %, up to binomial noise (one-sided 0.1 % limit).
    assert flagged <= binom.ppf(0.999, sims, DRIFT_ALPHA), f"{flagged}/{sims} undrifted cohorts flagged"


def test_ten_patient_cohort_gets_no_manufactured_psi_or_flag():
    rng = np.random.default_rng(7)
    summary = TrainingDistribution().fit(_population(rng, 1000))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DriftWarning)
        report = drift_report(summary, _population(rng, 10)).set_index("feature")
    assert not report["flagged"].any()
    assert (report["psi_level"] == "n/a").all()  # too few patients for a binned comparison
    assert report["psi_pvalue"].isna().all() and report["ks_pvalue"].notna().all()
    assert report["psi"].max() < 1.0  # with a 1e-4 floor, empty bins alone gave PSI ~ 3-4


def test_a_real_shift_in_a_100_patient_cohort_is_flagged():
    rng = np.random.default_rng(8)
    summary = TrainingDistribution().fit(_population(rng, 1000))
    new = _population(rng, 100)
    for col, sd in (("a", 1.0), ("b", 2.0), ("frac", 0.16)):
        new[col] += sd  # +1 SD
    with pytest.warns(DriftWarning, match="Check the cohort was acquired and preprocessed"):
        report = drift_report(summary, new).set_index("feature")
    assert report.loc[["a", "b", "frac"], "flagged"].all()


def test_holm_adjustment_is_step_down_and_skips_nan():
    adj = holm_adjust(np.array([0.01, 0.04, np.nan, 0.03]))
    assert adj[[0, 1, 3]].tolist() == pytest.approx([0.03, 0.06, 0.06]) and np.isnan(adj[2])
    assert np.isnan(holm_adjust(np.array([np.nan]))).all()
