"""Tiny synthetic volumes with known geometry for preprocessing tests."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk


def make_pair(rng: np.random.Generator, shape_zyx=(16, 40, 44), spacing_xyz=(0.8, 0.8, 2.5),
              radius_mm: float = 6.0, center_mm=None, origin=(-12.0, 30.0, 4.0),
              direction=(1, 0, 0, 0, -1, 0, 0, 0, 1), contrast: float = 80.0):
    """A textured image (float32) and a binary ellipsoid mask (UInt8) on the same grid."""
    from scipy.ndimage import gaussian_filter

    arr = gaussian_filter(rng.normal(0.0, 1.0, shape_zyx), 1.0) * 60.0 + 300.0
    z, y, x = np.indices(shape_zyx, dtype=float)
    sx, sy, sz = spacing_xyz
    if center_mm is None:
        center_mm = (shape_zyx[2] * sx / 2, shape_zyx[1] * sy / 2, shape_zyx[0] * sz / 2)
    cx, cy, cz = center_mm
    inside = ((x * sx - cx) ** 2 + (y * sy - cy) ** 2 + (z * sz - cz) ** 2) < radius_mm ** 2
    arr = arr + contrast * inside
    img = sitk.GetImageFromArray(arr.astype(np.float32))
    img.SetSpacing(spacing_xyz)
    img.SetOrigin(origin)
    img.SetDirection(direction)
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(img)
    return img, mask


@pytest.fixture
def pair(rng):
    return make_pair(rng)
