"""ROI crop: sizes, and features equal to the uncropped extraction.

Measured agreement (crop margin from ``required_margin_mm``: 8 sigma for LoG,
filter length x levels for the wavelet, + 2 voxels): max relative difference
8e-8 over 1,130 Original + Wavelet + LoG(1, 3, 5 mm) features on a 1 mm MRI-like
volume; the tests below assert < 1e-5 (exact 0 stays 0).  With a 4-sigma LoG
margin the worst feature differed by 1.2e-2, hence the 8-sigma rule.
"""

import math

import numpy as np
import pytest
import SimpleITK as sitk

from alnm_ray.extract.params import load_params, required_margin_mm
from alnm_ray.extract.radiomics import extract_case
from alnm_ray.preprocess.config import PreprocessConfig
from alnm_ray.preprocess.crop import crop_roi, roi_index_bbox, roi_region_on_grid
from alnm_ray.preprocess.pipeline import preprocess_case
from alnm_ray.preprocess.resample import Grid, target_grid

from .conftest import make_pair

#: Relative tolerance of cropped vs uncropped features (measured worst: 8e-8).
CROP_RTOL = 1e-5


def test_crop_keeps_roi_and_margin(pair):
    img, mask = pair
    start, size = roi_index_bbox(mask)
    cimg, cmask = crop_roi(img, mask, margin_mm=2.5)
    pad = [math.ceil(2.5 / s) for s in img.GetSpacing()]
    assert cimg.GetSize() == tuple(min(sz + 2 * p, full) for sz, p, full in zip(size, pad, img.GetSize()))
    assert int(sitk.GetArrayFromImage(cmask).sum()) == int(sitk.GetArrayFromImage(mask).sum())
    # physical position is kept: the crop's first voxel is where it was
    idx = [max(0, s - p) for s, p in zip(start, pad)]
    np.testing.assert_allclose(cimg.GetOrigin(), img.TransformIndexToPhysicalPoint(idx))


def test_region_on_a_resampled_grid_covers_the_roi(pair):
    img, mask = pair
    grid = target_grid(img, (1.0, 1.0, 1.0))
    start, size = roi_region_on_grid(mask, grid, 0.0)
    sub = grid.sub(start, size)
    from alnm_ray.preprocess.resample import resample_mask
    full = sitk.GetArrayFromImage(resample_mask(mask, grid)).sum()
    assert sitk.GetArrayFromImage(resample_mask(mask, sub)).sum() == full
    assert all(s < g for s, g in zip(size, grid.size))
    assert isinstance(sub, Grid)


def _compare(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    worst = 0.0
    for k, v in a.items():
        w = b[k]
        if v == 0 or w == 0 or not np.isfinite(v):
            assert (v == w) or (np.isnan(v) and np.isnan(w)), k
            continue
        worst = max(worst, abs(w / v - 1.0))
    return worst


@pytest.mark.slow
@pytest.mark.parametrize("spacing", [None, (1.0, 1.0, 1.0)])
def test_cropped_features_equal_uncropped(rng, spacing):
    img, mask = make_pair(rng, shape_zyx=(30, 80, 84), spacing_xyz=(1.0, 1.0, 2.0), radius_mm=6.0)
    params = load_params({"imageType": {"Original": {}, "Wavelet": {}, "LoG": {"sigma": [1.0, 2.0]}},
                          "featureClass": {"firstorder": None, "glcm": None, "glszm": None},
                          "setting": {"binWidth": 25}})
    margin = required_margin_mm(params, spacing or img.GetSpacing())
    base = PreprocessConfig(normalize="zscore", spacing=spacing)
    full = preprocess_case(img, mask, base)
    cropped = preprocess_case(img, mask, PreprocessConfig(normalize="zscore", spacing=spacing, crop=True),
                              margin_mm=margin)
    # the crop really is smaller in every axis, so the filters see a different field of view
    assert all(c < f for c, f in zip(cropped.image.GetSize(), full.image.GetSize()))
    a = extract_case(full.image, full.mask, params)
    b = extract_case(cropped.image, cropped.mask, params)
    assert len(a) > 150
    assert _compare(a, b) < CROP_RTOL


@pytest.mark.slow
def test_too_small_margin_changes_log_features(rng):
    """The tolerance test above can fail: a 1 mm margin visibly changes LoG features."""
    img, mask = make_pair(rng, shape_zyx=(30, 80, 84), spacing_xyz=(1.0, 1.0, 2.0), radius_mm=6.0)
    params = load_params({"imageType": {"LoG": {"sigma": [2.0]}}, "featureClass": {"firstorder": None},
                          "setting": {"binWidth": 25}})
    full = preprocess_case(img, mask, PreprocessConfig(normalize="zscore"))
    tight = preprocess_case(img, mask, PreprocessConfig(normalize="zscore", crop=True), margin_mm=1.0)
    assert _compare(extract_case(full.image, full.mask, params),
                    extract_case(tight.image, tight.mask, params)) > 1e-3
