"""NRI and IDI against hand computations (Pencina 2008 definitions) and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from alnm_ray.stats import InvalidPredictionsError, categorical_nri, continuous_nri, idi

# Ten patients: 4 events, 6 non-events.
Y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
OLD = np.array([0.40, 0.60, 0.30, 0.70, 0.20, 0.50, 0.30, 0.60, 0.10, 0.40])
NEW = np.array([0.55, 0.65, 0.25, 0.70, 0.10, 0.45, 0.35, 0.40, 0.10, 0.60])


def test_continuous_nri_by_hand():
    # Events: up at 0 (.40->.55), 1 (.60->.65); down at 2 (.30->.25); 3 equal.
    #   P(up|e) = 2/4, P(down|e) = 1/4 -> NRI_e = 1/4.
    # Non-events: down at 4, 5, 7; up at 6, 9; 8 equal.
    #   P(down|ne) = 3/6, P(up|ne) = 2/6 -> NRI_ne = 1/6.
    # NRI = 1/4 + 1/6 = 5/12.
    # SE^2 = (2/4 + 1/4)/4 + (2/6 + 3/6)/6 = 3/16 + 5/36.
    r = continuous_nri(Y, NEW, OLD)
    assert (r.up_events, r.down_events, r.up_nonevents, r.down_nonevents) == (2, 1, 2, 3)
    assert r.events == pytest.approx(1 / 4)
    assert r.nonevents == pytest.approx(1 / 6)
    assert r.nri == pytest.approx(5 / 12)
    se = math.sqrt(3 / 16 + 5 / 36)
    assert r.se == pytest.approx(se)
    assert r.z == pytest.approx((5 / 12) / se)
    assert r.p == pytest.approx(2 * norm.sf((5 / 12) / se))
    assert r.kind == "continuous" and r.cutoffs == ()


def test_categorical_nri_by_hand():
    # Cut-off 0.5 (p >= 0.5 is "high").  Old categories: 0 1 0 1 | 0 1 0 1 0 0
    #                                    new categories: 1 1 0 1 | 0 0 0 0 0 1
    # Events: up at 0 -> NRI_e = 1/4.  Non-events: down at 5, 7; up at 9 -> NRI_ne = (2-1)/6.
    # SE^2 = (1/4 + 0)/4 + (1/6 + 2/6)/6 = 1/16 + 1/12.
    r = categorical_nri(Y, NEW, OLD, [0.5])
    assert (r.up_events, r.down_events, r.up_nonevents, r.down_nonevents) == (1, 0, 1, 2)
    assert r.nri == pytest.approx(1 / 4 + 1 / 6)
    assert r.se == pytest.approx(math.sqrt(1 / 16 + 1 / 12))
    assert r.as_dict()["cutoffs"] == [0.5]


def test_categorical_nri_three_categories_and_boundary():
    # Cut-offs 0.3 and 0.6; p == cut-off belongs to the higher category.
    y = np.array([1, 0])
    r = categorical_nri(y, [0.6, 0.3], [0.59, 0.29], [0.3, 0.6])
    assert (r.up_events, r.up_nonevents) == (1, 1)
    assert r.nri == pytest.approx(1.0 - 1.0)


def test_bad_cutoffs():
    for bad in ([], [0.5, 0.3], [0.0], [1.0]):
        with pytest.raises(InvalidPredictionsError, match="cutoffs: expected one or more strictly"):
            categorical_nri(Y, NEW, OLD, bad)


def test_idi_by_hand():
    d = NEW - OLD
    # Events:     +.15 +.05 -.05 0      mean .0375
    # Non-events: -.10 -.05 +.05 -.20 0 +.20   mean -.01666…
    r = idi(Y, NEW, OLD)
    assert r.events == pytest.approx(0.0375)
    assert r.nonevents == pytest.approx(-0.1 / 6)
    assert r.idi == pytest.approx(0.0375 + 0.1 / 6)
    se = math.sqrt(np.var(d[:4], ddof=1) / 4 + np.var(d[4:], ddof=1) / 6)
    assert r.se == pytest.approx(se)
    assert r.z == pytest.approx(r.idi / se)
    # IDI equals the difference of discrimination slopes (Pencina 2008, eq. 6).
    slope = lambda p: p[Y == 1].mean() - p[Y == 0].mean()  # noqa: E731
    assert r.idi == pytest.approx(slope(NEW) - slope(OLD))


def test_direction_flips_sign():
    ab, ba = continuous_nri(Y, NEW, OLD), continuous_nri(Y, OLD, NEW)
    assert ab.nri == -ba.nri and ab.se == ba.se
    assert idi(Y, NEW, OLD).idi == pytest.approx(-idi(Y, OLD, NEW).idi)


def test_inputs_checked():
    with pytest.raises(InvalidPredictionsError, match="p_old: expected 10 predictions"):
        idi(Y, NEW, OLD[:5])


probs = st.lists(st.integers(0, 100), min_size=4, max_size=40)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_model_against_itself_is_zero(data):
    p = np.array(data.draw(probs)) / 100.0
    y = np.array(data.draw(st.lists(st.integers(0, 1), min_size=p.size, max_size=p.size)))
    y[:2] = [0, 1]
    for r in (continuous_nri(y, p, p), categorical_nri(y, p, p, [0.3, 0.6])):
        assert (r.nri, r.se, r.z, r.p) == (0.0, 0.0, 0.0, 1.0)
    r = idi(y, p, p)
    assert r.idi == 0.0
    if min(y.sum(), (1 - y).sum()) >= 2:
        assert (r.se, r.z, r.p) == (0.0, 0.0, 1.0)
    else:  # a class with one patient has no sample SD
        assert math.isnan(r.se) and math.isnan(r.p)
