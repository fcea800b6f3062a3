import numpy as np
import pytest
import SimpleITK as sitk

from alnm_ray.exceptions import ExtractionError
from alnm_ray.preprocess.intensity import normalize_image, percentile_scale, zscore


def test_zscore_times_scale(pair):
    img, _ = pair
    out = sitk.GetArrayFromImage(zscore(img, scale=100.0))
    assert abs(out.mean()) < 1e-2 and abs(out.std() - 100.0) < 0.1
    assert normalize_image(img, "none") is img


def test_zscore_outliers_clip(pair):
    img, _ = pair
    out = sitk.GetArrayFromImage(zscore(img, scale=1.0, outliers=1.0))
    assert out.max() <= 1.0 + 1e-6 and out.min() >= -1.0 - 1e-6


def test_constant_image_is_a_clear_error():
    img = sitk.Image(4, 4, 4, sitk.sitkFloat32) + 7.0
    with pytest.raises(ExtractionError, match="constant image .*normalize: none"):
        zscore(img)


def test_percentile_maps_to_scale(pair):
    img, _ = pair
    out = sitk.GetArrayFromImage(percentile_scale(img, percentiles=(5.0, 95.0), scale=10.0))
    assert out.min() == 0.0 and out.max() == pytest.approx(10.0)
