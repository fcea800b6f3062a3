"""PyRadiomics parameter files: load, validate with PyRadiomics's schema, hash.

The file format is PyRadiomics's own (``imageType``, ``featureClass``,
``setting``, ``voxelSetting``); validation uses the schema and check functions
shipped with the installed PyRadiomics (pykwalify), and the errors are
rewritten to name the key, the expected and found values, and a fix.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import math
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from alnm_ray._validation import did_you_mean
from alnm_ray.exceptions import ConfigError, FallbackWarning
from alnm_ray.preprocess.config import PreprocessPlan, stable_hash
from alnm_ray.typing import PathLike

logger = logging.getLogger(__name__)

#: Built-in parameter sets, by name.
PARAM_PRESETS: tuple[str, ...] = ("guo2024", "pyradiomics-default")
#: Top-level keys of a PyRadiomics params file.
TOP_KEYS: tuple[str, ...] = ("imageType", "featureClass", "setting", "voxelSetting")
#: Python packages each optional PyRadiomics filter needs.
FILTER_REQUIREMENTS: dict[str, tuple[str, ...]] = {"LBP2D": ("skimage",), "LBP3D": ("scipy", "trimesh")}
#: A recursive-Gaussian LoG response at 4 sigma from an edge has decayed to ~e^-8 (3e-4) of its
#: peak: crop margins of 4 sigma keep LoG features equal to the uncropped ones (measured in tests).
LOG_MARGIN_SIGMAS = 8.0
#: Extra voxels on every side beyond each filter's reach (interpolation, odd-size wrap padding).
MARGIN_SAFETY_VOXELS = 2


def _schema_settings() -> list[str]:
    from radiomics import getParameterValidationFiles

    schema = yaml.safe_load(Path(getParameterValidationFiles()[0]).read_text(encoding="utf-8"))
    return sorted(schema["mapping"]["setting"]["mapping"]) + sorted(
        schema["mapping"]["voxelSetting"]["mapping"])


@dataclass(frozen=True)
class ExtractionParams:
    """Validated PyRadiomics parameters.

    Attributes:
        source: Where they came from (a path or preset name).
        params_json: The effective params (after dropping unavailable filters),
            canonical JSON; use :meth:`as_dict`.
        dropped: ``(image type, reason)`` for filters left out because a
            package they need is missing.
    """

    source: str
    params_json: str
    dropped: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A fresh copy of the params dict (PyRadiomics layout)."""
        return json.loads(self.params_json)

    @property
    def settings(self) -> dict[str, Any]:
        """The ``setting`` section (PyRadiomics defaults apply to absent keys)."""
        return dict(self.as_dict().get("setting") or {})

    @property
    def image_types(self) -> dict[str, dict[str, Any]]:
        """Enabled image types (``Original`` when none is given, as PyRadiomics does)."""
        return {k: dict(v or {}) for k, v in (self.as_dict().get("imageType") or {"Original": {}}).items()}

    def hash(self) -> str:
        """Stable SHA-256 of the effective params."""
        return stable_hash(self.as_dict())

    def to_yaml(self) -> str:
        """The effective params as a PyRadiomics YAML file."""
        return yaml.safe_dump(self.as_dict(), sort_keys=False)


