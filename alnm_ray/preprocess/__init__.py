"""Per-image preprocessing before feature extraction.

N4 bias-field correction (ANTsPy), intensity normalisation, isotropic
resampling (image B-spline/linear, mask nearest neighbour), geometry checks
histogram standardisation learned on training images,
and an ROI crop with a margin, configurable per sequence
(:class:`PreprocessPlan`).  Presets: ``none`` and ``guo2024``.
"""

from typing import TYPE_CHECKING, Any

from alnm_ray.preprocess.config import (
    PRESETS,
    PreprocessConfig,
    PreprocessPlan,
    load_plan,
    stable_hash,
)
from alnm_ray.preprocess.crop import crop_roi, roi_index_bbox, roi_region_on_grid
from alnm_ray.preprocess.geometry import check_geometry, squeeze_2d
from alnm_ray.preprocess.intensity import normalize_image, percentile_scale, zscore
from alnm_ray.preprocess.n4 import ants_to_sitk, n4_correct, sitk_to_ants
from alnm_ray.preprocess.pipeline import (
    STAGES,
    PreprocessResult,
    StageError,
    histogram_input,
    preprocess_case,
    stage,
)
from alnm_ray.preprocess.resample import Grid, resample_image, resample_mask, target_grid

if TYPE_CHECKING:
    from alnm_ray.preprocess.histogram import HistogramLandmarks, HistogramStandardizer
    from alnm_ray.preprocess.histogram_fit import fit_plan_histograms

#: Names loaded on first use: the histogram modules import scikit-learn, which extraction
#: without histogram standardisation never needs (≈ 0.6 s of every `alnm-ray extract`).
_LAZY = {"HistogramLandmarks": "alnm_ray.preprocess.histogram",
         "HistogramStandardizer": "alnm_ray.preprocess.histogram",
         "fit_plan_histograms": "alnm_ray.preprocess.histogram_fit"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "PRESETS",
    "STAGES",
    "Grid",
    "HistogramLandmarks",
    "HistogramStandardizer",
    "PreprocessConfig",
    "PreprocessPlan",
    "PreprocessResult",
    "StageError",
    "ants_to_sitk",
    "check_geometry",
    "crop_roi",
    "fit_plan_histograms",
    "histogram_input",
    "load_plan",
    "n4_correct",
    "normalize_image",
    "percentile_scale",
    "preprocess_case",
    "resample_image",
    "resample_mask",
    "roi_index_bbox",
    "roi_region_on_grid",
    "sitk_to_ants",
    "squeeze_2d",
    "stable_hash",
    "stage",
    "target_grid",
    "zscore",
]
