import numpy as np
import pytest
import SimpleITK as sitk

from alnm_ray.preprocess.config import PreprocessConfig
from alnm_ray.preprocess.pipeline import StageError, preprocess_case

from .conftest import make_pair


def test_everything_off_returns_the_inputs(pair):
    img, mask = pair
    out = preprocess_case(img, mask, PreprocessConfig())
    assert out.image is img and out.mask is mask and out.steps == []


def test_steps_run_in_order_and_give_1mm(pair):
    img, mask = pair
    cfg = PreprocessConfig(n4=True, n4_shrink_factor=2, n4_iterations=(10, 10), normalize="zscore",
                           spacing=(1.0, 1.0, 1.0), crop=True)
    out = preprocess_case(img, mask, cfg, margin_mm=3.0)
    assert out.steps == ["n4", "normalize:zscore", "resample", "crop"]
    assert out.image.GetSpacing() == (1.0, 1.0, 1.0) and out.mask.GetSize() == out.image.GetSize()
    assert set(np.unique(sitk.GetArrayFromImage(out.mask)).tolist()) == {0, 1}
    assert all(o < i * s for o, i, s in zip(out.image.GetSize(), img.GetSize(), img.GetSpacing()))
    assert out.info["roi_voxels"] > 0


def test_roi_vanishing_on_resampling_fails_in_resample_stage(rng):
    img, mask = make_pair(rng, spacing_xyz=(0.3, 0.3, 0.3), shape_zyx=(20, 20, 20))
    arr = np.zeros((20, 20, 20), np.uint8)
    arr[11, 11, 11] = 1  # footprint 3.15-3.45 mm from the origin: no 1 mm voxel centre inside
    thin = sitk.GetImageFromArray(arr)
    thin.CopyInformation(img)
    thin.SetOrigin(tuple(o + 0.0 for o in img.GetOrigin()))
    with pytest.raises(StageError) as err:
        preprocess_case(img, thin, PreprocessConfig(spacing=(1.0, 1.0, 1.0), crop=True), case="c/p/T2WI/A")
    assert err.value.stage == "resample"
    assert "expected the ROI to keep at least one voxel after resampling" in str(err.value.cause)


def test_empty_and_misaligned_masks_fail_in_geometry_stage(pair):
    img, mask = pair
    empty = sitk.Image(mask.GetSize(), sitk.sitkUInt8)
    empty.CopyInformation(mask)
    with pytest.raises(StageError) as err:
        preprocess_case(img, empty, PreprocessConfig(crop=True))
    assert err.value.stage == "geometry" and "empty mask" in str(err.value)
    moved = sitk.Image(mask)
    moved.SetSpacing((1.0, 1.0, 1.0))
    with pytest.raises(StageError, match="geometry: GeometryMismatchError"):
        preprocess_case(img, moved, PreprocessConfig())