def _check_names(params: dict[str, Any], source: str) -> None:
    from radiomics import getFeatureClasses, getImageTypes

    unknown = sorted(set(params) - set(TOP_KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key {unknown[0]!r}; expected one of "
                          f"{', '.join(TOP_KEYS)}.{did_you_mean(unknown[0], TOP_KEYS)} Fix or remove it.")
    image_types = params.get("imageType") or {}
    if not isinstance(image_types, dict):
        raise ConfigError(f"{source}: 'imageType' must map filter names to settings; got "
                          f"{type(image_types).__name__}. Example: imageType: {{Original: {{}}}}.")
    known = getImageTypes()
    for name in image_types:
        if name not in known:
            raise ConfigError(f"{source}: imageType {name!r} is not a PyRadiomics image type; expected one "
                              f"of {', '.join(sorted(known))}.{did_you_mean(name, known)} Fix or remove it.")
    classes = params.get("featureClass") or {}
    if not isinstance(classes, dict):
        raise ConfigError(f"{source}: 'featureClass' must map class names to feature lists (or null for "
                          f"all); got {type(classes).__name__}.")
    known_classes = getFeatureClasses()
    for cls_name, feats in classes.items():
        if cls_name not in known_classes:
            raise ConfigError(f"{source}: featureClass {cls_name!r} is not a PyRadiomics feature class; "
                              f"expected one of {', '.join(sorted(known_classes))}."
                              f"{did_you_mean(cls_name, known_classes)} Fix or remove it.")
        names = known_classes[cls_name].getFeatureNames()
        for feat in feats or []:
            if feat not in names:
                raise ConfigError(f"{source}: featureClass {cls_name}: feature {feat!r} is not a "
                                  f"{cls_name} feature; expected one of {', '.join(sorted(names)[:12])}…"
                                  f"{did_you_mean(str(feat), names)} Fix or remove it.")


def _schema_validate(params: dict[str, Any], source: str) -> dict[str, Any]:
    import pykwalify.core
    import pykwalify.errors
    from radiomics import getParameterValidationFiles

    schema_file, schema_funcs = getParameterValidationFiles()
    pk_logger = logging.getLogger("pykwalify")
    level = pk_logger.level
    pk_logger.setLevel(logging.CRITICAL + 1)  # it logs every error itself; we raise one message
    try:
        core = pykwalify.core.Core(source_data=params, schema_files=[schema_file], extensions=[schema_funcs])
        return core.validate(raise_exception=True)
    except pykwalify.errors.SchemaError as err:
        problems = [str(e) for e in getattr(core, "errors", [])] or [str(err)]
        first = problems[0]
        if "was not defined" in first:
            key = first.split("'")[1]
            path = first.rsplit("Path:", 1)[-1].strip(" '.")
            raise ConfigError(
                f"{source}: key {key!r} under {path or '/'} is not a PyRadiomics setting; expected one of "
                f"PyRadiomics's setting names.{did_you_mean(key, _schema_settings())} Fix or remove the key "
                f"({len(problems)} problem(s) in all: {'; '.join(problems[:3])})") from err
        path = first.rsplit("Path:", 1)[-1].strip(" '.") if "Path:" in first else "/"
        raise ConfigError(f"{source}: key {path.lstrip('/') or '/'} has an invalid value: "
                          f"{'; '.join(problems[:3])}. Fix the value (PyRadiomics's allowed types and ranges: "
                          "radiomics/schemas/paramSchema.yaml).") from err
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{source}: invalid PyRadiomics params: {err}. Fix the key or value.") from err
    finally:
        pk_logger.setLevel(level)


def _drop_unavailable(params: dict[str, Any], source: str) -> tuple[tuple[str, str], ...]:
    dropped = []
    for name, needs in FILTER_REQUIREMENTS.items():
        if name not in (params.get("imageType") or {}):
            continue
        missing = [m for m in needs if importlib.util.find_spec(m) is None]
        if missing:
            reason = f"needs the Python package(s) {', '.join(missing)}, which are not installed"
            del params["imageType"][name]
            dropped.append((name, reason))
            warnings.warn(f"{source}: image type {name} left out: it {reason}. Install "
                          f"{' and '.join('scikit-image' if m == 'skimage' else m for m in missing)} to "
                          f"extract {name} features.", FallbackWarning, stacklevel=3)
    if params.get("imageType") == {}:
        raise ConfigError(f"{source}: no image type left after dropping {', '.join(d for d, _ in dropped)}; "
                          "install the missing packages or enable Original.")
    return tuple(dropped)


def load_params(spec: str | PathLike | dict[str, Any] | None = None) -> ExtractionParams:
    """Load and validate PyRadiomics params.

    Args:
        spec: A YAML/JSON file, a preset name (``guo2024``,
            ``pyradiomics-default``), a params dict, or ``None`` (PyRadiomics
            defaults: Original image, every feature class but shape2D).

    Returns:
        The validated params.

    Raises:
        ConfigError: Naming the bad key, what PyRadiomics expects, and a fix.
    """
    if spec is None or spec == "pyradiomics-default":
        source, params = "pyradiomics-default", {}
    elif isinstance(spec, dict):
        source, params = "params", copy.deepcopy(spec)
    elif str(spec) in PARAM_PRESETS:
        source = str(spec)
        params = yaml.safe_load(resources.files("alnm_ray").joinpath("presets", f"{spec}_params.yaml").read_text(encoding="utf-8"))
    else:
        path = Path(spec)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"--params: expected a PyRadiomics params YAML file or a preset "
                              f"({', '.join(PARAM_PRESETS)}); got {source!r}, which does not exist."
                              f"{did_you_mean(source, PARAM_PRESETS)}")
        try:
            params = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ConfigError(f"{source}: not valid YAML ({err}). Fix the syntax.") from err
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ConfigError(f"{source}: expected a mapping with keys {', '.join(TOP_KEYS)}; got "
                          f"{type(params).__name__}.")
    _check_names(params, source)
    params = _schema_validate(params, source)
    if params.get("imageType"):
        params["imageType"] = {k: dict(v or {}) for k, v in params["imageType"].items()}
    dropped = _drop_unavailable(params, source)
    return ExtractionParams(source=source, params_json=json.dumps(params, sort_keys=True), dropped=dropped)


