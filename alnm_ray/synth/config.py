"""Settings of the synthetic cohort generator: a frozen, validated, hashable config.

Example:
    >>> cfg = SynthConfig(patients=20, centers=2, seed=1)
    >>> cfg.size, cfg.n_repeat, cfg.patients
    ('small', 20, 20)
    >>> SynthConfig.from_dict(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import hashlib
import json
import re
import numbers
from dataclasses import dataclass, fields
from typing import Any

from alnm_ray._validation import check_range, look_up_option
from alnm_ray.exceptions import ConfigError
from alnm_ray.synth.studies import STUDIES, StudyShape, arm_sizes


@dataclass(frozen=True)
class SizePreset:
    """Image sizes and lesion sizes of one ``--size`` option.

    Args:
        name: Preset name.
        mri_fov_mm: MRI field of view (x, y, z) in mm; the matrix is the FOV
            divided by the centre's spacing, so centres differ in voxel count
            like real scanners do.
        dwi_inplane_factor: DWI/ADC in-plane spacing as a multiple of the
            anatomical spacing (EPI is coarser).
        mg_matrix: Mammogram size (x, y) in pixels.
        mg_spacing_mm: Nominal mammogram pixel spacing (mm), scaled per centre.
            Real detectors have 0.07–0.1 mm pixels; the phantom is coarser so
            that extraction stays fast.
        radius_median_mm: Median lesion radius (geometric mean of the semi-axes).
        radius_range_mm: Clip range of the radius, chosen so lesions fit the FOV.
        default_patients: Patients when ``patients`` is not given.
        pv_samples: Sub-samples across each slice for partial-volume blurring.
        mg_line_samples: Samples along each projection line of a mammogram.
        us_matrix: Ultrasound image size (lateral x, depth y) in pixels.
        us_spacing_mm: Nominal ultrasound pixel spacing (mm), scaled per centre.
        node_long_axis_mm: Median long axis of an uninvolved axillary lymph node (mm).
    """

    name: str
    mri_fov_mm: tuple[float, float, float]
    dwi_inplane_factor: float
    mg_matrix: tuple[int, int]
    mg_spacing_mm: float
    radius_median_mm: float
    radius_range_mm: tuple[float, float]
    default_patients: int
    pv_samples: int = 3
    mg_line_samples: int = 24
    us_matrix: tuple[int, int] = (128, 128)
    us_spacing_mm: float = 0.32
    node_long_axis_mm: float = 12.0


#: ``small`` keeps a whole test suite fast on 2 cores (≈ 48×48×16 MRI voxels);
#: ``paper`` is the Guo 2024 cohort size (270 patients) with larger images.
SIZE_PRESETS: dict[str, SizePreset] = {
    "small": SizePreset("small", mri_fov_mm=(36.0, 36.0, 36.0), dwi_inplane_factor=1.5,
                        mg_matrix=(128, 128), mg_spacing_mm=0.35, radius_median_mm=5.0,
                        radius_range_mm=(2.5, 8.0), default_patients=40, mg_line_samples=24),
    "paper": SizePreset("paper", mri_fov_mm=(72.0, 72.0, 64.0), dwi_inplane_factor=1.5,
                        mg_matrix=(256, 256), mg_spacing_mm=0.28, radius_median_mm=8.0,
                        radius_range_mm=(3.0, 14.0), default_patients=270, mg_line_samples=40,
                        us_matrix=(256, 256), us_spacing_mm=0.25, node_long_axis_mm=16.0),
}

#: ALNM prevalence of Guo et al. 2024 (117 / 270).
PAPER_PREVALENCE = 0.433
#: Patients delineated again by reader B and by reader A two weeks later (Guo et al. 2024).
PAPER_REPEAT_READERS = 30
#: Largest supported ``signal`` (the latent's scale multiplier); above ~3 labels are near-deterministic.
MAX_SIGNAL = 4.0
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class SynthConfig:
    """What to generate.

    Args:
        patients: Number of patients (default: the size preset's, 40 or 270).
        centers: Number of centres (scanner sites); at most ``patients``
            (default: the study shape's: 2 for guo2024, 1, 2, 6 for liu2025,
            gu2025, zhang2025; liu2025 and gu2025 allow only theirs).
        seed: Non-negative integer; the same seed gives byte-identical files.
        signal: Strength of the link between images and label: 1 (default)
            targets an oracle AUC ≈ 0.82; 0 draws labels independently of the
            images and of the clinical variables (for leakage checks).
        size: ``"small"`` or ``"paper"`` (see :data:`SIZE_PRESETS`).
        n_repeat_readers: Patients that also get the shape's second-reader
            masks (B and A2 for guo2024); capped at ``patients`` (see
            :attr:`n_repeat`). Default: 30 for guo2024, the paper's share of
            the patients (at least 8) for gu2025 and zhang2025, 0 for liu2025.
        prevalence: Expected ALNM prevalence (default: the paper's, Guo 2024:
            0.433); the shape's arms keep the paper's differences around it.
        test_fraction: Fraction of each label class in the development arm's
            held-out split (default: the paper's, 7:3 → 0.3; 8:2 → 0.2).
        cohort: Cohort name written to every manifest row (separately
            collected arms append a suffix, e.g. ``synth_test``).
        like: Study shape (:mod:`alnm_ray.synth.studies`): ``guo2024``,
            ``liu2025``, ``gu2025`` or ``zhang2025``.

    Raises:
        ConfigError: When a value is out of range; the message names the
            field, the expected range, the value and the fix.
    """

    patients: int | None = None
    centers: int | None = None
    seed: int = 0
    signal: float = 1.0
    size: str = "small"
    n_repeat_readers: int | None = None
    prevalence: float | None = None
    test_fraction: float | None = None
    cohort: str = "synth"
    like: str = "guo2024"

    def __post_init__(self) -> None:
        look_up_option("size (--size)", self.size, SIZE_PRESETS)
        shape = STUDIES[look_up_option("like (--like)", self.like, STUDIES)]
        if self.patients is None:
            object.__setattr__(self, "patients", SIZE_PRESETS[self.size].default_patients)
        if self.centers is None:
            object.__setattr__(self, "centers", shape.default_centers)
        if self.prevalence is None:
            object.__setattr__(self, "prevalence", shape.prevalence)
        if self.test_fraction is None:
            object.__setattr__(self, "test_fraction", shape.holdout_fraction)
        _check_int("patients", self.patients, 1, "--patients 1 or more")
        for name in ("patients", "centers", "seed", "n_repeat_readers"):
            value = getattr(self, name)
            if isinstance(value, numbers.Integral) and not isinstance(value, bool):
                object.__setattr__(self, name, int(value))
        _check_int("centers", self.centers, 1, "--centers 1 or more")
        if self.centers > self.patients:  # type: ignore[operator]  # resolved above
            raise ConfigError(
                f"centers (--centers): expected at most as many centres as patients ({self.patients}); "
                f"got {self.centers}. Every centre needs at least one patient: lower --centers or raise "
                "--patients.")
        _check_int("seed", self.seed, 0, "a non-negative --seed")
        self._resolve_readers(shape)
        _check_int("n_repeat_readers", self.n_repeat_readers, 0, "--repeat-readers 0 or more")
        self._check_design(shape)
        check_range("signal (--signal)", float(self.signal), 0.0, MAX_SIGNAL)
        check_range("prevalence (--prevalence)", float(self.prevalence), 0.02, 0.98)  # type: ignore[arg-type]
        check_range("test_fraction", float(self.test_fraction), 0.0, 0.9)  # type: ignore[arg-type]  # resolved above
        if not isinstance(self.cohort, str) or not _NAME.match(self.cohort):
            raise ConfigError(f"cohort (--cohort): expected letters, digits, '_', '.' or '-'; got "
                              f"{self.cohort!r}. Choose a name like 'synth' or 'centreA_2024'.")
        object.__setattr__(self, "signal", float(self.signal))
        object.__setattr__(self, "prevalence", float(self.prevalence))  # type: ignore[arg-type]  # resolved above
        object.__setattr__(self, "test_fraction", float(self.test_fraction))  # type: ignore[arg-type]  # resolved above

    def _resolve_readers(self, shape: StudyShape) -> None:
        if self.n_repeat_readers is None:
            if not shape.second_readers:
                count = 0
            elif shape.second_reader_share is None:
                count = PAPER_REPEAT_READERS
            else:
                count = max(shape.min_second_readers,
                            int(round(shape.second_reader_share * self.patients)))  # type: ignore[operator]
            object.__setattr__(self, "n_repeat_readers", count)
        elif not shape.second_readers and self.n_repeat_readers != 0:
            raise ConfigError(
                f"n_repeat_readers (--repeat-readers): expected 0 with --like {shape.name}, whose paper has no "
                f"second reader or repeat outline; got {self.n_repeat_readers!r}. Drop --repeat-readers or "
                "choose a shape with an ICC step (guo2024, gu2025, zhang2025).")

    def _check_design(self, shape: StudyShape) -> None:
        """The shape's centres and arms fit these patients and centres."""
        centers, patients = int(self.centers), int(self.patients)  # type: ignore[arg-type]
        if shape.fixed_centers and centers != shape.default_centers:
            raise ConfigError(
                f"centers (--centers): expected {shape.default_centers} with --like {shape.name} (the paper's "
                f"design); got {centers}. Drop --centers, or use --like guo2024 or zhang2025 for other counts.")
        uses_rest = any(a.centers == "rest" for a in shape.arms)
        if uses_rest and centers < 2:
            raise ConfigError(
                f"centers (--centers): expected at least 2 with --like {shape.name} (its external arm comes from "
                f"other centres); got {centers}. Pass --centers 2 or more.")
        if len(shape.arms) == 1:
            return
        sizes = arm_sizes(shape, patients)
        need_rest = centers - 1 if uses_rest else 1
        rest_sizes = [n for a, n in zip(shape.arms, sizes) if a.centers == "rest"]
        if sizes[0] < 2 or any(n < need_rest for n in rest_sizes):
            raise ConfigError(
                f"patients (--patients): expected enough patients for every arm of --like {shape.name} "
                f"({', '.join(a.name for a in shape.arms)}) and every centre; got {patients} patients for "
                f"{centers} centre(s), giving arms of {sizes}. Raise --patients or lower --centers.")

    @property
    def shape(self) -> StudyShape:
        """The :class:`~alnm_ray.synth.studies.StudyShape` of :attr:`like`."""
        return STUDIES[self.like]

    @property
    def preset(self) -> SizePreset:
        """The :class:`SizePreset` of :attr:`size`."""
        return SIZE_PRESETS[self.size]

    @property
    def n_repeat(self) -> int:
        """Patients with B and A2 masks: ``min(n_repeat_readers, patients)``."""
        return min(int(self.n_repeat_readers), int(self.patients))  # type: ignore[arg-type]

    @property
    def id_width(self) -> int:
        """Digits of the patient number in ``P0001``."""
        return max(4, len(str(self.patients)))

    def to_dict(self) -> dict[str, Any]:
        """Plain, YAML/JSON-serialisable values."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SynthConfig":
        """Build from :meth:`to_dict` output (unknown keys are an error)."""
        known = {f.name for f in fields(cls) if not f.name.startswith("_")}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"synth config: expected keys among {', '.join(sorted(known))}; got unknown "
                              f"{', '.join(unknown)}. Remove them or fix their spelling.")
        return cls(**data)

    def to_yaml(self) -> str:
        """The config as YAML text."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=True)

    def config_hash(self) -> str:
        """A stable SHA-256 of the settings (hex, 16 characters)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_int(name: str, value: object, low: int, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ConfigError(f"{name}: expected an integer >= {low}; got {value!r}. Pass {fix}.")


__all__ = ["MAX_SIGNAL", "PAPER_PREVALENCE", "PAPER_REPEAT_READERS", "SIZE_PRESETS", "SizePreset",
           "SynthConfig"]
