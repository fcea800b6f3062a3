"""One case through PyRadiomics: ``extract_case(image, mask, params) -> {feature: value}``.

Feature names are PyRadiomics's own (``original_glcm_Idm``,
``wavelet-LLH_firstorder_Mean``, ``log-sigma-1-0-mm-3D_glszm_ZoneEntropy``).
``diagnostics_*`` entries are returned separately, never as features.

2-D handling: a true 2-D image (mammogram) is extracted natively by
PyRadiomics (2-D texture, 2-D wavelet, ``shape2D``); a 3-D image with a single
slice is first squeezed to 2-D, because PyRadiomics computes no LoG on a
one-slice volume and its 3-D shape of a slab is meaningless.  For 2-D cases the
``shape`` class becomes ``shape2D``, ``LBP3D`` is left out and ``force2D`` is
ignored (it would remove one of the two axes from the 2-D wavelet); for 3-D
cases ``shape2D`` is left out unless ``force2D`` is set.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import SimpleITK as sitk

from alnm_ray.exceptions import ExtractionError
from alnm_ray.extract.params import ExtractionParams
from alnm_ray.preprocess.geometry import squeeze_2d
from alnm_ray.typing import PathLike

logger = logging.getLogger(__name__)

#: Warnings PyRadiomics's own calls raise on every case, by design, silenced per case (once per case and
#: worker they buried a run's progress lines): skimage's LBP warns on the float images PyRadiomics
#: passes it, and the GLCM's Imc2 takes the square root of a negative rounding residue (the value is
#: NaN, which the feature row records as NaN).
EXPECTED_LIBRARY_WARNINGS: tuple[tuple[type[Warning], str, str], ...] = (
    (UserWarning, r"Applying `local_binary_pattern` to floating-point images", ""),
    (RuntimeWarning, r"invalid value encountered in sqrt", r"radiomics\.glcm"),
)

#: Prefix of PyRadiomics's non-feature outputs.
DIAGNOSTICS_PREFIX = "diagnostics_"
#: Largest |imaginary part| accepted when PyRadiomics returns a complex value
#: (numpy >= 2.5 makes shape eigenvalue features complex with imaginary part 0).
MAX_IMAG = 1e-9

_EXTRACTORS: dict[tuple[str, int], Any] = {}


def params_for_dimension(params: ExtractionParams, ndim: int) -> dict[str, Any]:
    """The PyRadiomics params dict adapted to a 2-D or 3-D case (see module doc)."""
    from radiomics import getFeatureClasses

    d = params.as_dict()
    settings = d.get("setting") or {}
    classes = d.get("featureClass") or {name: None for name in getFeatureClasses()}
    classes = dict(classes)
    if ndim == 2:
        # force2D on a true 2-D image makes PyRadiomics drop one of its two axes from the wavelet
        # (H/L sub-bands instead of HH/HL/LH/LL); 2-D images are already extracted in 2-D.
        if settings.get("force2D"):
            d["setting"] = {**settings, "force2D": False}
        if "shape" in classes:
            classes.pop("shape")  # 3-D shape names do not carry over; shape2D computes all of its own
            classes.setdefault("shape2D", None)
        d.get("imageType", {}).pop("LBP3D", None)
    elif not settings.get("force2D", False):
        classes.pop("shape2D", None)
    d["featureClass"] = classes
    if not d.get("imageType"):
        d["imageType"] = {"Original": {}}
    return d


def get_extractor(params: ExtractionParams, ndim: int):
    """A cached ``RadiomicsFeatureExtractor`` for these params and dimension (per process)."""
    from radiomics import featureextractor

    key = (params.hash(), ndim)
    ext = _EXTRACTORS.get(key)
    if ext is None:
        if len(_EXTRACTORS) > 16:
            _EXTRACTORS.clear()
        ext = featureextractor.RadiomicsFeatureExtractor(params_for_dimension(params, ndim))
        _EXTRACTORS[key] = ext
    return ext


def to_float(name: str, value: Any) -> float:
    """A PyRadiomics value as a float (0-d arrays, numpy scalars, complex with 0 imaginary part).

    Raises:
        ExtractionError: When a complex value has a non-zero imaginary part.
    """
    arr = np.asarray(value)
    if arr.size != 1:
        raise ExtractionError(f"feature {name}: expected one number; got an array of shape {arr.shape}. "
                              "Voxel-based extraction is not supported by the feature table.")
    v = arr.reshape(()).item()
    if isinstance(v, complex):
        if abs(v.imag) > MAX_IMAG * max(1.0, abs(v.real)):
            raise ExtractionError(f"feature {name}: expected a real value; got {v!r}. This is a PyRadiomics "
                                  "numerical problem with this ROI; check the mask.")
        v = v.real
    return float(v)


def _as_image(x: sitk.Image | PathLike, what: str) -> sitk.Image:
    if isinstance(x, sitk.Image):
        return x
    from alnm_ray.manifest.imageio import read_image

    return read_image(x) if what == "image" else sitk.Cast(read_image(x), sitk.sitkUInt32)


def extract_case(image: sitk.Image | PathLike, mask: sitk.Image | PathLike, params: ExtractionParams, *,
                 label: int = 1, diagnostics: dict[str, Any] | None = None) -> dict[str, float]:
    """Run PyRadiomics on one image/mask pair.

    Args:
        image: SimpleITK image, or a path read with :func:`alnm_ray.manifest.imageio.read_image`.
        mask: Label image on the same grid, or a path.
        params: Validated params (:func:`alnm_ray.extract.params.load_params`).
        label: Mask value of the ROI.
        diagnostics: When a dict is given, PyRadiomics's ``diagnostics_*``
            entries are stored in it (as strings).

    Returns:
        ``{feature name: value}`` in PyRadiomics's order, values float
        (NaN where PyRadiomics returns NaN).

    Raises:
        ExtractionError: When PyRadiomics fails (the message names its error).
    """
    import radiomics  # noqa: F401 - imported for its side effects only once, here

    img = squeeze_2d(_as_image(image, "image"))
    msk = squeeze_2d(_as_image(mask, "mask"))
    extractor = get_extractor(params, img.GetDimension())
    try:
        with warnings.catch_warnings():
            for category, message, module in EXPECTED_LIBRARY_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=category, module=module)
            result = extractor.execute(img, msk, label=int(label))
    except (ValueError, RuntimeError, IndexError, ZeroDivisionError, TypeError) as err:
        msg = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise ExtractionError(f"PyRadiomics failed ({type(err).__name__}: {msg[:300]}). Check the ROI "
                              "(size, label) and the params.") from err
    features: dict[str, float] = {}
    for name, value in result.items():
        if name.startswith(DIAGNOSTICS_PREFIX):
            if diagnostics is not None:
                diagnostics[name] = str(value)
            continue
        features[name] = to_float(name, value)
    if not features:
        raise ExtractionError("PyRadiomics returned no features: expected at least one enabled feature "
                              "class for this image's dimension; check featureClass in the params.")
    return features
