"""Image/mask geometry checks and 2-D handling.

PyRadiomics compares geometry with SimpleITK's tolerance and reports a bare
ITK exception.  Checking first gives the user a message that names the case,
the property that differs, both values and the fix.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from alnm_ray.constants import GEOMETRY_TOLERANCE
from alnm_ray.exceptions import GeometryMismatchError


def _fmt(values: tuple[float, ...] | list[float]) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in values) + ")"


def check_geometry(image: sitk.Image, mask: sitk.Image, *, case: str = "case",
                   tolerance: float = GEOMETRY_TOLERANCE) -> None:
    """Check that ``mask`` lies on the same voxel grid as ``image``.

    Compares dimension, size (voxels), spacing (mm), origin (mm) and direction
    cosines; floating values must agree within ``tolerance`` (relative to the
    spacing for spacing/origin, absolute for direction cosines).

    Args:
        image: The image.
        mask: Its mask.
        case: Name of the case, used in the message.
        tolerance: Allowed difference (see above).

    Raises:
        GeometryMismatchError: Naming the case, the property, both values and
            how to fix it.

    Example:
        >>> img = sitk.Image(4, 4, 4, sitk.sitkFloat32)
        >>> check_geometry(img, sitk.Image(4, 4, 4, sitk.sitkUInt8))
    """
    fix = ("Resample the mask onto the image grid (e.g. SimpleITK Resample with nearest neighbour) "
           "or re-export it from the segmentation tool with the image as reference.")
    if image.GetDimension() != mask.GetDimension():
        raise GeometryMismatchError(
            f"{case}: expected the mask to have the image's dimension ({image.GetDimension()}-D); "
            f"found a {mask.GetDimension()}-D mask. {fix}")
    if image.GetSize() != mask.GetSize():
        raise GeometryMismatchError(
            f"{case}: expected the mask size to equal the image size {image.GetSize()} voxels (x, y, z); "
            f"found {mask.GetSize()}. {fix}")
    spacing_i, spacing_m = np.array(image.GetSpacing()), np.array(mask.GetSpacing())
    scale = float(np.max(spacing_i))
    checks = (
        ("spacing (mm)", spacing_i, spacing_m, tolerance * scale),
        ("origin (mm)", np.array(image.GetOrigin()), np.array(mask.GetOrigin()), tolerance * scale),
        ("direction", np.array(image.GetDirection()), np.array(mask.GetDirection()), tolerance),
    )
    for name, want, got, tol in checks:
        diff = float(np.max(np.abs(want - got))) if want.size else 0.0
        if diff > tol:
            raise GeometryMismatchError(
                f"{case}: expected the mask {name} to equal the image's {_fmt(list(want))} within "
                f"{tol:.3g}; found {_fmt(list(got))} (max difference {diff:.3g}). {fix}")


def singleton_axis(image: sitk.Image) -> int | None:
    """The SimpleITK axis (0=x, 1=y, 2=z) of size 1 in a 3-D image, else ``None``."""
    if image.GetDimension() != 3:
        return None
    ones = [i for i, s in enumerate(image.GetSize()) if s == 1]
    return ones[-1] if ones else None


def squeeze_2d(image: sitk.Image) -> sitk.Image:
    """Reduce a 3-D image with one slice to a 2-D image (keeping in-plane geometry).

    PyRadiomics treats true 2-D images natively (shape2D, 2-D texture, 2-D
    wavelet and LoG); a one-slice 3-D image instead gets no LoG (it needs 4
    voxels per axis) and 3-D shape features of a slab.  Mammograms stored as
    3-D NIfTI with one slice are therefore squeezed.

    Returns:
        The 2-D image, or ``image`` unchanged when it has no singleton axis.
    """
    axis = singleton_axis(image)
    if axis is None:
        return image
    size = list(image.GetSize())
    size[axis] = 0  # Extract drops an axis given size 0
    return sitk.Extract(image, size=size, index=[0, 0, 0],
                        directionCollapseToStrategy=sitk.ExtractImageFilter.DIRECTIONCOLLAPSETOSUBMATRIX)
