"""Turning one case's lesion crop into the network's input volume.

Order of operations (every step is per image; nothing is learned from the
cohort, so nothing leaks across folds):

1. the sequence's preprocessing (N4, normalisation, resampling) and the crop
   to the mask's bounding box plus ``margin_mm`` on every side, both done by
   :mod:`alnm_ray.preprocess` (see :func:`alnm_ray.embed.cases.load_crop`);
2. resize of the crop to the grid with MONAI ``Resize`` (trilinear).  Axes
   that shrink are first smoothed with a Gaussian of SD ``(factor - 1) / 2``
   voxels (scikit-image's rule) by :func:`scipy.ndimage.gaussian_filter` with
   edge-replicating borders; MONAI's own anti-aliasing pads with zeros, which
   darkens the crop's border (a constant 70³ crop shrunk to 32³ came out with
   SD 1.8 instead of 0).  Each axis is scaled on its own, so
   the lesion's aspect ratio is not kept: the network sees the ROI filling the
   grid, which is what the reference study's fixed-size crops do;
3. z-score over all voxels of the resized crop (mean 0, SD 1).  A constant
   crop has no SD and is an error for that case, not a silent division by one.

**2-D images** (mammograms, ultrasound) have no depth.  The 2-D crop is resized
to the grid's ``(H, W)`` and repeated ``lift_depth`` times along z, giving a
thin ``(lift_depth, H, W)`` slab that is constant along z.  A 3-D kernel then
acts as a 2-D kernel summed over its depth taps, which is how 2-D inputs are
usually fed to 3-D pretrained networks.  The slab is thinner than a 3-D input,
so the actor runs 2-D and 3-D cases of one batch as separate forward passes.

**2-D extractors** (``resnet18_2d``, ``vgg19_2d``) take the 2-D crop itself,
resized to ``grid_2d`` (H, W) and z-scored ("normalized and standardized"
in Liu et al.: a min-max scaling followed by a z-score is the z-score, both
being affine).  They refuse a 3-D crop (a per-case error naming the fix:
map that sequence to ``resnet18_3d``); the 3-D extractor lifts 2-D crops.
"""

from __future__ import annotations

import numpy as np

from alnm_ray.embed.config import EmbedConfig
from alnm_ray.embed.extractors import EXTRACTORS
from alnm_ray.exceptions import ExtractionError

#: Below this SD (input units, plus a float32 round-off allowance relative to
#: the mean) a crop is treated as constant.
MIN_STD = 1e-8
MIN_REL_STD = 1e-6
#: MONAI's 2-D name for trilinear interpolation.
_MODE_2D = {"trilinear": "bilinear", "area": "area", "nearest": "nearest"}


def is_two_d(array: np.ndarray) -> bool:
    """True for a 2-D array or a 3-D array holding a single slice (z size 1)."""
    return array.ndim == 2 or (array.ndim == 3 and array.shape[0] == 1)


def input_shape(config: EmbedConfig, two_d: bool, sequence: str | None = None) -> tuple[int, ...]:
    """Shape of the network input: ``(D, H, W)`` for a 3-D or a lifted 2-D case, ``(H, W)`` for a 2-D extractor."""
    if EXTRACTORS[config.extractor_for(sequence)].spatial_dims == 2:
        return tuple(config.grid_2d)
    d, h, w = config.grid
    return (config.lift_depth, h, w) if two_d else (d, h, w)


def resize(array: np.ndarray, size: tuple[int, ...], *, mode: str = "trilinear",
           anti_aliasing: bool = True) -> np.ndarray:
    """Resize a 2-D or 3-D array to ``size`` with MONAI ``Resize``.

    Args:
        array: ``(H, W)`` or ``(D, H, W)`` values.
        size: Target shape, same number of axes.
        mode: ``trilinear`` (bilinear for 2-D), ``area`` or ``nearest``.
        anti_aliasing: Gaussian smoothing (edge-replicating) on axes that shrink.

    Returns:
        float32 array of shape ``size``.
    """
    import torch
    from monai.transforms import Resize
    from scipy.ndimage import gaussian_filter

    arr = np.asarray(array, dtype=np.float32)
    if arr.ndim != len(size):
        raise ValueError(f"resize: expected a {len(size)}-D array for size {size}; got shape {arr.shape}.")
    mode = _MODE_2D[mode] if arr.ndim == 2 else mode
    if anti_aliasing and mode != "nearest":
        sigma = [max(0.0, (n / int(s) - 1.0) / 2.0) for n, s in zip(arr.shape, size)]
        if any(sigma):
            arr = gaussian_filter(arr, sigma=sigma, mode="nearest").astype(np.float32)
    out = Resize(tuple(int(s) for s in size), mode=mode, anti_aliasing=False)(torch.from_numpy(arr[None].copy()))
    return np.asarray(out[0].numpy(), dtype=np.float32)


