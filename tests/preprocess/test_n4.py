import numpy as np
import SimpleITK as sitk

from alnm_ray.preprocess.n4 import ants_to_sitk, n4_correct, sitk_to_ants


def _biased(rng, shape=(16, 40, 40)):
    z, y, x = np.indices(shape, dtype=float)
    truth = 100.0 + rng.normal(0.0, 2.0, shape)
    bias = np.exp(0.5 * (x / shape[2] - 0.5) + 0.3 * (z / shape[0] - 0.5))
    img = sitk.GetImageFromArray((truth * bias).astype(np.float32))
    img.SetSpacing((0.9, 0.9, 2.0))
    img.SetOrigin((10.0, -5.0, 3.0))
    img.SetDirection((1, 0, 0, 0, -1, 0, 0, 0, 1))
    return img


def test_n4_reduces_a_synthetic_bias_field(rng):
    img = _biased(rng)
    out = n4_correct(img, shrink_factor=2, iterations=(30, 30, 30))
    before = sitk.GetArrayFromImage(img)
    after = sitk.GetArrayFromImage(out)
    cv = lambda a: float(a.std() / a.mean())  # noqa: E731
    assert cv(before) > 0.12
    assert cv(after) < 0.5 * cv(before)
    assert out.GetOrigin() == img.GetOrigin() and out.GetSpacing() == img.GetSpacing()
    assert out.GetDirection() == img.GetDirection()


def test_non_positive_background_is_left_alone(rng):
    img = _biased(rng, shape=(16, 32, 32))
    arr = sitk.GetArrayFromImage(img)
    arr[:, :4, :] = 0.0
    holed = sitk.GetImageFromArray(arr)
    holed.CopyInformation(img)
    out = sitk.GetArrayFromImage(n4_correct(holed, shrink_factor=2))
    assert np.all(out[:, :4, :] == 0.0)
    assert out[:, 4:, :].std() / out[:, 4:, :].mean() < 0.5 * arr[:, 4:, :].std() / arr[:, 4:, :].mean()


def test_sitk_ants_round_trip_keeps_values_and_geometry(rng):
    img = _biased(rng, shape=(5, 6, 7))
    back = ants_to_sitk(sitk_to_ants(img))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(img))
    np.testing.assert_allclose(back.GetOrigin(), img.GetOrigin())
    np.testing.assert_allclose(back.GetDirection(), img.GetDirection())
