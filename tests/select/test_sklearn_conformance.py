"""scikit-learn's estimator checks over every selection estimator owned by this package.

Checks that cannot pass are listed with the reason, per estimator: scikit-learn's
generic checks generate multiclass targets (0/1/2), while the selection steps
model the binary ALNM label (0/1) and refuse anything else on purpose; SMOTE
changes the number of rows by design; the router reads feature kinds from
column names, so it needs a DataFrame.
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

BINARY = "binary 0/1 ALNM labels only: a multiclass y (0/1/2) is refused on purpose"
SMOTE = ("a sampler: fit_resample adds rows and the step has no transform; it also takes "
         "binary 0/1 labels only")
ENCODER = ("takes mixed-type clinical DataFrames (strings are categories, NaN is imputed in-fold and "
           "counted), so scikit-learn's numeric-array input checks do not apply")
ROUTER = "reads feature kinds from column names, so it refuses arrays (needs a DataFrame)"
N_ITER = "LASSO by LARS paths over many CV splits: no single n_iter_ to report"

ESTIMATORS = [
    ComBatHarmonizer(), ZScoreScaler(), CorrelationFilter(), UnivariateFilter(), MRMRSelector(k=3),
    MutualInfoSelector(k=3), LassoCVSelector(n_repeats=1, n_folds=3), SafeSMOTE(),
    ClinicalEncoder(), KindRouter(),
]
#: Checks that fail for a documented reason: estimator class -> check -> reason.
EXPECTED: dict[str, dict[str, str]] = {
    "ClinicalEncoder": {
        "check_complex_data": ENCODER,
        "check_dict_unchanged": ENCODER,
        "check_dtype_object": ENCODER,
        "check_estimator_sparse_array": ENCODER,
        "check_estimator_sparse_matrix": ENCODER,
        "check_estimator_sparse_tag": ENCODER,
        "check_estimators_empty_data_messages": ENCODER,
        "check_estimators_nan_inf": ENCODER,
        "check_fit1d": ENCODER,
        "check_fit2d_predict1d": ENCODER,
        "check_n_features_in": ENCODER,
        "check_n_features_in_after_fitting": ENCODER,
        "check_transformer_preserve_dtypes": ENCODER,
    },
    "KindRouter": {
        "check_complex_data": ROUTER,
        "check_dict_unchanged": ROUTER,
        "check_dont_overwrite_parameters": ROUTER,
        "check_dtype_object": ROUTER,
        "check_estimator_sparse_array": ROUTER,
        "check_estimator_sparse_matrix": ROUTER,
        "check_estimator_sparse_tag": ROUTER,
        "check_estimators_dtypes": ROUTER,
        "check_estimators_empty_data_messages": ROUTER,
        "check_estimators_fit_returns_self": ROUTER,
        "check_estimators_nan_inf": ROUTER,
        "check_estimators_overwrite_params": ROUTER,
        "check_estimators_pickle": ROUTER,
        "check_f_contiguous_array_estimator": ROUTER,
        "check_fit2d_1feature": ROUTER,
        "check_fit2d_1sample": ROUTER,
        "check_fit2d_predict1d": ROUTER,
        "check_fit_check_is_fitted": ROUTER,
        "check_fit_idempotent": ROUTER,
        "check_fit_score_takes_y": ROUTER,
        "check_methods_sample_order_invariance": ROUTER,
        "check_methods_subset_invariance": ROUTER,
        "check_n_features_in": ROUTER,
        "check_n_features_in_after_fitting": ROUTER,
        "check_pipeline_consistency": ROUTER,
        "check_positive_only_tag_during_fit": ROUTER,
        "check_readonly_memmap_input": ROUTER,
        "check_transformer_data_not_an_array": ROUTER,
        "check_transformer_general": ROUTER,
        "check_transformer_preserve_dtypes": ROUTER,
    },
    "LassoCVSelector": {
        "check_dict_unchanged": BINARY,
        "check_dont_overwrite_parameters": BINARY,
        "check_dtype_object": BINARY,
        "check_estimators_dtypes": BINARY,
        "check_estimators_fit_returns_self": BINARY,
        "check_estimators_overwrite_params": BINARY,
        "check_f_contiguous_array_estimator": BINARY,
        "check_fit2d_1feature": BINARY,
        "check_fit2d_predict1d": BINARY,
        "check_fit_score_takes_y": BINARY,
        "check_methods_sample_order_invariance": BINARY,
        "check_methods_subset_invariance": BINARY,
        "check_n_features_in_after_fitting": BINARY,
        "check_positive_only_tag_during_fit": BINARY,
        "check_readonly_memmap_input": BINARY,
        "check_transformer_n_iter": N_ITER,
    },
    "MRMRSelector": {
        "check_dict_unchanged": BINARY,
        "check_dont_overwrite_parameters": BINARY,
        "check_dtype_object": BINARY,
        "check_estimators_dtypes": BINARY,
        "check_estimators_fit_returns_self": BINARY,
        "check_estimators_overwrite_params": BINARY,
        "check_f_contiguous_array_estimator": BINARY,
        "check_fit2d_1feature": BINARY,
        "check_fit2d_predict1d": BINARY,
        "check_fit_score_takes_y": BINARY,
        "check_methods_sample_order_invariance": BINARY,
        "check_methods_subset_invariance": BINARY,
        "check_n_features_in_after_fitting": BINARY,
        "check_positive_only_tag_during_fit": BINARY,
        "check_readonly_memmap_input": BINARY,
    },
    "MutualInfoSelector": {
        "check_dict_unchanged": BINARY,
        "check_dont_overwrite_parameters": BINARY,
        "check_dtype_object": BINARY,
        "check_estimators_dtypes": BINARY,
        "check_estimators_fit_returns_self": BINARY,
        "check_estimators_overwrite_params": BINARY,
        "check_f_contiguous_array_estimator": BINARY,
        "check_fit2d_1feature": BINARY,
        "check_fit2d_predict1d": BINARY,
        "check_fit_score_takes_y": BINARY,
        "check_methods_sample_order_invariance": BINARY,
        "check_methods_subset_invariance": BINARY,
        "check_n_features_in_after_fitting": BINARY,
        "check_positive_only_tag_during_fit": BINARY,
        "check_readonly_memmap_input": BINARY,
    },
    "SafeSMOTE": {
        "check_dict_unchanged": SMOTE,
        "check_dont_overwrite_parameters": SMOTE,
        "check_dtype_object": SMOTE,
        "check_estimators_dtypes": SMOTE,
        "check_estimators_fit_returns_self": SMOTE,
        "check_estimators_overwrite_params": SMOTE,
        "check_f_contiguous_array_estimator": SMOTE,
        "check_fit2d_1feature": SMOTE,
        "check_fit2d_1sample": SMOTE,
        "check_fit2d_predict1d": SMOTE,
        "check_fit_score_takes_y": SMOTE,
        "check_methods_sample_order_invariance": SMOTE,
        "check_methods_subset_invariance": SMOTE,
        "check_n_features_in": SMOTE,
        "check_n_features_in_after_fitting": SMOTE,
        "check_positive_only_tag_during_fit": SMOTE,
        "check_readonly_memmap_input": SMOTE,
    },
    "UnivariateFilter": {
        "check_dict_unchanged": BINARY,
        "check_dont_overwrite_parameters": BINARY,
        "check_dtype_object": BINARY,
        "check_estimators_dtypes": BINARY,
        "check_estimators_fit_returns_self": BINARY,
        "check_estimators_overwrite_params": BINARY,
        "check_f_contiguous_array_estimator": BINARY,
        "check_fit2d_1feature": BINARY,
        "check_fit2d_predict1d": BINARY,
        "check_fit_score_takes_y": BINARY,
        "check_methods_sample_order_invariance": BINARY,
        "check_methods_subset_invariance": BINARY,
        "check_n_features_in_after_fitting": BINARY,
        "check_positive_only_tag_during_fit": BINARY,
        "check_readonly_memmap_input": BINARY,
    },
}


def expected_failed_checks(est) -> dict[str, str]:
    return EXPECTED.get(type(est).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_conformance(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        check(estimator)
