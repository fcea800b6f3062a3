"""Per-image intensity normalisation (whole-image statistics, before cropping).

These are per-image steps with no learned state, so they run outside any CV
fold (cohort-level harmonisation would be an estimator instead).  Statistics
use every voxel of the image, so the ROI crop that follows does not change
them.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from alnm_ray.exceptions import ExtractionError
from alnm_ray.preprocess.config import DEFAULT_NORMALIZE_SCALE


def zscore(image: sitk.Image, *, scale: float = DEFAULT_NORMALIZE_SCALE,
           outliers: float | None = None) -> sitk.Image:
    """``(x - mean) / sd * scale`` over the whole image.

    The same transform as PyRadiomics's ``normalize`` setting (which also
    uses SimpleITK's ``Normalize``), done here so that it runs before the crop.

    Args:
        image: Scalar image.
        scale: Multiplier after standardising (unitless).
        outliers: Clip standardised values to +- this many SDs first (``None``: no clip).

    Returns:
        A float32 image with ``image``'s geometry.

    Raises:
        ExtractionError: When the image is constant (SD 0): z-scores are undefined.
    """
    arr = sitk.GetArrayViewFromImage(image)
    sd = float(np.std(arr, dtype=np.float64))
    if not np.isfinite(sd) or sd == 0.0:
        raise ExtractionError(
            f"zscore normalisation: expected an image with varying intensities; found a constant image "
            f"(value {float(arr.flat[0]) if arr.size else float('nan'):g}). Check the file, or set "
            "normalize: none for this sequence.")
    out = sitk.Normalize(sitk.Cast(image, sitk.sitkFloat64))
    if outliers is not None:
        out = sitk.Clamp(out, lowerBound=-float(outliers), upperBound=float(outliers))
    return sitk.Cast(out * float(scale), sitk.sitkFloat32)


def percentile_scale(image: sitk.Image, *, percentiles: tuple[float, float] = (1.0, 99.0),
                     scale: float = DEFAULT_NORMALIZE_SCALE) -> sitk.Image:
    """Clip to the ``percentiles`` and map them linearly to ``0 .. scale``.

    Raises:
        ExtractionError: When both percentiles are equal (nearly constant image).
    """
    arr = sitk.GetArrayFromImage(image).astype(np.float64)
    lo, hi = np.percentile(arr, percentiles)
    if hi <= lo:
        raise ExtractionError(
            f"percentile normalisation: expected percentile {percentiles[1]:g} > percentile "
            f"{percentiles[0]:g}; found both {lo:g}. Widen normalize_percentiles or use zscore.")
    out_arr = (np.clip(arr, lo, hi) - lo) / (hi - lo) * float(scale)
    out = sitk.GetImageFromArray(out_arr.astype(np.float32))
    out.CopyInformation(image)
    return out


def normalize_image(image: sitk.Image, method: str, *, scale: float = DEFAULT_NORMALIZE_SCALE,
                    outliers: float | None = None,
                    percentiles: tuple[float, float] = (1.0, 99.0)) -> sitk.Image:
    """Apply ``method`` (``none``, ``zscore``, ``percentile``)."""
    if method == "none":
        return image
    if method == "zscore":
        return zscore(image, scale=scale, outliers=outliers)
    if method == "percentile":
        return percentile_scale(image, percentiles=percentiles, scale=scale)
    raise ValueError(f"unknown normalisation {method!r}")  # config validation prevents this