def required_margin_mm(params: ExtractionParams, spacing: tuple[float, ...]) -> float:
    """Crop margin (mm) wide enough that no enabled filter sees the crop's edge.

    Reach per filter: LoG ``4 * max(sigma)`` mm (see :data:`LOG_MARGIN_SIGMAS`);
    wavelet ``filter length * (start_level + level)`` voxels (PyRadiomics's
    stationary transform repeats the undilated filter per level); gradient 1
    voxel; LBP its radius (times levels in 3-D); point-wise filters 0.  Plus
    :data:`MARGIN_SAFETY_VOXELS`.

    Args:
        params: The extraction params.
        spacing: Voxel spacing (mm) of the grid that will be cropped.
    """
    import pywt

    base = params.settings
    reach_mm, reach_vox = 0.0, 0.0
    for name, custom in params.image_types.items():
        s = {**base, **custom}
        if name == "LoG":
            reach_mm = max(reach_mm, LOG_MARGIN_SIGMAS * max(s.get("sigma") or [0.0]))
        elif name == "Wavelet":
            length = pywt.Wavelet(s.get("wavelet", "coif1")).dec_len
            reach_vox = max(reach_vox, length * (s.get("start_level", 0) + s.get("level", 1)))
        elif name == "Gradient":
            reach_vox = max(reach_vox, 1.0)
        elif name == "LBP2D":
            reach_vox = max(reach_vox, float(s.get("lbp2DRadius", 1)))
        elif name == "LBP3D":
            reach_vox = max(reach_vox, float(s.get("lbp3DIcosphereRadius", 1)) * s.get("lbp3DLevels", 2))
    step = max(float(v) for v in spacing)
    return float(max(reach_mm, reach_vox * step) + MARGIN_SAFETY_VOXELS * step)


def check_compatible(params: ExtractionParams, plan: PreprocessPlan) -> None:
    """Reject params whose whole-image steps an ROI crop would change.

    PyRadiomics's ``normalize`` uses whole-image statistics; after our crop it
    would see only the ROI's surroundings and give different features.

    Raises:
        ConfigError: When any sequence crops and ``setting: normalize`` is true.
    """
    if not params.settings.get("normalize"):
        return
    cropping = [s for s, c in plan.sequences if c.crop] + (["<default>"] if plan.default.crop else [])
    if cropping:
        raise ConfigError(
            f"{params.source}: setting normalize: true normalises over the whole image, but the preprocess "
            f"plan {plan.name!r} crops to the ROI first (sequences {', '.join(cropping[:4])}), which changes "
            "the statistics. Set normalize: false and use the preprocess normalize step instead, or set "
            "crop: false.")


def margin_for(params: ExtractionParams, spacing: tuple[float, ...], configured: float | None) -> float:
    """The configured margin, or :func:`required_margin_mm` when ``configured`` is ``None``."""
    margin = required_margin_mm(params, spacing) if configured is None else float(configured)
    return margin if math.isfinite(margin) else 0.0
