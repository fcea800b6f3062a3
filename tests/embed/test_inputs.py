"""Lesion crop -> network input: resize, z-score, 2-D lift."""

from __future__ import annotations

import numpy as np
import pytest

from alnm_ray.embed.config import EmbedConfig
from alnm_ray.embed.inputs import input_shape, is_two_d, lift_2d, resize, to_network_input, zscore
from alnm_ray.exceptions import ExtractionError


def test_three_d_crop_is_resized_to_the_grid_and_standardised(rng: np.random.Generator) -> None:
    cfg = EmbedConfig(grid=(16, 20, 24))
    out = to_network_input(rng.normal(50, 5, size=(9, 31, 40)), cfg)
    assert out.shape == (16, 20, 24) and out.dtype == np.float32
    assert abs(float(out.mean())) < 1e-5 and abs(float(out.std()) - 1) < 1e-4


@pytest.mark.parametrize("shape", [(30, 22), (1, 30, 22)])
def test_two_d_crop_is_lifted_to_a_thin_constant_slab(shape: tuple[int, ...], rng: np.random.Generator) -> None:
    cfg = EmbedConfig(grid=(16, 16, 16), lift_depth=4)
    out = to_network_input(rng.normal(size=shape), cfg)
    assert out.shape == (4, 16, 16) == input_shape(cfg, two_d=True)
    for z in range(1, 4):
        np.testing.assert_array_equal(out[z], out[0])


def test_resize_keeps_a_linear_ramp_linear() -> None:
    ramp = np.tile(np.linspace(0, 1, 8, dtype=np.float32), (8, 8, 1))
    out = resize(ramp, (8, 8, 16), mode="trilinear", anti_aliasing=False)
    diffs = np.diff(out[4, 4, 2:-2])
    assert np.allclose(diffs, diffs.mean(), atol=1e-5) and diffs.mean() > 0


@pytest.mark.parametrize("shape", [(70, 70, 70), (10, 70, 20)])
def test_resize_keeps_a_constant_crop_constant(shape: tuple[int, ...]) -> None:
    """MONAI's anti-aliasing pads with zeros and darkens borders; ours must not."""
    out = resize(np.full(shape, 50.0), (32, 32, 32), anti_aliasing=True)
    np.testing.assert_allclose(out, 50.0, rtol=1e-6)
    with pytest.raises(ExtractionError, match="constant crop"):
        to_network_input(np.full(shape, 50.0), EmbedConfig(grid=32))


def test_anti_aliasing_suppresses_a_checkerboard() -> None:
    z, y, x = np.mgrid[:60, :60, :60]
    board = ((z + y + x) % 2).astype(np.float32)
    # shrinking 3-fold samples voxel centres: without smoothing the pattern aliases at full contrast
    assert float(resize(board, (20, 20, 20), anti_aliasing=False).std()) > 0.4
    assert float(resize(board, (20, 20, 20), anti_aliasing=True).std()) < 0.01


def test_constant_crop_is_a_case_error() -> None:
    with pytest.raises(ExtractionError, match="P001/T2WI: expected intensity variation.*constant crop"):
        zscore(np.full((4, 4, 4), 7.0), case="P001/T2WI")


def test_non_finite_crop_is_a_case_error() -> None:
    arr = np.ones((4, 4, 4))
    arr[0, 0, 0] = np.nan
    with pytest.raises(ExtractionError, match="1 NaN/inf voxel"):
        zscore(arr)


def test_empty_crop_is_a_case_error() -> None:
    with pytest.raises(ExtractionError, match="non-empty 2-D or 3-D"):
        to_network_input(np.zeros((0, 4, 4)), EmbedConfig(grid=16))


def test_helpers() -> None:
    assert is_two_d(np.zeros((5, 5))) and is_two_d(np.zeros((1, 5, 5))) and not is_two_d(np.zeros((2, 5, 5)))
    assert lift_2d(np.ones((3, 2)), 5).shape == (5, 3, 2)
