"""Training summaries and PSI/KS drift checks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from alnm_ray.exceptions import NotFittedError, SchemaMismatchError
from alnm_ray.score.drift import (PSI_SIGNIFICANT, TrainingDistribution, drift_report,
                                  ks_against_sketch, population_stability_index, psi_level, psi_pvalue)


@pytest.fixture
def train(rng):
    return pd.DataFrame({"stable": rng.normal(0, 1, 400), "moved": rng.normal(0, 1, 400),
                         "const": np.full(400, 3.0)})


def test_shifted_feature_is_flagged_and_unshifted_is_not(rng, train):
    summary = TrainingDistribution().fit(train)
    new = pd.DataFrame({"stable": rng.normal(0, 1, 300), "moved": rng.normal(1.0, 1, 300),
                        "const": np.full(300, 3.0)})
    report = drift_report(summary, new).set_index("feature")
    assert report.loc["moved", "flagged"]
    assert report.loc["moved", "psi"] > PSI_SIGNIFICANT
    assert report.loc["moved", "psi_level"] == "significant"
    assert "PSI > 0.2" in report.loc["moved", "reason"]
    assert not report.loc["stable", "flagged"]
    assert report.loc["stable", "psi"] < 0.1
    assert not report.loc["const", "flagged"] and report.loc["const", "psi"] == pytest.approx(0.0, abs=1e-9)
    assert report.index[0] == "moved"  # sorted by PSI, largest first


def test_values_beyond_a_constant_training_feature_are_flagged(rng, train):
    summary = TrainingDistribution().fit(train, ["const"])
    report = drift_report(summary, pd.DataFrame({"const": np.full(100, 4.0)}))
    assert bool(report.loc[0, "flagged"]) and report.loc[0, "psi"] > 1.0


def test_ks_from_the_sketch_matches_scipy_two_sample_ks(rng):
    a, b = rng.normal(0, 1, 500), rng.normal(0.3, 1, 200)
    summary = TrainingDistribution().fit(pd.DataFrame({"f": a}))
    d, p = ks_against_sketch(summary.stats_["f"]["quantiles"], 500, b)
    exact = ks_2samp(a, b)
    assert d == pytest.approx(exact.statistic, abs=0.02)  # sketch resolution: 1 percentile
    assert p == pytest.approx(exact.pvalue, abs=0.02)


def test_small_training_sets_do_not_flag_sampling_noise(rng):
    # 70 training patients: an unshifted feature's PSI is ~0.15-0.3 by chance alone.
    summary = TrainingDistribution().fit(pd.DataFrame({f"f{i}": rng.normal(0, 1, 70) for i in range(20)}))
    new = pd.DataFrame({f"f{i}": rng.normal(0, 1, 300) for i in range(20)})
    report = drift_report(summary, new)
    assert report["psi"].max() > 0.15  # the raw magnitude rule would be close to firing
    assert not report["flagged"].any()
    assert psi_pvalue(0.3, 70, 300, 10) > psi_pvalue(0.3, 5000, 5000, 10)


def test_psi_is_zero_for_identical_fractions_and_grows_with_shift():
    e = np.array([0.1] * 10)
    assert population_stability_index(e, e) == pytest.approx(0.0)
    assert population_stability_index(e, np.array([0.2] * 5 + [0.0] * 5)) > 1.0
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
