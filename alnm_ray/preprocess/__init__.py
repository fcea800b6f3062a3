"""Per-image preprocessing before feature extraction.

N4 bias-field correction (ANTsPy), intensity normalisation, isotropic
resampling (image B-spline/linear, mask nearest neighbour), geometry checks
histogram standardisation learned on training images,
and an ROI crop with a margin, configurable per sequence
(:class:`PreprocessPlan`).  Presets: ``none`` and ``guo2024``.
"""

from alnm_ray.preprocess.config import (
    PRESETS,
    PreprocessConfig,
    PreprocessPlan,
    load_plan,
    stable_hash,
)
from alnm_ray.preprocess.crop import crop_roi, roi_index_bbox, roi_region_on_grid
from alnm_ray.preprocess.geometry import check_geometry, squeeze_2d
from alnm_ray.preprocess.histogram import HistogramLandmarks, HistogramStandardizer
from alnm_ray.preprocess.histogram_fit import fit_plan_histograms
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
