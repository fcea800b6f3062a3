import numpy as np
import pytest
import SimpleITK as sitk

from alnm_ray.exceptions import GeometryMismatchError
from alnm_ray.preprocess.geometry import check_geometry, singleton_axis, squeeze_2d


def test_same_grid_passes(pair):
    img, mask = pair
    check_geometry(img, mask, case="c/p1/T2WI/A")


def test_spacing_mismatch_message_has_four_parts(pair):
    img, mask = pair
    mask.SetSpacing((0.8, 0.8, 3.0))
    with pytest.raises(GeometryMismatchError) as err:
        check_geometry(img, mask, case="c/p1/T2WI/A")
    text = str(err.value)
    assert text.startswith("c/p1/T2WI/A:")                      # which
    assert "expected the mask spacing (mm) to equal the image's (0.8, 0.8, 2.5)" in text  # expected
    assert "found (0.8, 0.8, 3)" in text                         # found
    assert "Resample the mask onto the image grid" in text       # fix


def test_size_and_origin_mismatch(pair):
    img, mask = pair
    with pytest.raises(GeometryMismatchError, match="mask size to equal the image size"):
        check_geometry(img, sitk.Image(3, 3, 3, sitk.sitkUInt8))
    shifted = sitk.Image(mask)
    shifted.SetOrigin((0.0, 0.0, 0.0))
    with pytest.raises(GeometryMismatchError, match=r"origin \(mm\)"):
        check_geometry(img, shifted)


def test_squeeze_single_slice_keeps_in_plane_geometry():
    arr = np.arange(30, dtype=np.float32).reshape(1, 5, 6)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.1, 0.2, 1.0))
    img.SetOrigin((3.0, 4.0, 5.0))
    assert singleton_axis(img) == 2
    flat = squeeze_2d(img)
    assert flat.GetDimension() == 2 and flat.GetSize() == (6, 5)
    assert flat.GetSpacing() == (0.1, 0.2) and flat.GetOrigin() == (3.0, 4.0)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(flat), arr[0])
    assert squeeze_2d(flat) is flat
