"""Fast DeLong (Sun & Xu 2014) against a direct O(m·n) implementation of DeLong 1988."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from alnm_ray.stats import (
    InvalidPredictionsError,
    delong_ci,
    delong_covariance,
    delong_test,
    delong_unpaired_test,
)


def slow_delong(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong, DeLong & Clarke-Pearson (1988) straight from the definitions.

    psi(x, z) = 1 if x > z, 1/2 if x == z, 0 otherwise, for event score x and
    non-event score z.  For model r: V10[r, i] = mean_j psi(X_i, Z_j) and
    V01[r, j] = mean_i psi(X_i, Z_j); AUC_r = mean(V10[r]);
    S10[r, s] = sum_i (V10[r,i] - AUC_r)(V10[s,i] - AUC_s) / (m - 1), S01 alike
    over the n non-events; Cov = S10 / m + S01 / n.
    """
    x = scores[:, y == 1]
    z = scores[:, y == 0]
    m, n = x.shape[1], z.shape[1]
    k = scores.shape[0]
    v10 = np.zeros((k, m))
    v01 = np.zeros((k, n))
    for r in range(k):
        for i in range(m):
            for j in range(n):
                psi = 1.0 if x[r, i] > z[r, j] else (0.5 if x[r, i] == z[r, j] else 0.0)
                v10[r, i] += psi / n
                v01[r, j] += psi / m
    auc = v10.mean(axis=1)
    s10 = np.array([[np.sum((v10[a] - auc[a]) * (v10[b] - auc[b])) / (m - 1) for b in range(k)]
                    for a in range(k)])
    s01 = np.array([[np.sum((v01[a] - auc[a]) * (v01[b] - auc[b])) / (n - 1) for b in range(k)]
                    for a in range(k)])
    return auc, s10 / m + s01 / n


@pytest.fixture
def small(rng, make_preds):
    """50 patients, three models, continuous and tied scores mixed."""
    y, models = make_preds(rng, n=50)
    models["m2"] = np.round(models["m2"], 1)
    return y, np.stack(list(models.values()))


def test_covariance_matches_slow_definition(small):
    y, s = small
    aucs, cov = delong_covariance(y, s)
    ref_auc, ref_cov = slow_delong(y, s)
    np.testing.assert_allclose(aucs, ref_auc, atol=1e-12)
    np.testing.assert_allclose(cov, ref_cov, atol=1e-12, rtol=1e-10)
    for r in range(s.shape[0]):
        assert aucs[r] == pytest.approx(roc_auc_score(y, s[r]), abs=1e-12)


def test_hanley_mcneil_1982_matches_slow(hanley_mcneil):
    y, s = hanley_mcneil
    r = delong_ci(y, s)
    ref_auc, ref_cov = slow_delong(y, s[None, :])
    assert r.auc == pytest.approx(0.8932, abs=5e-5)  # the paper's area
    assert r.se == pytest.approx(math.sqrt(ref_cov[0, 0]), rel=1e-10)
    assert (r.low, r.high) == pytest.approx((r.auc - 1.959963985 * r.se, r.auc + 1.959963985 * r.se))


def test_paired_test_matches_slow_contrast(small):
    y, s = small
    t = delong_test(y, s[0], s[1])
    ref_auc, ref_cov = slow_delong(y, s[:2])
    var = ref_cov[0, 0] + ref_cov[1, 1] - 2 * ref_cov[0, 1]
    diff = ref_auc[0] - ref_auc[1]
    assert t.paired
    assert t.diff == pytest.approx(diff, abs=1e-12)
    assert t.se == pytest.approx(math.sqrt(var), rel=1e-10)
    assert t.z == pytest.approx(diff / math.sqrt(var), rel=1e-9)
    assert t.p == pytest.approx(2 * norm.sf(abs(diff) / math.sqrt(var)), rel=1e-9)
    half = norm.ppf(0.975) * math.sqrt(var)
    assert (t.low, t.high) == pytest.approx((diff - half, diff + half), abs=1e-12)


def test_unpaired_test_sums_variances(small, rng, make_preds):
    y, s = small
    y2, m2 = make_preds(rng, n=40)
    t = delong_unpaired_test(y, s[0], y2, m2["m1"], level=0.9)
    _, ca = slow_delong(y, s[:1])
    _, cb = slow_delong(y2, m2["m1"][None, :])
    se = math.sqrt(ca[0, 0] + cb[0, 0])
    assert not t.paired
    assert t.se == pytest.approx(se, rel=1e-10)
    assert t.z == pytest.approx(t.diff / se, rel=1e-9)
    assert t.high - t.low == pytest.approx(2 * norm.ppf(0.95) * se)
    with pytest.raises(InvalidPredictionsError, match="unpaired DeLong test: label"):
        delong_unpaired_test(y, s[0], np.ones(40), m2["m1"])


def test_identical_models_give_z0_p1(small):
    y, s = small
    t = delong_test(y, s[0], s[0])
    assert (t.diff, t.se, t.z, t.p) == (0.0, 0.0, 0.0, 1.0)


def test_ci_clipped_to_unit_interval():
    y = np.array([0, 0, 0, 1, 1, 1])
    r = delong_ci(y, [0.1, 0.2, 0.45, 0.4, 0.5, 0.35])
    assert r.high == 1.0 and 0.0 <= r.low < r.auc


def test_too_few_events_warns_and_gives_nan():
    with pytest.warns(RuntimeWarning, match="at least 2 events"):
        r = delong_ci([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.9])
    assert r.auc == 1.0 and math.isnan(r.se) and math.isnan(r.low)


def test_length_mismatch_is_clear():
    with pytest.raises(InvalidPredictionsError, match="scores_b: expected 4 predictions"):
        delong_test([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3])


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_delong_z_antisymmetric(data):
    n = data.draw(st.integers(6, 40))
    y = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    y[:4] = [0, 1, 0, 1]
    a = np.array(data.draw(st.lists(st.integers(0, 20), min_size=n, max_size=n))) / 20.0
    b = np.array(data.draw(st.lists(st.integers(0, 20), min_size=n, max_size=n))) / 20.0
    ab, ba = delong_test(y, a, b), delong_test(y, b, a)
    if math.isnan(ab.z):
        assert math.isnan(ba.z)
    else:
        assert ab.z == -ba.z
        assert ab.p == ba.p
        assert (ab.low, ab.high) == pytest.approx((-ba.high, -ba.low), abs=1e-15)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_fast_equals_slow_on_random_ties(data):
    n = data.draw(st.integers(5, 25))
    y = np.array(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    y[:4] = [0, 1, 0, 1]
    s = np.array(data.draw(st.lists(st.integers(0, 6), min_size=2 * n, max_size=2 * n)),
                 dtype=float).reshape(2, n)
    aucs, cov = delong_covariance(y, s)
    ref_auc, ref_cov = slow_delong(y, s)
    np.testing.assert_allclose(aucs, ref_auc, atol=1e-12)
    np.testing.assert_allclose(cov, ref_cov, atol=1e-12)
