"""Preprocessing configuration: one frozen config per sequence, grouped in a plan.

A :class:`PreprocessConfig` says what happens to one image before PyRadiomics
sees it (N4, intensity normalisation, resampling, ROI crop).  A
:class:`PreprocessPlan` maps sequence names to configs, with a default for
sequences it does not list.  Both are frozen, validated when built, YAML
round-trippable and have a stable hash that goes into the case hash and the
store version.

``normalize: histogram`` (Nyul-Udupa, :mod:`alnm_ray.preprocess.histogram`) is
learned from training images: the config holds the fitted landmarks in its
``histogram`` entry, which enters the hash, and a config without them cannot
run (:meth:`PreprocessConfig.check_fitted`; ``alnm-ray run`` fits them on the
training split, see :mod:`alnm_ray.preprocess.histogram_fit`).

Presets: ``none`` (every step off: PyRadiomics sees the files as they are) and
``guo2024`` (package data ``alnm_ray/presets/guo2024_preprocess.yaml``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import yaml

from alnm_ray._validation import check_range, did_you_mean, look_up_option
from alnm_ray import exceptions
from alnm_ray.exceptions import ConfigError, SchemaMismatchError
from alnm_ray.typing import PathLike

if TYPE_CHECKING:  # the histogram module imports scikit-learn: only configs that normalise with it load it
    from alnm_ray.preprocess.histogram import HistogramLandmarks

#: Image interpolators for resampling (masks always use nearest neighbour).
INTERPOLATORS: tuple[str, ...] = ("bspline", "linear", "nearest")
#: Intensity normalisation methods (see :mod:`alnm_ray.preprocess.intensity`).
NORMALIZATIONS: tuple[str, ...] = ("none", "zscore", "percentile", "histogram")
#: Built-in plans, by name.
PRESETS: tuple[str, ...] = ("none", "guo2024")
#: ANTsPy's default N4 schedule: four fitting levels of 50 iterations.
DEFAULT_N4_ITERATIONS: tuple[int, ...] = (50, 50, 50, 50)
#: ANTsPy's default N4 convergence threshold.
DEFAULT_N4_TOLERANCE = 1e-7
#: ANTsPy's default shrink factor: N4 fits the field on a 4x down-sampled image.
DEFAULT_N4_SHRINK = 4
#: Z-scores times 100 keep PyRadiomics's fixed bin widths in a useful range
#: (PyRadiomics's own MR examples use ``normalizeScale: 100``).
DEFAULT_NORMALIZE_SCALE = 100.0


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def stable_hash(obj: Any) -> str:
    """SHA-256 (hex) of a JSON-able object, independent of key order."""
    return hashlib.sha256(_canonical(obj).encode()).hexdigest()


@dataclass(frozen=True)
class PreprocessConfig:
    """What happens to one sequence's image before feature extraction.

    Steps run in this order: N4 -> normalise -> resample -> crop.  N4 and the
    normalisation statistics use the whole image, so cropping afterwards does
    not change them.  With ``normalize: histogram`` the order is N4 -> resample
    -> histogram map -> crop (Gu 2025's order): the image's landmarks are
    measured on the whole resampled image, in its foreground (voxels above
    the image mean), never in the ROI.

    Args:
        n4: Run ANTsPy N4 bias-field correction (MRI only).
        n4_shrink_factor: Down-sampling factor N4 fits the field on (>= 1).
        n4_iterations: Iterations per fitting level.
        n4_tolerance: N4 convergence threshold.
        normalize: ``none``, ``zscore`` (whole-image mean/SD, times
            ``normalize_scale``), ``percentile`` (clip to
            ``normalize_percentiles`` and map them to 0..``normalize_scale``) or
            ``histogram`` (Nyul-Udupa piecewise-linear map onto the landmarks
            in ``histogram``, learned from training images; standard scale
            0..100, ``normalize_scale`` unused).
        normalize_scale: Multiplier after normalisation (unitless).
        normalize_outliers: With ``zscore``, clip to +- this many SDs
            (``None``: no clipping).
        normalize_percentiles: Low/high percentiles for ``percentile``.
        spacing: Target voxel spacing in mm, SimpleITK (x, y, z) order;
            ``None`` keeps the image's spacing.  2-D images use the first two.
        interpolator: Image interpolator (``bspline``, ``linear``, ``nearest``);
            masks are always resampled with nearest neighbour.
        crop: Crop image and mask to the ROI's bounding box plus a margin before
            any PyRadiomics filter runs (filters are costly on whole images).
        crop_margin_mm: Margin in mm on every side; ``None`` derives it from
            the PyRadiomics filters enabled (see
            :func:`alnm_ray.extract.params.required_margin_mm`).
        histogram: With ``normalize: histogram``, the fitted landmarks
            (:class:`HistogramLandmarks`, or its JSON dict); ``None`` until
            fitted.  Left out of :meth:`to_dict` (and the hash) while ``None``.

    Raises:
        ConfigError: When a value is out of range, an option is unknown, or
            ``histogram`` is given without ``normalize: histogram``.

    Example:
        >>> PreprocessConfig(spacing=(1, 1, 1), crop=True).spacing
        (1.0, 1.0, 1.0)
    """

    n4: bool = False
    n4_shrink_factor: int = DEFAULT_N4_SHRINK
    n4_iterations: tuple[int, ...] = DEFAULT_N4_ITERATIONS
    n4_tolerance: float = DEFAULT_N4_TOLERANCE
    normalize: str = "none"
    normalize_scale: float = DEFAULT_NORMALIZE_SCALE
    normalize_outliers: float | None = None
    normalize_percentiles: tuple[float, float] = (1.0, 99.0)
    spacing: tuple[float, ...] | None = None
    interpolator: str = "bspline"
    crop: bool = False
    crop_margin_mm: float | None = None
    histogram: HistogramLandmarks | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "n4", bool(self.n4))
        set_(self, "crop", bool(self.crop))
        if int(self.n4_shrink_factor) != self.n4_shrink_factor:
            raise ConfigError(f"n4_shrink_factor: expected an integer >= 1; got {self.n4_shrink_factor!r}.")
        set_(self, "n4_shrink_factor", int(check_range("n4_shrink_factor", self.n4_shrink_factor, 1, 64)))
        iters = tuple(int(i) for i in self.n4_iterations)
        if not iters or min(iters) < 1:
            raise ConfigError(f"n4_iterations: expected one or more positive integers; got {self.n4_iterations!r}.")
        set_(self, "n4_iterations", iters)
        set_(self, "n4_tolerance", float(check_range("n4_tolerance", self.n4_tolerance, 0.0, 1.0,
                                                     inclusive=False)))
        look_up_option("normalize", self.normalize, NORMALIZATIONS)
        set_(self, "normalize_scale", float(check_range("normalize_scale", self.normalize_scale, 0.0,
                                                        inclusive=False)))
        if self.normalize_outliers is not None:
            set_(self, "normalize_outliers", float(check_range("normalize_outliers", self.normalize_outliers,
                                                               0.0, inclusive=False)))
        lo, hi = (float(p) for p in self.normalize_percentiles)
        if not 0.0 <= lo < hi <= 100.0:
            raise ConfigError(f"normalize_percentiles: expected two percentiles 0 <= low < high <= 100; "
                              f"got {self.normalize_percentiles!r}.")
        set_(self, "normalize_percentiles", (lo, hi))
        if self.spacing is not None:
            sp = tuple(float(s) for s in self.spacing)
            if len(sp) not in (2, 3) or min(sp) <= 0:
                raise ConfigError(f"spacing: expected 2 or 3 positive values in mm (x, y, z); got "
                                  f"{self.spacing!r}. Use e.g. [1, 1, 1], or null to keep the image spacing.")
            set_(self, "spacing", sp)
        look_up_option("interpolator", self.interpolator, INTERPOLATORS)
        if self.crop_margin_mm is not None:
            set_(self, "crop_margin_mm", float(check_range("crop_margin_mm", self.crop_margin_mm, 0.0)))
        if self.histogram is not None:
            if self.normalize != "histogram":
                raise ConfigError(f"histogram: landmarks are given but normalize is {self.normalize!r}; "
                                  "expected normalize: histogram with them. Set normalize: histogram, or "
                                  "remove the histogram entry.")
            from alnm_ray.preprocess.histogram import HistogramLandmarks

            if not isinstance(self.histogram, HistogramLandmarks):
                try:
                    set_(self, "histogram", HistogramLandmarks.from_dict(self.histogram))
                except SchemaMismatchError as err:
                    raise ConfigError(str(err)) from err

    @property
    def fitted(self) -> bool:
        """False only for ``normalize: histogram`` without landmarks (nothing else is learned)."""
        return self.normalize != "histogram" or self.histogram is not None

    def check_fitted(self, what: str = "preprocess") -> None:
        """Raise unless the config can run.

        Raises:
            NotFittedError: ``normalize: histogram`` without landmarks.
        """
        if not self.fitted:
            raise exceptions.NotFittedError(
                f"{what}: normalize: histogram expected fitted landmarks in the config's 'histogram' "
                "entry; found none. Fit them on the training images: `alnm-ray run` does so on the "
                "training split (RUN/histogram/<sequence>.json), or fit "
                "alnm_ray.preprocess.HistogramStandardizer and set histogram: to its to_dict().")

    @property
    def enabled(self) -> bool:
        """True when any step changes the image."""
        return self.n4 or self.normalize != "none" or self.spacing is not None or self.crop

    def to_dict(self) -> dict[str, Any]:
        """A plain, YAML/JSON-able dict (tuples become lists)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
        # Absent while unfitted, so configs without histogram landmarks keep their hash.
        state = out.pop("histogram")
        if state is not None:
            out["histogram"] = state.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, *, where: str = "preprocess") -> "PreprocessConfig":
        """Build from a dict, rejecting unknown keys with a suggestion.

        Raises:
            ConfigError: For an unknown key or a bad value (histogram state included).
        """
        data = dict(data or {})
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            key = unknown[0]
            raise ConfigError(f"{where}: unknown key {key!r}; expected one of {', '.join(names)}."
                              f"{did_you_mean(key, names)} Fix or remove the key.")
        for key in ("n4_iterations", "normalize_percentiles", "spacing"):
            if isinstance(data.get(key), list):
                data[key] = tuple(data[key])
        try:
            return cls(**data)
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from err
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{where}: {err}. Check the value types (numbers, true/false, lists).") from err

    def hash(self) -> str:
        """Stable SHA-256 of the config."""
        return stable_hash(self.to_dict())


