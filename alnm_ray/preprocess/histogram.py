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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
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
        self._check_params()
        images = list(images)
        mask_list = [None] * len(images) if masks is None else list(masks)
        if not images or len(mask_list) != len(images):
            raise SchemaMismatchError(
                f"histogram: fit: expected at least one training image and one mask per image; "
                f"got {len(images)} image(s) and {len(mask_list)} mask(s).")
        return self.fit_landmarks([self.image_landmarks(img, msk, what=f"training image {i}")
                                   for i, (img, msk) in enumerate(zip(images, mask_list))])

    def fit_landmarks(self, image_landmarks: Iterable[ArrayLike]) -> "HistogramStandardizer":
        """Learn the standard landmarks from each training image's :meth:`image_landmarks`.

        The same result as :meth:`fit` on those images; a cohort too large to hold
        in memory measures each image's landmarks where it is read (11 numbers
        per image) and fits here.

        Args:
            image_landmarks: One row per training image, its intensities at
                ``percentiles`` (non-decreasing, first < last).

        Returns:
            self

        Raises:
            SchemaMismatchError: On no row, a row of the wrong length or a row
                whose first and last landmarks are equal.
        """
        pc, s1, s2 = self._check_params()
        rows = [np.asarray(m, dtype=float) for m in image_landmarks]
        if not rows:
            raise SchemaMismatchError("histogram: fit: expected at least one training image; got none. "
                                      "Check that the training split holds images of this sequence.")
        scaled = []
        for i, marks in enumerate(rows):
            if marks.shape != pc.shape or not marks[-1] > marks[0]:
                raise SchemaMismatchError(
                    f"histogram: fit: training image {i}: expected {pc.size} landmark intensities "
                    f"with the last above the first; got {marks.tolist()!r}. Measure them with "
                    "image_landmarks() using the same percentiles.")
            scaled.append(s1 + (marks - marks[0]) / (marks[-1] - marks[0]) * (s2 - s1))
        self.landmarks_ = np.mean(scaled, axis=0)
        self.n_images_ = len(rows)
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


@dataclass(frozen=True)
class HistogramLandmarks:
    """A fitted :class:`HistogramStandardizer`'s state, frozen, as a preprocessing config holds it.

    The ``histogram`` entry of a :class:`~alnm_ray.preprocess.config.PreprocessConfig`
    with ``normalize: histogram``; its JSON layout is
    :meth:`HistogramStandardizer.to_dict`'s, so a state saved by ``alnm-ray run``
    (``RUN/histogram/<sequence>.json``) pastes into a plan as it is.

    Args:
        landmarks: Standard-scale intensity of each landmark (non-decreasing).
        percentiles: The landmark percentiles the images were measured at.
        standard_range: ``(s1, s2)`` of the standard scale.
        foreground: Voxels measured when no mask is given (``mean``, ``all``).
        n_images: Number of training images the landmarks were learned from.

    Raises:
        SchemaMismatchError: When the values are not a fitted standardiser's state.

    Example:
        >>> hs = HistogramStandardizer(foreground="all").fit([np.arange(100.0), np.arange(50.0) ** 2])
        >>> state = HistogramLandmarks.from_estimator(hs)
        >>> HistogramLandmarks.from_dict(state.to_dict()) == state
        True
    """

    landmarks: tuple[float, ...]
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
    standard_range: tuple[float, float] = STANDARD_RANGE
    foreground: str = "mean"
    n_images: int = 1

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "landmarks", tuple(float(v) for v in self.landmarks))
        set_(self, "percentiles", tuple(float(v) for v in self.percentiles))
        lo, hi = (float(v) for v in self.standard_range)
        set_(self, "standard_range", (lo, hi))
        set_(self, "n_images", int(self.n_images))
        self.estimator()  # validates parameters and landmarks

    def estimator(self) -> HistogramStandardizer:
        """The fitted standardiser this state describes."""
        return HistogramStandardizer.from_dict(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """:meth:`HistogramStandardizer.to_dict`'s layout (plain JSON types)."""
        return {"version": STATE_VERSION, "percentiles": list(self.percentiles),
                "standard_range": list(self.standard_range), "foreground": self.foreground,
                "landmarks": list(self.landmarks), "n_images": self.n_images}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "HistogramLandmarks":
        """From :meth:`to_dict` / :meth:`HistogramStandardizer.to_dict` output.

        Raises:
            SchemaMismatchError: On a missing key, another layout version or bad landmarks.
        """
        if not isinstance(data, Mapping):
            raise SchemaMismatchError(
                f"histogram state: expected a mapping with keys {', '.join(_STATE_KEYS)}; got "
                f"{type(data).__name__}. Paste the JSON that `alnm-ray run` saved in RUN/histogram/.")
        missing = [k for k in _STATE_KEYS if k not in data]
        unknown = sorted(set(data) - set(_STATE_KEYS))
        if missing or unknown:
            raise SchemaMismatchError(
                f"histogram state: expected the keys {', '.join(_STATE_KEYS)}; got "
                f"{', '.join(sorted(map(str, data))) or 'none'} (missing: {', '.join(missing) or 'none'}; "
                f"unknown: {', '.join(unknown) or 'none'}). Paste the JSON that `alnm-ray run` saved in "
                "RUN/histogram/, or refit.")
        est = HistogramStandardizer.from_dict(dict(data))
        return cls.from_estimator(est)

    @classmethod
    def from_estimator(cls, est: HistogramStandardizer) -> "HistogramLandmarks":
        """The state of a fitted standardiser.

        Raises:
            NotFittedError: When ``est`` is not fitted.
        """
        d = est.to_dict()
        return cls(landmarks=tuple(d["landmarks"]), percentiles=tuple(d["percentiles"]),
                   standard_range=tuple(d["standard_range"]), foreground=d["foreground"],
                   n_images=d["n_images"])


_STATE_KEYS: tuple[str, ...] = ("version", "percentiles", "standard_range", "foreground", "landmarks",
                                "n_images")
