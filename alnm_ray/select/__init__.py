"""Leakage-safe feature selection: scikit-learn estimators refitted inside every training fold.

One estimator per module; :func:`build_selection_pipeline` chains them from a
:class:`SelectionConfig` or a preset ("guo2024", "liu2025", "gu2025", "zhang2025").
"""

from alnm_ray.select.base import EMPTY_POLICIES, BaseSelector, EmptySelectionError
from alnm_ray.select.cnn1d import CNN1DFeatures
from alnm_ray.select.combat import ComBatHarmonizer
from alnm_ray.select.columns import KINDS, feature_kind, split_wide
from alnm_ray.select.config import PRESETS, STEPS, SelectionConfig
from alnm_ray.select.correlation import CorrelationFilter, abs_correlation
from alnm_ray.select.differential import DifferentialFilter
from alnm_ray.select.encode import ClinicalEncoder, needs_encoding
from alnm_ray.select.icc import (
    ICCFilter,
    ReaderRatings,
    as_reader_ratings,
    intraclass_correlation,
    reader_wide,
)
from alnm_ray.select.importance import ImportanceSelector
from alnm_ray.select.lasso import LassoCVSelector
from alnm_ray.select.mrmr import MRMRSelector, mrmr_ranking
from alnm_ray.select.mutual_info import MutualInfoSelector
from alnm_ray.select.pipeline import build_selection_pipeline, resolve_config
from alnm_ray.select.routing import KindRouter, collect_fallbacks
from alnm_ray.select.scale import ZScoreScaler
from alnm_ray.select.smote import SYNTHETIC_PREFIX, SafeSMOTE
from alnm_ray.select.univariate import UnivariateFilter

__all__ = [
    "EMPTY_POLICIES",
    "KINDS",
    "PRESETS",
    "ReaderRatings",
    "STEPS",
    "SYNTHETIC_PREFIX",
    "BaseSelector",
    "CNN1DFeatures",
    "ClinicalEncoder",
    "ComBatHarmonizer",
    "CorrelationFilter",
    "DifferentialFilter",
    "EmptySelectionError",
    "ICCFilter",
    "ImportanceSelector",
    "KindRouter",
    "LassoCVSelector",
    "MRMRSelector",
    "MutualInfoSelector",
    "SafeSMOTE",
    "SelectionConfig",
    "UnivariateFilter",
    "ZScoreScaler",
    "abs_correlation",
    "as_reader_ratings",
    "build_selection_pipeline",
    "collect_fallbacks",
    "feature_kind",
    "intraclass_correlation",
    "mrmr_ranking",
    "needs_encoding",
    "reader_wide",
    "resolve_config",
    "split_wide",
]