@dataclass(frozen=True)
class PreprocessPlan:
    """Per-sequence preprocessing: ``sequences`` overrides, ``default`` otherwise.

    Args:
        name: A label recorded with results (``guo2024``, ``none``, a file stem…).
        default: Config of every sequence not listed in ``sequences``.
        sequences: ``(sequence, config)`` pairs, kept sorted by sequence.

    Example:
        >>> plan = PreprocessPlan.preset("none")
        >>> plan.for_sequence("T2WI").enabled
        False
    """

    name: str = "custom"
    default: PreprocessConfig = field(default_factory=PreprocessConfig)
    sequences: tuple[tuple[str, PreprocessConfig], ...] = ()

    def __post_init__(self) -> None:
        seqs = dict(self.sequences)
        if len(seqs) != len(self.sequences):
            raise ConfigError(f"preprocess plan {self.name!r}: a sequence is listed twice; list each once.")
        object.__setattr__(self, "sequences", tuple(sorted(seqs.items())))

    def for_sequence(self, sequence: str) -> PreprocessConfig:
        """The config used for ``sequence``."""
        return dict(self.sequences).get(sequence, self.default)

    @property
    def enabled(self) -> bool:
        """True when any sequence gets any preprocessing."""
        return self.default.enabled or any(c.enabled for _, c in self.sequences)

    def unfitted(self, sequences: Iterable[str]) -> list[str]:
        """Which of ``sequences`` run ``normalize: histogram`` without landmarks (sorted)."""
        return sorted({str(s) for s in sequences if not self.for_sequence(str(s)).fitted})

    def check_fitted(self, sequences: Iterable[str]) -> None:
        """Raise unless every one of ``sequences`` can run.

        Raises:
            NotFittedError: Naming the sequences that lack histogram landmarks.
        """
        missing = self.unfitted(sequences)
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise exceptions.NotFittedError(
                f"preprocess plan {self.name!r}: sequence(s) {shown}: normalize: histogram expected fitted "
                "landmarks in the sequence's 'histogram' entry; found none. Fit them on the training "
                "images: `alnm-ray run` does so on the training split (RUN/histogram/<sequence>.json), "
                "or fit alnm_ray.preprocess.HistogramStandardizer and set histogram: to its to_dict().")

    def with_histogram(self, sequence: str, state: HistogramLandmarks) -> "PreprocessPlan":
        """A copy whose ``sequence`` config holds ``state`` (listed even if it used the default).

        Raises:
            ConfigError: When the sequence's config does not normalise with ``histogram``.
        """
        config = self.for_sequence(sequence)
        if config.normalize != "histogram":
            raise ConfigError(f"preprocess plan {self.name!r}: sequence {sequence}: histogram landmarks "
                              f"need normalize: histogram; found {config.normalize!r}. Fit landmarks only "
                              "for sequences that use them.")
        seqs = dict(self.sequences)
        seqs[sequence] = dataclasses.replace(config, histogram=state)
        return dataclasses.replace(self, sequences=tuple(seqs.items()))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in the YAML layout (``name``, ``default``, ``sequences``)."""
        return {"name": self.name, "default": self.default.to_dict(),
                "sequences": {s: c.to_dict() for s, c in self.sequences}}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "preprocess") -> "PreprocessPlan":
        """Build from the YAML layout.

        Raises:
            ConfigError: For unknown keys or bad values (the message names the sequence).
        """
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping with keys name, default, sequences; got "
                              f"{type(data).__name__}.")
        unknown = sorted(set(data) - {"name", "default", "sequences"})
        if unknown:
            raise ConfigError(f"{source}: unknown top-level key {unknown[0]!r}; expected name, default, "
                              f"sequences.{did_you_mean(unknown[0], ['name', 'default', 'sequences'])}")
        default = PreprocessConfig.from_dict(data.get("default"), where=f"{source}: default")
        seqs = data.get("sequences") or {}
        if not isinstance(seqs, dict):
            raise ConfigError(f"{source}: 'sequences' must map sequence names to configs; got "
                              f"{type(seqs).__name__}.")
        pairs = tuple((str(s), PreprocessConfig.from_dict(c, where=f"{source}: sequence {s}"))
                      for s, c in seqs.items())
        return cls(name=str(data.get("name", "custom")), default=default, sequences=pairs)

    def to_yaml(self) -> str:
        """YAML text that :meth:`from_yaml` reads back to an equal plan."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, path: PathLike) -> "PreprocessPlan":
        """Read a plan from a YAML file.

        Raises:
            ConfigError: When the file is not valid YAML or not a valid plan.
        """
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ConfigError(f"{p}: not valid YAML ({err}). Fix the syntax.") from err
        return cls.from_dict(data, source=str(p))

    def hash(self) -> str:
        """Stable SHA-256 of the plan (its name is a label and not hashed)."""
        d = self.to_dict()
        d.pop("name")
        return stable_hash(d)

    @classmethod
    def preset(cls, name: str) -> "PreprocessPlan":
        """A built-in plan: ``none`` or ``guo2024``."""
        look_up_option("preprocess preset", name, PRESETS)
        if name == "none":
            return cls(name="none")
        text = resources.files("alnm_ray").joinpath("presets", f"{name}_preprocess.yaml").read_text(encoding="utf-8")
        return cls.from_dict(yaml.safe_load(text), source=f"preset {name}")


def load_plan(spec: str | PathLike | PreprocessPlan) -> PreprocessPlan:
    """A plan from a preset name (``none``, ``guo2024``) or a YAML path.

    Raises:
        ConfigError: When ``spec`` is neither a preset nor an existing file.
    """
    if isinstance(spec, PreprocessPlan):
        return spec
    text = str(spec)
    if text in PRESETS:
        return PreprocessPlan.preset(text)
    if not Path(text).is_file():
        raise ConfigError(f"--preprocess: expected a preset ({', '.join(PRESETS)}) or a YAML file; got "
                          f"{text!r}, which is neither.{did_you_mean(text, PRESETS)}")
    return PreprocessPlan.from_yaml(text)
