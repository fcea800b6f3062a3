"""Nyul-Udupa histogram standardisation: landmarks, scanner-scale invariance, train-only fitting, JSON state."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from alnm_ray.exceptions import ConfigError, NotFittedError, SchemaMismatchError
from alnm_ray.preprocess.histogram import DEFAULT_PERCENTILES, HistogramStandardizer


def _volume(rng, scale, offset=0.0, shape=(12, 24, 24)):
    """A gamma-distributed 'tissue' block (values > 0) with an arbitrary scanner scale."""
    return offset + scale * rng.gamma(2.0, 1.0, size=shape)


def test_training_landmarks_span_the_standard_range(rng):
    train = [_volume(rng, s) for s in (40.0, 90.0, 150.0)]
    hs = HistogramStandardizer(foreground="all").fit(train)
    assert hs.n_images_ == 3 and hs.landmarks_.shape == (len(DEFAULT_PERCENTILES),)
    assert hs.landmarks_[0] == pytest.approx(0.0) and hs.landmarks_[-1] == pytest.approx(100.0)
    assert np.all(np.diff(hs.landmarks_) > 0)
    # Each image's own landmarks land on the standard scale after the mapping.
    for img in train:
        out = hs.transform(img)
        np.testing.assert_allclose(np.percentile(out, DEFAULT_PERCENTILES), hs.landmarks_, atol=0.05)


def test_landmark_intensities_map_exactly_and_between_them_linearly(rng):
    img = _volume(rng, 70.0)
    hs = HistogramStandardizer(foreground="all").fit([_volume(rng, 30.0), _volume(rng, 200.0)])
    marks = hs.image_landmarks(img)
    probe = np.r_[marks, (marks[3] + marks[4]) / 2, marks[0] - 10.0, marks[-1] + 10.0]
    # Append the probe to the image (its landmarks barely move) and read the mapped values back.
    both = np.r_[img.ravel(), probe]
    got = hs.transform(both)[-probe.size:]
    marks_both = hs.image_landmarks(both)
    L = hs.landmarks_
    slope_lo = (L[1] - L[0]) / (marks_both[1] - marks_both[0])
    slope_hi = (L[-1] - L[-2]) / (marks_both[-1] - marks_both[-2])
    expected = np.interp(probe[: marks.size + 1], marks_both, L)
    np.testing.assert_allclose(got[: marks.size + 1], expected, rtol=1e-12)
    assert got[-2] == pytest.approx(L[0] + (probe[-2] - marks_both[0]) * slope_lo)  # extrapolated, not clipped
    assert got[-1] == pytest.approx(L[-1] + (probe[-1] - marks_both[-1]) * slope_hi)


def test_scanner_scale_and_offset_are_removed(rng):
    hs = HistogramStandardizer(foreground="all").fit([_volume(rng, 50.0), _volume(rng, 120.0)])
    img = _volume(rng, 1.0)
    np.testing.assert_allclose(hs.transform(7.5 * img + 300.0), hs.transform(img), rtol=1e-9, atol=1e-9)


def test_learned_from_the_training_images_only(rng):
    train = [_volume(rng, 60.0), _volume(rng, 80.0)]
    test_img = rng.lognormal(3.0, 1.0, size=(12, 24, 24))  # a differently shaped histogram
    hs = HistogramStandardizer(foreground="all").fit(train)
    before = hs.landmarks_.copy()
    hs.transform(test_img)
    np.testing.assert_array_equal(hs.landmarks_, before)  # transform learns nothing
    with_test = HistogramStandardizer(foreground="all").fit([*train, test_img])
    assert not np.allclose(with_test.landmarks_, before)  # what fit sees is what it learns


def test_masks_and_the_default_foreground(rng):
    img = _volume(rng, 100.0)
    img[:, :, :12] = 0.0  # background
    mask = (img > 0).astype(np.uint8)
    by_mask = HistogramStandardizer().fit([img], [mask])
    by_mean = HistogramStandardizer(foreground="mean").fit([img])
    by_all = HistogramStandardizer(foreground="all").fit([img])
    marks_mask = np.percentile(img[mask > 0], DEFAULT_PERCENTILES)
    np.testing.assert_allclose(by_mask.landmarks_,
                               (marks_mask - marks_mask[0]) / (marks_mask[-1] - marks_mask[0]) * 100)
    assert not np.allclose(by_mean.landmarks_, by_all.landmarks_)
    with pytest.raises(SchemaMismatchError, match="mask shape .* differs from image shape"):
        HistogramStandardizer().fit([img], [mask[:, :, :5]])
    with pytest.raises(SchemaMismatchError, match="no finite voxel"):
        HistogramStandardizer().fit([img], [np.zeros_like(mask)])


def test_simpleitk_images_keep_their_geometry(rng):
    arr = _volume(rng, 90.0).astype(np.float32)
    image = sitk.GetImageFromArray(arr)
    image.SetSpacing((0.7, 0.7, 3.0))
    image.SetOrigin((10.0, -5.0, 2.0))
    hs = HistogramStandardizer(foreground="all").fit([image])
    out = hs.transform(image)
    assert isinstance(out, sitk.Image) and out.GetPixelID() == sitk.sitkFloat32
    assert out.GetSpacing() == image.GetSpacing() and out.GetOrigin() == image.GetOrigin()
    np.testing.assert_allclose(sitk.GetArrayFromImage(out), hs.transform(arr), rtol=1e-5, atol=1e-3)


def test_json_round_trip_gives_the_same_mapping(rng):
    hs = HistogramStandardizer(percentiles=(2, 25, 50, 75, 98), standard_range=(0, 1000),
                               foreground="all").fit([_volume(rng, 40.0), _volume(rng, 70.0)])
    state = json.loads(json.dumps(hs.to_dict()))
    again = HistogramStandardizer.from_dict(state)
    img = _volume(rng, 55.0)
    np.testing.assert_array_equal(again.transform(img), hs.transform(img))
    assert again.get_params() == {"percentiles": (2, 25, 50, 75, 98), "standard_range": (0, 1000),
                                  "foreground": "all"}
    with pytest.raises(SchemaMismatchError, match="expected version 1"):
        HistogramStandardizer.from_dict({**state, "version": 2})
    with pytest.raises(SchemaMismatchError, match="expected 5 non-decreasing values"):
        HistogramStandardizer.from_dict({**state, "landmarks": [0, 1]})


def test_errors_name_the_fix(rng):
    with pytest.raises(NotFittedError, match="Fit on the training images"):
        HistogramStandardizer().transform(_volume(rng, 1.0))
    with pytest.raises(NotFittedError):
        HistogramStandardizer().to_dict()
    with pytest.raises(ConfigError, match="strictly increasing"):
        HistogramStandardizer(percentiles=(10, 5, 90)).fit([_volume(rng, 1.0)])
    with pytest.raises(ConfigError, match="standard_range"):
        HistogramStandardizer(standard_range=(100, 0)).fit([_volume(rng, 1.0)])
    with pytest.raises(ConfigError, match="Did you mean 'mean'"):
        HistogramStandardizer(foreground="Mean ").fit([_volume(rng, 1.0)])
    with pytest.raises(SchemaMismatchError, match="non-constant foreground"):
        HistogramStandardizer(foreground="all").fit([np.full((4, 4, 4), 3.0)])


def test_fit_landmarks_equals_fit_and_names_a_bad_row():
    from alnm_ray.exceptions import SchemaMismatchError

    rng = np.random.default_rng(1)
    imgs = [rng.gamma(2.0, s, size=(6, 10, 10)) for s in (40.0, 70.0, 120.0)]
    a = HistogramStandardizer().fit(imgs)
    b = HistogramStandardizer().fit_landmarks([HistogramStandardizer().image_landmarks(i) for i in imgs])
    np.testing.assert_allclose(a.landmarks_, b.landmarks_)
    assert b.n_images_ == 3
    with pytest.raises(SchemaMismatchError, match="training image 1"):
        HistogramStandardizer().fit_landmarks([np.arange(11.0), np.zeros(11)])
