import numpy as np
import SimpleITK as sitk

from alnm_ray.preprocess.resample import Grid, resample_image, resample_mask, target_grid


def _centroid_mm(mask):
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(mask)
    return np.array(stats.GetCentroid(1))


def test_resampling_gives_1mm_and_a_binary_aligned_mask(pair):
    img, mask = pair
    grid = target_grid(img, (1.0, 1.0, 1.0))
    out_img, out_mask = resample_image(img, grid, "bspline"), resample_mask(mask, grid)
    assert out_img.GetSpacing() == (1.0, 1.0, 1.0) and out_mask.GetSpacing() == (1.0, 1.0, 1.0)
    assert out_img.GetDirection() == img.GetDirection() and out_img.GetOrigin() == img.GetOrigin()
    values = np.unique(sitk.GetArrayFromImage(out_mask))
    assert set(values.tolist()) == {0, 1}
    # the ROI stays where it was (within a voxel) and keeps its volume (within 15 %)
    assert np.linalg.norm(_centroid_mm(out_mask) - _centroid_mm(mask)) < 1.0
    vol = lambda m: sitk.GetArrayFromImage(m).sum() * np.prod(m.GetSpacing())  # noqa: E731
    assert abs(vol(out_mask) / vol(mask) - 1.0) < 0.15
    # the field of view is covered
    np.testing.assert_array_equal(grid.size, np.ceil(np.array(img.GetSize()) * img.GetSpacing()))


def test_sub_grid_holds_the_same_voxels(pair):
    img, _ = pair
    grid = target_grid(img, (1.0, 1.0, 1.0))
    full = sitk.GetArrayFromImage(resample_image(img, grid, "linear"))
    part = sitk.GetArrayFromImage(resample_image(img, grid.sub((3, 4, 5), (10, 11, 12)), "linear"))
    np.testing.assert_allclose(part, full[5:17, 4:15, 3:13], rtol=0, atol=1e-4)


def test_2d_image_uses_first_two_spacings():
    img = sitk.Image(50, 40, sitk.sitkFloat32)
    img.SetSpacing((0.5, 0.5))
    grid = target_grid(img, (1.0, 1.0, 1.0))
    assert grid.spacing == (1.0, 1.0) and grid.size == (25, 20)
    assert Grid.of(img).size == (50, 40)
