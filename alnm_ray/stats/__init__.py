"""Evaluation statistics for binary risk predictions (vectorised numpy/scipy).

Discrimination (AUC with DeLong and stratified-bootstrap intervals, DeLong
tests), threshold metrics and the Youden threshold, reclassification (NRI,
IDI), calibration (Brier, intercept/slope, Hosmer-Lemeshow, curve) and
decision curves.  :func:`evaluate_models` bundles them into the document
``alnm-ray compare`` writes.

Conventions: outcomes are 0/1 (1 = event); a patient is predicted positive
when ``p >= threshold``; undefined ratios are NaN (``null`` in JSON); bad
input raises :class:`InvalidPredictionsError` with a four-part message.
"""

from alnm_ray.stats.checks import InvalidPredictionsError, check_labels, check_probabilities
from alnm_ray.stats.agreement import (
    KappaResult,
    McNemarResult,
    cohen_kappa,
    mcnemar_test,
    reader_study,
)
from alnm_ray.stats.auc import BootstrapCI, bootstrap_auc_ci, roc_auc, roc_confidence_band, roc_curve
from alnm_ray.stats.calibration import (
    CalibrationCurve,
    HosmerLemeshow,
    Recalibration,
    brier_score,
    calibration_curve,
    calibration_intercept_slope,
    hosmer_lemeshow,
)
from alnm_ray.stats.decision import (
    DEFAULT_DCA_THRESHOLDS,
    ClinicalImpact,
    DecisionCurve,
    clinical_impact,
    decision_curve,
    net_benefit,
    treat_all_net_benefit,
)
from alnm_ray.stats.delong import (
    DeLongAUC,
    DeLongTest,
    delong_ci,
    delong_covariance,
    delong_test,
    delong_unpaired_test,
)
from alnm_ray.stats.logistic import ClinicalLogisticModel, LogisticFitError, Term
from alnm_ray.stats.nomogram import Nomogram, NomogramAxis, NomoRiskGroups
from alnm_ray.stats.reclassification import (
    IDIResult,
    NRIResult,
    categorical_nri,
    continuous_nri,
    idi,
)
from alnm_ray.stats.scores import LinearScore
from alnm_ray.stats.summary import (
    DEFAULT_NB_THRESHOLDS,
    evaluate_models,
    load_compare_schema,
    validate_compare_report,
)
from alnm_ray.stats.text import format_compare_table
from alnm_ray.stats.threshold import (
    ThresholdMetrics,
    YoudenResult,
    confusion_metrics,
    youden_threshold,
)

__all__ = [
    "DEFAULT_DCA_THRESHOLDS",
    "DEFAULT_NB_THRESHOLDS",
    "BootstrapCI",
    "CalibrationCurve",
    "ClinicalImpact",
    "ClinicalLogisticModel",
    "DeLongAUC",
    "DeLongTest",
    "DecisionCurve",
    "HosmerLemeshow",
    "IDIResult",
    "InvalidPredictionsError",
    "KappaResult",
    "LinearScore",
    "LogisticFitError",
    "McNemarResult",
    "NRIResult",
    "NomoRiskGroups",
    "Nomogram",
    "NomogramAxis",
    "Recalibration",
    "Term",
    "ThresholdMetrics",
    "YoudenResult",
    "bootstrap_auc_ci",
    "brier_score",
    "calibration_curve",
    "calibration_intercept_slope",
    "categorical_nri",
    "check_labels",
    "check_probabilities",
    "clinical_impact",
    "cohen_kappa",
    "confusion_metrics",
    "continuous_nri",
    "decision_curve",
    "delong_ci",
    "delong_covariance",
    "delong_test",
    "delong_unpaired_test",
    "evaluate_models",
    "format_compare_table",
    "hosmer_lemeshow",
    "idi",
    "load_compare_schema",
    "mcnemar_test",
    "net_benefit",
    "reader_study",
    "roc_auc",
    "roc_confidence_band",
    "roc_curve",
    "treat_all_net_benefit",
    "validate_compare_report",
    "youden_threshold",
]
