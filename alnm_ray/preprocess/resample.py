"""Resampling onto an isotropic grid (image B-spline/linear, mask nearest neighbour).

The target grid is anchored at the image's origin and keeps its direction,
so a sub-block of it (the ROI plus a margin, see :mod:`alnm_ray.preprocess.crop`)
holds exactly the same voxel centres as the full grid: cropping after
resampling and resampling straight onto the crop give identical values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

#: SimpleITK interpolators by config name.
SITK_INTERPOLATORS = {
    "bspline": sitk.sitkBSpline,
    "linear": sitk.sitkLinear,
    "nearest": sitk.sitkNearestNeighbor,
}


@dataclass(frozen=True)
class Grid:
    """A voxel grid: origin (mm), spacing (mm), size (voxels), direction (row-major)."""

    origin: tuple[float, ...]
    spacing: tuple[float, ...]
    size: tuple[int, ...]
    direction: tuple[float, ...]

    @classmethod
    def of(cls, image: sitk.Image) -> "Grid":
        """The grid of ``image``."""
        return cls(tuple(image.GetOrigin()), tuple(image.GetSpacing()), tuple(image.GetSize()),
                   tuple(image.GetDirection()))

    def sub(self, start: tuple[int, ...], size: tuple[int, ...]) -> "Grid":
        """The sub-block starting at voxel index ``start`` with ``size`` voxels."""
        d = np.array(self.direction).reshape(len(self.size), len(self.size))
        origin = np.array(self.origin) + d @ (np.array(start) * np.array(self.spacing))
        return Grid(tuple(float(o) for o in origin), self.spacing, tuple(int(s) for s in size),
                    self.direction)

    def reference(self) -> sitk.Image:
        """An empty image on this grid (for :func:`SimpleITK.Resample`)."""
        ref = sitk.Image([int(s) for s in self.size], sitk.sitkUInt8)
        ref.SetOrigin(self.origin)
        ref.SetSpacing(self.spacing)
        ref.SetDirection(self.direction)
        return ref


def target_grid(image: sitk.Image, spacing: tuple[float, ...] | None) -> Grid:
    """The grid ``image`` is resampled onto: same origin/direction, new ``spacing``.

    The new grid covers the old field of view: ``size = ceil(old_size *
    old_spacing / new_spacing)`` per axis.  A 2-D image uses the first two
    entries of a 3-value ``spacing``.

    Args:
        image: The image.
        spacing: New spacing in mm, or ``None`` to keep the image's grid.
    """
    grid = Grid.of(image)
    if spacing is None:
        return grid
    nd = image.GetDimension()
    new = tuple(float(s) for s in spacing[:nd])
    if len(new) < nd:
        new = new + grid.spacing[len(new):]
    size = tuple(max(1, int(math.ceil(n * s / t - 1e-6))) for n, s, t in zip(grid.size, grid.spacing, new))
    return Grid(grid.origin, new, size, grid.direction)


def resample_image(image: sitk.Image, grid: Grid, interpolator: str = "bspline") -> sitk.Image:
    """Resample an image onto ``grid`` (float32; outside the input: 0)."""
    return sitk.Resample(sitk.Cast(image, sitk.sitkFloat32), grid.reference(), sitk.Transform(),
                         SITK_INTERPOLATORS[interpolator], 0.0, sitk.sitkFloat32)


def resample_mask(mask: sitk.Image, grid: Grid) -> sitk.Image:
    """Resample a binary mask onto ``grid`` with nearest neighbour (stays 0/1, UInt8)."""
    return sitk.Resample(sitk.Cast(mask, sitk.sitkUInt8), grid.reference(), sitk.Transform(),
                         sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
