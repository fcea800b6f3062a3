"""Net benefit and clinical impact against hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest

from alnm_ray.stats import (
    DEFAULT_DCA_THRESHOLDS,
    InvalidPredictionsError,
    clinical_impact,
    decision_curve,
    net_benefit,
    treat_all_net_benefit,
)

# Eight patients, 3 events.
Y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
P = np.array([0.9, 0.7, 0.2, 0.6, 0.4, 0.3, 0.2, 0.05])


def test_net_benefit_by_hand():
    # pt = 0.25: treated p >= .25 -> .9 .7 | .6 .4 .3 -> TP 2, FP 3.
    #   NB = 2/8 - 3/8 * (.25/.75) = 0.25 - 0.125 = 0.125
    # pt = 0.5: treated .9 .7 | .6 -> TP 2, FP 1.  NB = 2/8 - 1/8 * 1 = 0.125
    # pt = 0.8: treated .9 -> TP 1, FP 0.  NB = 1/8 = 0.125
    # pt = 0.2: ties at .2 are treated -> TP 3, FP 4 (.6 .4 .3 .2).  NB = 3/8 - 4/8 * .25 = 0.25
    nb = net_benefit(Y, P, [0.25, 0.5, 0.8, 0.2])
    np.testing.assert_allclose(nb, [0.125, 0.125, 0.125, 0.25])


def test_treat_all_and_none():
    # prevalence 3/8; pt = .25: 3/8 - 5/8 * 1/3 = 1/6 ; pt = 0: prevalence.
    np.testing.assert_allclose(treat_all_net_benefit(Y, [0.25, 0.0]), [1 / 6, 3 / 8])
    dc = decision_curve(Y, {"m": P}, [0.0, 0.25])
    np.testing.assert_allclose(dc.treat_all, [3 / 8, 1 / 6])
    np.testing.assert_array_equal(dc.treat_none, [0.0, 0.0])
    # At pt = 0 a model that treats everyone equals treat-all.
    assert dc.models["m"][0] == pytest.approx(3 / 8)
    frame = dc.to_frame()
    assert list(frame.columns) == ["threshold", "treat_all", "treat_none", "m"]


def test_default_thresholds_and_perfect_model():
    dc = decision_curve(Y, {"perfect": Y.astype(float) * 0.98 + 0.005})
    np.testing.assert_array_equal(dc.thresholds, DEFAULT_DCA_THRESHOLDS)
    assert dc.thresholds[0] == 0.01 and dc.thresholds[-1] == 0.99
    # A perfect model's net benefit is the prevalence at every threshold it separates.
    inside = dc.thresholds < 0.99
    np.testing.assert_allclose(dc.models["perfect"][inside], 3 / 8)


def test_clinical_impact_by_hand():
    # pt = .5: high risk .9 .7 .6 -> 3 of 8 -> 375 per 1000; events among them 2 -> 250.
    c = clinical_impact(Y, P, [0.5, 0.95], population=1000)
    np.testing.assert_allclose(c.n_high_risk, [375.0, 0.0])
    np.testing.assert_allclose(c.n_high_risk_events, [250.0, 0.0])
    assert c.population == 1000


def test_bad_thresholds_and_population():
    with pytest.raises(InvalidPredictionsError, match=r"thresholds: expected threshold probabilities in \[0, 1\)"):
        net_benefit(Y, P, [0.5, 1.0])
    with pytest.raises(InvalidPredictionsError, match="population"):
        clinical_impact(Y, P, population=0)
