"""Nomogram points, Nomo-score and risk groups against the fitted model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import fisher_exact
from statsmodels.stats.proportion import proportion_confint

from alnm_ray.exceptions import ConfigError, NotFittedError, SchemaMismatchError
from alnm_ray.stats import ClinicalLogisticModel, NomogramAxis, Nomogram, NomoRiskGroups
from alnm_ray.stats import youden_threshold


@pytest.fixture
def fitted(rng):
    n = 400
    X = pd.DataFrame({"us_alnm": rng.choice(["absent", "present"], n),
                      "tumour_score": rng.normal(0, 1, n), "ln_score": rng.normal(0, 1.3, n),
                      "age": rng.normal(55, 10, n)})
    lp = -0.6 + 0.9 * (X["us_alnm"] == "present") + 1.0 * X["tumour_score"] \
        + 1.3 * X["ln_score"] - 0.02 * X["age"]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-lp))).astype(int)
    model = ClinicalLogisticModel(univariate_p=None).fit(X, y)
    return X, y, model, Nomogram.from_model(model)


def test_total_points_map_to_predict_proba(fitted):
    X, y, model, nomo = fitted
    total = nomo.score(X)
    np.testing.assert_allclose(nomo.probability_from_points(total), model.predict_proba(X)[:, 1],
                               atol=1e-6, rtol=0)
    np.testing.assert_allclose(nomo.linear_predictor_from_points(total),
                               model.decision_function(X), atol=1e-9)
    np.testing.assert_allclose(nomo.points_from_probability(nomo.probability_from_points(total)),
                               total, atol=1e-6)
    # Training patients lie within [0, max total points].
    assert total.min() >= -1e-9 and total.max() <= nomo.max_total_points + 1e-9


def test_points_linear_in_predictor_and_largest_range_is_100(fitted):
    X, y, model, nomo = fitted
    ranges = {a.name: a.effect_range for a in nomo.axes}
    biggest = max(ranges, key=ranges.get)
    axis = {a.name: a for a in nomo.axes}
    lo, hi = axis[biggest].values
    pts = nomo.axis_points(axis[biggest], [lo, hi])
    assert sorted(pts.tolist()) == pytest.approx([0.0, 100.0])
    for a in nomo.axes:
        if a.kind != "continuous":
            continue
        lo, hi = a.values
        x = np.linspace(lo, hi, 7)
        p = nomo.axis_points(a, x)
        np.testing.assert_allclose(np.diff(p, 2), 0.0, atol=1e-9)  # linear
        slope = (p[-1] - p[0]) / (hi - lo)
        assert slope == pytest.approx(100 * model.coef_[a.name] / nomo.scale, rel=1e-9)
        assert min(p) == pytest.approx(0.0, abs=1e-9)
    cat = axis["us_alnm"]
    assert cat.values == ("absent", "present")
    assert nomo.axis_points(cat, ["absent"])[0] == pytest.approx(
        0.0 if model.coef_["us_alnm[present]"] > 0 else 100 * cat.effect_range / nomo.scale)


def test_points_and_probability_tables(fitted):
    X, y, model, nomo = fitted
    table = nomo.points_table()
    assert set(table["predictor"]) == {"us_alnm", "tumour_score", "ln_score", "age"}
    row = table[(table["predictor"] == "age")].iloc[0]
    assert row["points"] == pytest.approx(
        float(nomo.points(X.assign(age=row["value"]))["age"].iloc[0]))
    probs = nomo.probability_table()
    assert (probs["total_points"].between(0, nomo.max_total_points)).all()
    np.testing.assert_allclose(nomo.probability_from_points(probs["total_points"]),
                               probs["probability"], atol=1e-12)
    with pytest.raises(SchemaMismatchError, match=r"missing 'age'"):
        nomo.points(X.drop(columns="age"))
    with pytest.raises(SchemaMismatchError, match=r"'us_alnm'.*found 'unknown'"):
        nomo.points(X.assign(us_alnm="unknown"))
    with pytest.raises(ConfigError, match="non-zero effect"):
        Nomogram(0.0, (NomogramAxis("flat", "continuous", (1.0, 1.0), (0.0, 0.0)),))
    with pytest.raises(NotFittedError, match="Fit the model first"):
        Nomogram.from_model(ClinicalLogisticModel())


def test_risk_groups_youden_cutoff_and_rates(fitted, rng):
    X, y, model, nomo = fitted
    train = nomo.score(X)
    groups = NomoRiskGroups(nomo).fit(train, y)
    ref = youden_threshold(y, model.predict_proba(X)[:, 1])
    assert groups.cutoff_probability_ == pytest.approx(ref.threshold, abs=1e-9)
    assert groups.youden_.j == pytest.approx(ref.j, abs=1e-12)
    high = groups.predict(train) == "high"
    # The points cut-off splits the training set exactly as the probability cut-off does.
    np.testing.assert_array_equal(
        high, nomo.probability_from_points(train) >= groups.cutoff_probability_)
    sens = high[y == 1].mean()
    assert sens == pytest.approx(ref.sensitivity)
    assert groups.cutoff_points_ in train
    test_idx = rng.permutation(len(y))[:150]
    table = groups.summary({"training": (train, y),
                            "test": (train[test_idx], y[test_idx])})
    assert table[["set", "group"]].values.tolist() == [
        ["training", "high"], ["training", "low"], ["test", "high"], ["test", "low"]]
    tr = table[table["set"] == "training"].set_index("group")
    assert tr.loc["high", "n"] == high.sum() and tr.loc["high", "events"] == y[high].sum()
    assert tr.loc["high", "rate"] > tr.loc["low", "rate"]
    low, upp = proportion_confint(tr.loc["low", "events"], tr.loc["low", "n"], method="wilson")
    assert (tr.loc["low", "rate_low"], tr.loc["low", "rate_high"]) == pytest.approx((low, upp))
    eh, nh = int(tr.loc["high", "events"]), int(tr.loc["high", "n"])
    el, nl = int(tr.loc["low", "events"]), int(tr.loc["low", "n"])
    assert tr.loc["high", "p_fisher"] == pytest.approx(
        fisher_exact([[eh, nh - eh], [el, nl - el]])[1])
    with pytest.raises(NotFittedError, match="Call fit"):
        NomoRiskGroups(nomo).predict(train)
