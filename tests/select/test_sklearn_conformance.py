"""scikit-learn's estimator checks over every selection estimator owned by this package.

What the steps need by design is declared as estimator tags, so scikit-learn adapts or skips
its checks itself: the selectors and SMOTE require ``y`` and take two classes
(``target_tags.required``, ``classifier_tags.multi_class=False``: the checks then generate
binary targets); the clinical encoder takes strings and categories and imputes NaN
(``input_tags.string/categorical/allow_nan``) and outputs floats whatever the input dtype
(``transformer_tags.preserves_dtype=[]``).  The checks still listed below fail for a reason no
tag can state, each with its reason: a two-class target other than 0/1 (some checks derive
``y`` from X or use {1, 2}; the ALNM label is 0/1 with 1 = positive, and other values are
refused on purpose), no single ``n_iter_`` for a LASSO fitted over many CV splits, and the
router's need for a DataFrame (scikit-learn has no "DataFrame only" input tag).
"""

from __future__ import annotations

import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

from alnm_ray.exceptions import FallbackWarning
from alnm_ray.select import (
    ClinicalEncoder,
    ComBatHarmonizer,
    CorrelationFilter,
    KindRouter,
    LassoCVSelector,
    MRMRSelector,
    MutualInfoSelector,
    SafeSMOTE,
    UnivariateFilter,
    ZScoreScaler,
)

LABEL_VALUES = ("binary targets other than 0/1 (this check uses {1, 2} or labels derived from X): the ALNM "
                "label is 0/1 with 1 = positive and other values are refused on purpose; no tag states label values")
ROUTER = ("reads feature kinds from column names, so it refuses arrays (needs a DataFrame); scikit-learn "
          "has no input tag for 'DataFrame only'")
N_ITER = "LASSO by LARS paths over many CV splits: no single n_iter_ to report (no tag for that)"

ESTIMATORS = [
    ComBatHarmonizer(), ZScoreScaler(), CorrelationFilter(), UnivariateFilter(), MRMRSelector(k=3),
    MutualInfoSelector(k=3), LassoCVSelector(n_repeats=1, n_folds=3), SafeSMOTE(),
    ClinicalEncoder(), KindRouter(),
]
_LABELS = {"check_estimators_dtypes": LABEL_VALUES, "check_fit2d_1feature": LABEL_VALUES}
#: Checks that fail for a documented reason no tag can express: estimator class -> check -> reason.
EXPECTED: dict[str, dict[str, str]] = {
    "KindRouter": {check: ROUTER for check in (
        "check_complex_data", "check_dict_unchanged", "check_dont_overwrite_parameters", "check_dtype_object",
        "check_estimator_sparse_array", "check_estimator_sparse_matrix", "check_estimator_sparse_tag",
        "check_estimators_dtypes", "check_estimators_empty_data_messages", "check_estimators_fit_returns_self",
        "check_estimators_nan_inf", "check_estimators_overwrite_params", "check_estimators_pickle",
        "check_f_contiguous_array_estimator", "check_fit2d_1feature", "check_fit2d_1sample",
        "check_fit2d_predict1d", "check_fit_check_is_fitted", "check_fit_idempotent", "check_fit_score_takes_y",
        "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_n_features_in",
        "check_n_features_in_after_fitting", "check_pipeline_consistency", "check_positive_only_tag_during_fit",
        "check_readonly_memmap_input", "check_transformer_data_not_an_array", "check_transformer_general",
        "check_transformer_preserve_dtypes")},
    "LassoCVSelector": {**_LABELS, "check_transformer_n_iter": N_ITER},
    "MRMRSelector": dict(_LABELS),
    "MutualInfoSelector": dict(_LABELS),
    "SafeSMOTE": dict(_LABELS),
    "UnivariateFilter": dict(_LABELS),
}


def expected_failed_checks(est) -> dict[str, str]:
    return EXPECTED.get(type(est).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_conformance(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        check(estimator)


def test_design_needs_are_declared_as_tags():
    from sklearn.utils import get_tags

    for est in (UnivariateFilter(), MRMRSelector(), MutualInfoSelector(), LassoCVSelector(), SafeSMOTE()):
        tags = get_tags(est)
        assert tags.target_tags.required and tags.classifier_tags.multi_class is False, type(est).__name__
    assert not get_tags(ZScoreScaler()).target_tags.required  # unsupervised steps keep the defaults
    enc = get_tags(ClinicalEncoder())
    assert enc.input_tags.allow_nan and enc.input_tags.string and enc.transformer_tags.preserves_dtype == []


def test_missing_y_gets_scikit_learn_s_message_and_the_fix():
    import numpy as np
    import pytest

    from alnm_ray.exceptions import SchemaMismatchError

    with pytest.raises(SchemaMismatchError, match=r"univariate requires y to be passed, but the target y is None\. "
                                                  r"univariate: y: expected the binary labels \(0/1\)"):
        UnivariateFilter().fit(np.ones((4, 2)))
