"""N4 bias-field correction with ANTsPy (as in the reference method).

ANTsPy and SimpleITK both keep ITK's physical-space conventions (LPS, direction
cosines), so :func:`ants.from_sitk` / :func:`ants.to_sitk` carry origin,
spacing and direction across; :func:`n4_correct` copies the input geometry back
onto the result anyway so that later mask checks compare bit-identical headers.
"""

from __future__ import annotations

import logging

import numpy as np
import SimpleITK as sitk

from alnm_ray.preprocess.config import (
    DEFAULT_N4_ITERATIONS,
    DEFAULT_N4_SHRINK,
    DEFAULT_N4_TOLERANCE,
)

logger = logging.getLogger(__name__)


def sitk_to_ants(image: sitk.Image):  # -> ants.ANTsImage
    """Convert a scalar SimpleITK image to ANTsPy (float32), keeping geometry."""
    import ants

    return ants.from_sitk(sitk.Cast(image, sitk.sitkFloat32))


def ants_to_sitk(image, reference: sitk.Image | None = None) -> sitk.Image:
    """Convert an ANTsPy image to SimpleITK (float32).

    Args:
        image: An ``ants.ANTsImage``.
        reference: When given, its origin/spacing/direction are copied onto
            the result (they are equal up to float round-off).
    """
    import ants

    out = sitk.Cast(ants.to_sitk(image), sitk.sitkFloat32)
    if reference is not None:
        out.CopyInformation(reference)
    return out


def n4_correct(image: sitk.Image, *, shrink_factor: int = DEFAULT_N4_SHRINK,
               iterations: tuple[int, ...] = DEFAULT_N4_ITERATIONS,
               tolerance: float = DEFAULT_N4_TOLERANCE,
               mask: sitk.Image | None = None) -> sitk.Image:
    """Remove a smooth multiplicative bias field with ANTsPy's N4.

    N4 models ``image = true * bias`` in log space, so it needs positive
    intensities: when the image has values <= 0 (background of some maps),
    the field is fitted on the voxels > 0 only and non-positive voxels are
    left as they are.

    Args:
        image: A 2-D or 3-D scalar image.
        shrink_factor: Down-sampling factor for fitting (ANTsPy default 4).
        iterations: Iterations per fitting level.
        tolerance: Convergence threshold.
        mask: Optional region (non-zero voxels) to fit the field on.

    Returns:
        The corrected image (float32) with ``image``'s geometry.
    """
    import ants

    arr = sitk.GetArrayViewFromImage(image)
    fit_region = arr > 0
    if mask is not None:
        fit_region &= sitk.GetArrayViewFromImage(mask) > 0
    if not fit_region.any():
        logger.warning("N4 skipped: the image has no positive voxels to fit a bias field on")
        return sitk.Cast(image, sitk.sitkFloat32)
    a_img = sitk_to_ants(image)
    a_mask = None
    if not fit_region.all():
        region = sitk.GetImageFromArray(fit_region.astype(np.float32))
        region.CopyInformation(image)
        a_mask = sitk_to_ants(region)
    corrected = ants.n4_bias_field_correction(
        a_img, mask=a_mask, shrink_factor=int(shrink_factor),
        convergence={"iters": list(iterations), "tol": float(tolerance)})
    out = ants_to_sitk(corrected, reference=image)
    if a_mask is not None:
        # Outside the fitting region N4's output is undefined; keep the input there.
        out_arr = sitk.GetArrayFromImage(out)
        out_arr[~fit_region] = arr[~fit_region]
        fixed = sitk.GetImageFromArray(out_arr)
        fixed.CopyInformation(image)
        out = fixed
    return out
