"""One case's preprocessing: geometry check -> N4 -> normalise -> resample -> crop.

With ``normalize: histogram`` the order is N4 -> resample -> histogram map ->
crop (Gu 2025's order): the whole image is resampled, its landmarks are
measured on it, and the crop follows.  :func:`histogram_input` gives the
image the landmarks are measured on, for fitting them on training images.

Every step runs under a stage name; a failure is re-raised as
:class:`StageError` carrying the stage and the original exception, which the
extraction job turns into an ``errors`` row.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from alnm_ray.exceptions import ExtractionError, StageError
from alnm_ray.preprocess.config import PreprocessConfig
from alnm_ray.preprocess.crop import crop_to_region, roi_index_bbox, roi_region_on_grid
from alnm_ray.preprocess.geometry import check_geometry
from alnm_ray.preprocess.intensity import normalize_image
from alnm_ray.preprocess.n4 import n4_correct
from alnm_ray.preprocess.resample import Grid, resample_image, resample_mask, target_grid

logger = logging.getLogger(__name__)

#: Stage names, in pipeline order, as written to the ``errors`` table.
STAGES: tuple[str, ...] = ("read", "geometry", "n4", "normalize", "resample", "crop", "extract")


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Run a block as stage ``name``: exceptions become :class:`StageError`."""
    try:
        yield
    except StageError:
        raise
    except Exception as err:  # noqa: BLE001 - every failure is recorded with its stage
        raise StageError(name, err) from err


@dataclass
class PreprocessResult:
    """Image and mask ready for PyRadiomics, plus what was done.

    Attributes:
        image: Preprocessed image.
        mask: Binary UInt8 mask on the image's grid.
        steps: Names of the steps applied, in order.
        info: Sizes (voxels) and spacings (mm) before/after, ROI voxel count.
    """

    image: sitk.Image
    mask: sitk.Image
    steps: list[str] = field(default_factory=list)
    info: dict[str, object] = field(default_factory=dict)


def preprocess_case(image: sitk.Image, mask: sitk.Image, config: PreprocessConfig, *,
                    margin_mm: float = 0.0, case: str = "case") -> PreprocessResult:
    """Preprocess one image/mask pair.

    Args:
        image: The image as read.
        mask: Its binary mask (UInt8, 0/1), same grid as ``image``.
        config: What to do.
        margin_mm: ROI crop margin in mm (used when ``config.crop``).
        case: Case name for messages.

    Returns:
        The preprocessed pair; with every step off, the inputs unchanged.

    Raises:
        StageError: Naming the failing stage (``geometry``, ``n4``, ``normalize``,
            ``resample``, ``crop``); ``cause`` is the original error.  An ROI
            that vanishes when resampled fails in ``resample``.
    """
    if config.normalize == "histogram":
        with stage("normalize"):
            config.check_fitted(f"{case}: preprocess")  # before any costly step
    result = PreprocessResult(image, mask)
    result.info["input_size"] = list(image.GetSize())
    result.info["input_spacing"] = [float(s) for s in image.GetSpacing()]
    with stage("geometry"):
        check_geometry(image, mask, case=case)
        roi_index_bbox(mask)  # an empty mask fails here, before any costly step
    if config.n4:
        with stage("n4"):
            image = n4_correct(image, shrink_factor=config.n4_shrink_factor,
                               iterations=config.n4_iterations, tolerance=config.n4_tolerance)
        result.steps.append("n4")
    if config.normalize == "histogram":
        return _histogram_rest(image, mask, config, margin_mm, case, result)
    if config.normalize != "none":
        with stage("normalize"):
            image = normalize_image(image, config.normalize, scale=config.normalize_scale,
                                    outliers=config.normalize_outliers,
                                    percentiles=config.normalize_percentiles)
        result.steps.append(f"normalize:{config.normalize}")
    grid = Grid.of(image)
    if config.spacing is not None:
        with stage("resample"):
            grid = target_grid(image, config.spacing)
    if config.crop:
        with stage("crop"):
            start, size = roi_region_on_grid(mask, grid, margin_mm)
            grid = grid.sub(start, size)
    if config.spacing is not None:
        with stage("resample"):
            image = resample_image(image, grid, config.interpolator)
            mask = resample_mask(mask, grid)
            _check_roi_survived(mask, case, config.spacing)
        result.steps.append("resample")
        if config.crop:
            result.steps.append("crop")
    elif config.crop:
        with stage("crop"):
            image = crop_to_region(image, start, size)
            mask = crop_to_region(mask, start, size)
        result.steps.append("crop")
    result.image, result.mask = image, mask
    result.info["output_size"] = list(image.GetSize())
    result.info["output_spacing"] = [float(s) for s in image.GetSpacing()]
    result.info["roi_voxels"] = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))
    return result


def _histogram_rest(image: sitk.Image, mask: sitk.Image, config: PreprocessConfig, margin_mm: float,
                    case: str, result: PreprocessResult) -> PreprocessResult:
    """After N4, with ``normalize: histogram``: resample the whole image, map, then crop."""
    assert config.histogram is not None  # checked on entry
    grid = Grid.of(image)
    region = None
    if config.crop:
        with stage("crop"):  # the ROI's box on the target grid, from the mask as read
            target = target_grid(image, config.spacing) if config.spacing is not None else grid
            region = roi_region_on_grid(mask, target, margin_mm)
    if config.spacing is not None:
        with stage("resample"):
            grid = target_grid(image, config.spacing)
            image = resample_image(image, grid, config.interpolator)
            mask = resample_mask(mask, grid)
            _check_roi_survived(mask, case, config.spacing)
        result.steps.append("resample")
    with stage("normalize"):
        image = config.histogram.estimator().transform(image)
    result.steps.append("normalize:histogram")
    if region is not None:
        with stage("crop"):
            image = crop_to_region(image, *region)
            mask = crop_to_region(mask, *region)
        result.steps.append("crop")
    result.image, result.mask = image, mask
    result.info["output_size"] = list(image.GetSize())
    result.info["output_spacing"] = [float(s) for s in image.GetSpacing()]
    result.info["roi_voxels"] = int(np.count_nonzero(sitk.GetArrayViewFromImage(mask)))
    return result


def histogram_input(image: sitk.Image, config: PreprocessConfig) -> sitk.Image:
    """The whole image after the steps before the histogram map (N4, then resampling).

    What :meth:`~alnm_ray.preprocess.histogram.HistogramStandardizer.image_landmarks`
    measures, when fitting landmarks on training images and when mapping.

    Args:
        image: The image as read.
        config: The sequence's config (its N4 and resampling settings are used).

    Returns:
        The N4-corrected, resampled whole image (no crop, no normalisation).

    Raises:
        StageError: In ``n4`` or ``resample``.
    """
    if config.n4:
        with stage("n4"):
            image = n4_correct(image, shrink_factor=config.n4_shrink_factor,
                               iterations=config.n4_iterations, tolerance=config.n4_tolerance)
    if config.spacing is not None:
        with stage("resample"):
            image = resample_image(image, target_grid(image, config.spacing), config.interpolator)
    return image


def _check_roi_survived(mask: sitk.Image, case: str, spacing: tuple[float, ...]) -> None:
    if not np.any(sitk.GetArrayViewFromImage(mask)):
        raise ExtractionError(
            f"{case}: expected the ROI to keep at least one voxel after resampling to "
            f"{tuple(spacing)} mm; found an empty mask (the ROI is thinner than the new voxels). "
            "Use a finer spacing for this sequence or check the mask.")
