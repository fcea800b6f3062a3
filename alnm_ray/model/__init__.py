"""Classifiers, feature sets, splits and the CV / hold-out engines (pure Python, no Ray).

``run_cv`` fits each fold's selection once and shares it across all
classifiers; ``run_holdout`` / ``run_leave_one_center_out`` implement the
paper's 7:3 protocol and per-centre external validation; post-fusion stacks an
SVM on per-modality out-of-fold probabilities.
"""

from alnm_ray.model.classifiers import (
    CLASSIFIER_NAMES,
    CLASSIFIERS,
    ClassifierSpec,
    make_classifier,
    search_space,
    to_tune_space,
)
from alnm_ray.model.cv import RESULT_COLUMNS, CVOutput, run_cv
from alnm_ray.model.cohort import Cohort, centers_from, labels_from, read_cohort
from alnm_ray.model.feature_sets import (
    DEFAULT_FEATURE_SETS,
    assemble_feature_set,
    assemble_feature_sets,
    feature_columns,
)
from alnm_ray.model.feature_spec import FeatureSetSpec
from alnm_ray.model.fitted import FittedClassifier, FittedFusion, FittedModel
from alnm_ray.model.fitting import (
    OOF_COLUMNS,
    ClassifierFit,
    FoldSelection,
    evaluate_classifiers,
    fit_predict,
    fit_selection,
    prediction_frame,
)
from alnm_ray.model.fusion import PostFusionClassifier, fit_post_fusion
from alnm_ray.model.holdout import HoldoutOutput, run_holdout, run_leave_one_center_out
from alnm_ray.model.inputs import align_sets, normalise_classifiers
from alnm_ray.model.metrics import METRICS, binary_metrics, youden_threshold
from alnm_ray.model.splits import derive_seed, holdout_split, leave_one_center_out, repeated_kfold

__all__ = [
    "CLASSIFIERS",
    "CLASSIFIER_NAMES",
    "DEFAULT_FEATURE_SETS",
    "METRICS",
    "OOF_COLUMNS",
    "RESULT_COLUMNS",
    "CVOutput",
    "ClassifierFit",
    "ClassifierSpec",
    "Cohort",
    "FeatureSetSpec",
    "FittedClassifier",
    "FittedFusion",
    "FittedModel",
    "FoldSelection",
    "HoldoutOutput",
    "PostFusionClassifier",
    "align_sets",
    "assemble_feature_set",
    "assemble_feature_sets",
    "binary_metrics",
    "centers_from",
    "derive_seed",
    "evaluate_classifiers",
    "feature_columns",
    "fit_post_fusion",
    "fit_predict",
    "fit_selection",
    "holdout_split",
    "labels_from",
    "leave_one_center_out",
    "make_classifier",
    "normalise_classifiers",
    "prediction_frame",
    "read_cohort",
    "repeated_kfold",
    "run_cv",
    "run_holdout",
    "run_leave_one_center_out",
    "search_space",
    "to_tune_space",
    "youden_threshold",
]