def zscore(array: np.ndarray, *, case: str = "case") -> np.ndarray:
    """Standardise to mean 0 and SD 1 over all voxels.

    Raises:
        ExtractionError: When the array is constant or holds NaN/inf.
    """
    arr = np.asarray(array, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ExtractionError(
            f"{case}: expected finite intensities in the lesion crop; found "
            f"{int((~np.isfinite(arr)).sum())} NaN/inf voxel(s). Check the image file and preprocessing."
        )
    mean, std = float(arr.mean()), float(arr.std())
    if std < MIN_STD + MIN_REL_STD * abs(mean):
        raise ExtractionError(
            f"{case}: expected intensity variation in the lesion crop; found a constant crop "
            f"(value {mean:g}). Check that the mask lies on the lesion and the image is not blank."
        )
    return ((arr - mean) / std).astype(np.float32)


def lift_2d(plane: np.ndarray, depth: int) -> np.ndarray:
    """Repeat a ``(H, W)`` plane ``depth`` times along a new leading z axis."""
    return np.repeat(np.asarray(plane, dtype=np.float32)[None], int(depth), axis=0)


def to_network_input(crop: np.ndarray, config: EmbedConfig, *, case: str = "case",
                     sequence: str | None = None) -> np.ndarray:
    """Resize, normalise and (for 2-D crops into the 3-D extractor) lift a lesion crop.

    Args:
        crop: The preprocessed crop, numpy order: ``(D, H, W)``, ``(1, H, W)``
            or ``(H, W)``.
        config: Grids, lift depth, interpolation and the extractor per sequence.
        case: Case label for messages.
        sequence: The case's sequence (selects its extractor; ``None``: ``config.extractor``).

    Returns:
        float32 array, z-scored: ``(D, H, W)`` (``config.grid``) for 3-D
        crops and ``(lift_depth, H, W)`` for 2-D ones into ``resnet18_3d``;
        ``grid_2d`` ``(H, W)`` for a 2-D extractor.

    Raises:
        ExtractionError: For an empty, constant or non-finite crop, or a 3-D
            crop for a 2-D extractor.

    Example:
        >>> cfg = EmbedConfig(grid=(16, 16, 16), lift_depth=4)
        >>> to_network_input(np.arange(100.0).reshape(10, 10), cfg).shape
        (4, 16, 16)
        >>> to_network_input(np.arange(100.0).reshape(10, 10), cfg.with_(extractor="vgg19_2d", grid_2d=32)).shape
        (32, 32)
    """
    arr = np.asarray(crop)
    if arr.size == 0 or arr.ndim not in (2, 3):
        raise ExtractionError(
            f"{case}: expected a non-empty 2-D or 3-D lesion crop; got shape {arr.shape}. "
            "Check that the mask is not empty and overlaps the image."
        )
    two_d = is_two_d(arr)
    extractor = EXTRACTORS[config.extractor_for(sequence)]
    if extractor.spatial_dims == 2:
        if not two_d:
            raise ExtractionError(
                f"{case}: the {extractor.name} extractor expects a 2-D image (H, W) or a single slice; "
                f"got a 3-D crop of shape {arr.shape}. Map this sequence to resnet18_3d "
                f"(sequence_extractors: {{{sequence or 'SEQUENCE'}: resnet18_3d}}) or give it a 2-D image."
            )
        plane = arr if arr.ndim == 2 else arr[0]
        plane = resize(plane, config.grid_2d, mode=config.interpolation, anti_aliasing=config.anti_aliasing)
        return zscore(plane, case=case)
    if two_d:
        plane = arr if arr.ndim == 2 else arr[0]
        plane = resize(plane, config.grid[1:], mode=config.interpolation, anti_aliasing=config.anti_aliasing)
        return lift_2d(zscore(plane, case=case), config.lift_depth)
    vol = resize(arr, config.grid, mode=config.interpolation, anti_aliasing=config.anti_aliasing)
    return zscore(vol, case=case)
