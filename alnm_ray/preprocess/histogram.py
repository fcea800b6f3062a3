"""Histogram standardisation (Nyul & Udupa 1999; Nyul, Udupa & Zhang 2000), learned from training images.

Gu 2025 applied "histogram standardization to normalize intensity values for
consistent comparisons across different datasets" before delineation.  MRI
intensities have no fixed unit, so the method learns a *standard histogram*
from training images and maps every image onto it:

* **fit** (training images only): in each image's foreground, take the
  intensities at the landmark percentiles -- ``i_min`` (1st), the deciles
  (10th ... 90th), ``i_max`` (99th); map each image's landmarks linearly so
  that ``i_min -> s1`` and ``i_max -> s2`` (the standard range, 0 and 100);
  the mean of those mapped landmarks over the training images is the standard
  scale ``landmarks_``.
* **transform** (any image): take the image's own landmark intensities and map
  them onto ``landmarks_`` piecewise-linearly; intensities below ``i_min`` or
  above ``i_max`` continue the first / last segment's line (nothing is clipped).

The percentiles, the standard range and the default foreground (voxels above
the image mean, when no mask is given) follow TorchIO's
``HistogramStandardization`` defaults.  Because the landmarks are learned from
a cohort, the estimator is fitted on the training images of a split only and
its state travels in a bundle as JSON (:meth:`HistogramStandardizer.to_dict`),
never as a pickle.  Images whose landmark intensities tie (large flat regions)
map tied landmarks to the first of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from alnm_ray._validation import check_range, look_up_option
from alnm_ray.exceptions import ConfigError, NotFittedError, SchemaMismatchError

#: Landmark percentiles: i_min = 1st, the deciles, i_max = 99th (Nyul & Udupa; TorchIO's cutoff 0.01/0.99).
DEFAULT_PERCENTILES: tuple[float, ...] = (1.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0,
                                          90.0, 99.0)
#: Standard scale [s1, s2] that i_min and i_max map onto (TorchIO's STANDARD_RANGE).
STANDARD_RANGE: tuple[float, float] = (0.0, 100.0)
#: Voxels used when no mask is given: "mean" = above the image mean (TorchIO's default), "all".
FOREGROUNDS: tuple[str, ...] = ("mean", "all")
#: Version of the :meth:`HistogramStandardizer.to_dict` layout.
STATE_VERSION = 1


def _as_array(image: Any) -> np.ndarray:
    """Voxel values of a SimpleITK image or array-like (z, y, x for SimpleITK), as float64."""
    if hasattr(image, "GetPixelID"):
        import SimpleITK as sitk

        return sitk.GetArrayFromImage(image).astype(float)
    return np.asarray(image, dtype=float)


class HistogramStandardizer(BaseEstimator):
    """Nyul-Udupa piecewise-linear intensity standardisation.

    Args:
        percentiles: Landmark percentiles in (0, 100), strictly increasing; the
            first and last are i_min and i_max.
        standard_range: ``(s1, s2)`` that i_min and i_max map onto, s1 < s2.
        foreground: Voxels used when no mask is given: "mean" (above the
            image mean) or "all".

    Attributes:
        landmarks_: Standard-scale intensity of each landmark, shape (n_percentiles,).
        n_images_: Number of training images.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> train = [rng.gamma(2.0, s, size=(8, 16, 16)) for s in (50.0, 80.0)]
        >>> hs = HistogramStandardizer(foreground="all").fit(train)
        >>> [round(float(v)) for v in hs.landmarks_[[0, -1]]]
        [0, 100]
        >>> hs.transform(train[0]).shape
        (8, 16, 16)
    """

    def __init__(self, percentiles: Sequence[float] = DEFAULT_PERCENTILES,
                 standard_range: Sequence[float] = STANDARD_RANGE,
                 foreground: str = "mean") -> None:
        self.percentiles = percentiles
        self.standard_range = standard_range
        self.foreground = foreground

    # -- parameters -----------------------------------------------------------
    def _check_params(self) -> tuple[np.ndarray, float, float]:
        pc = np.asarray(self.percentiles, dtype=float)
        if pc.ndim != 1 or pc.size < 2 or not np.all(np.diff(pc) > 0):
            raise ConfigError(
                f"histogram: percentiles: expected at least 2 strictly increasing values in "
                f"(0, 100); got {list(self.percentiles)!r}. Use e.g. {list(DEFAULT_PERCENTILES)}.")
        check_range("histogram: percentiles[0]", float(pc[0]), 0.0, 100.0, inclusive=False)
        check_range("histogram: percentiles[-1]", float(pc[-1]), 0.0, 100.0, inclusive=False)
        s1, s2 = (float(v) for v in self.standard_range)
        if not s1 < s2:
            raise ConfigError(f"histogram: standard_range: expected (s1, s2) with s1 < s2; got "
                              f"{tuple(self.standard_range)!r}. Use e.g. {STANDARD_RANGE}.")
        look_up_option("histogram: foreground", self.foreground, FOREGROUNDS)
        return pc, s1, s2

    # -- per image ------------------------------------------------------------
    def _voxels(self, values: np.ndarray, mask: Any, what: str) -> np.ndarray:
        if mask is not None:
            m = _as_array(mask) > 0
            if m.shape != values.shape:
                raise SchemaMismatchError(
                    f"histogram: {what}: mask shape {m.shape} differs from image shape "
                    f"{values.shape}; expected the same grid. Resample the mask onto the image.")
            vox = values[m]
        elif self.foreground == "mean":
            vox = values[values > values.mean()]
        else:
            vox = values.ravel()
        vox = vox[np.isfinite(vox)]
        if vox.size == 0:
            raise SchemaMismatchError(
                f"histogram: {what}: no finite voxel in the mask/foreground; expected at least "
                "one. Check the mask, or use foreground='all'.")
        return vox

    def image_landmarks(self, image: Any, mask: Any = None, *, what: str = "image") -> np.ndarray:
        """The image's intensities at the landmark percentiles (in its mask / foreground).

        Raises:
            SchemaMismatchError: When the mask is empty or i_min == i_max.
        """
        pc, _, _ = self._check_params()
        values = self._voxels(_as_array(image), mask, what)
        marks = np.percentile(values, pc)
        if not marks[-1] > marks[0]:
            raise SchemaMismatchError(
                f"histogram: {what}: intensity at percentile {pc[0]:g} equals that at "
                f"{pc[-1]:g} ({marks[0]:g}); expected a non-constant foreground. Check that the "
                "image is not blank, or pass a mask of the tissue.")
        return marks

    # -- estimator ------------------------------------------------------------
    def fit(self, images: Iterable[Any], masks: Iterable[Any] | None = None
            ) -> "HistogramStandardizer":
        """Learn the standard landmarks from training images.

        Args:
            images: Training images (SimpleITK images or arrays).
            masks: Optional masks, one per image (non-zero = used); None uses
                the ``foreground`` rule.

        Returns:
            self

        Raises:
            SchemaMismatchError: On no image, a mask/image count mismatch, or a
                constant foreground.
        """
        _, s1, s2 = self._check_params()
        images = list(images)
        mask_list = [None] * len(images) if masks is None else list(masks)
        if not images or len(mask_list) != len(images):
            raise SchemaMismatchError(
                f"histogram: fit: expected at least one training image and one mask per image; "
                f"got {len(images)} image(s) and {len(mask_list)} mask(s).")
        scaled = []
        for i, (img, msk) in enumerate(zip(images, mask_list)):
            marks = self.image_landmarks(img, msk, what=f"training image {i}")
            scaled.append(s1 + (marks - marks[0]) / (marks[-1] - marks[0]) * (s2 - s1))
        self.landmarks_ = np.mean(scaled, axis=0)
        self.n_images_ = len(images)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "landmarks_"):
            raise NotFittedError(
                "HistogramStandardizer: not fitted yet; expected fit(training_images) before "
                "transform(). Fit on the training images of the split only.")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "landmarks_")

    def transform(self, image: Any, mask: Any = None) -> Any:
        """Map an image's intensities onto the standard scale.

        Args:
            image: SimpleITK image or array.
            mask: Optional mask selecting the voxels whose landmarks are used
                (every voxel is mapped).

        Returns:
            Same kind as ``image``: a float32 SimpleITK image with the input's
            geometry, or a float64 array of the input's shape.

        Raises:
            NotFittedError: Before fit.
            SchemaMismatchError: On an empty mask or a constant foreground.
        """
        self._check_fitted()
        values = _as_array(image)
        marks = self.image_landmarks(values, mask)
        # Tied landmarks (flat histogram regions) collapse onto the first of them.
        x, first = np.unique(marks, return_index=True)
        y = self.landmarks_[first]
        out = np.interp(values, x, y)
        lo, hi = values < x[0], values > x[-1]
        out[lo] = y[0] + (values[lo] - x[0]) * (y[1] - y[0]) / (x[1] - x[0])
        out[hi] = y[-1] + (values[hi] - x[-1]) * (y[-1] - y[-2]) / (x[-1] - x[-2])
        if hasattr(image, "GetPixelID"):
            import SimpleITK as sitk

            result = sitk.GetImageFromArray(out.astype(np.float32))
            result.CopyInformation(image)
            return result
        return out

    # -- JSON state -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Parameters and learned landmarks as plain JSON types.

        Raises:
            NotFittedError: Before fit.
        """
        self._check_fitted()
        return {"version": STATE_VERSION, "percentiles": [float(v) for v in self.percentiles],
                "standard_range": [float(v) for v in self.standard_range],
                "foreground": self.foreground, "landmarks": [float(v) for v in self.landmarks_],
                "n_images": int(self.n_images_)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HistogramStandardizer":
        """Rebuild a fitted standardiser from :meth:`to_dict` output.

        Raises:
            SchemaMismatchError: On another layout version or inconsistent lengths.
        """
        if data.get("version") != STATE_VERSION:
            raise SchemaMismatchError(
                f"histogram state: expected version {STATE_VERSION}; got {data.get('version')!r}. "
                "Refit the standardiser with this alnm-ray version.")
        est = cls(percentiles=tuple(data["percentiles"]),
                  standard_range=tuple(data["standard_range"]), foreground=data["foreground"])
        est._check_params()
        marks = np.asarray(data["landmarks"], dtype=float)
        if marks.shape != (len(est.percentiles),) or not np.all(np.diff(marks) >= 0):
            raise SchemaMismatchError(
                f"histogram state: landmarks: expected {len(est.percentiles)} non-decreasing "
                f"values, one per percentile; got {data['landmarks']!r}.")
        est.landmarks_ = marks
        est.n_images_ = int(data["n_images"])
        return est
