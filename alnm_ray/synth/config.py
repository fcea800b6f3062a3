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


#: ``small`` keeps a whole test suite fast on 2 cores (≈ 48×48×16 MRI voxels);
#: ``paper`` is the Guo 2024 cohort size (270 patients) with larger images.
SIZE_PRESETS: dict[str, SizePreset] = {
    "small": SizePreset("small", mri_fov_mm=(36.0, 36.0, 36.0), dwi_inplane_factor=1.5,
                        mg_matrix=(128, 128), mg_spacing_mm=0.35, radius_median_mm=5.0,
                        radius_range_mm=(2.5, 8.0), default_patients=40, mg_line_samples=24),
    "paper": SizePreset("paper", mri_fov_mm=(72.0, 72.0, 64.0), dwi_inplane_factor=1.5,
                        mg_matrix=(256, 256), mg_spacing_mm=0.28, radius_median_mm=8.0,
                        radius_range_mm=(3.0, 14.0), default_patients=270, mg_line_samples=40),
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
        centers: Number of centres (scanner sites); at most ``patients``.
        seed: Non-negative integer; the same seed gives byte-identical files.
        signal: Strength of the link between images and label: 1 (default)
            targets an oracle AUC ≈ 0.82; 0 draws labels independently of the
            images and of the clinical variables (for leakage checks).
        size: ``"small"`` or ``"paper"`` (see :data:`SIZE_PRESETS`).
        n_repeat_readers: Patients that also get reader B and repeat-A (A2)
            masks; capped at ``patients`` (see :attr:`n_repeat`).
        prevalence: Expected ALNM prevalence (Guo 2024: 0.433).
        test_fraction: Fraction of each label class in the test split (7:3 → 0.3).
        cohort: Cohort name written to every manifest row.

    Raises:
        ConfigError: When a value is out of range; the message names the
            field, the expected range, the value and the fix.
    """

    patients: int | None = None
    centers: int = 2
    seed: int = 0
    signal: float = 1.0
    size: str = "small"
    n_repeat_readers: int = PAPER_REPEAT_READERS
    prevalence: float = PAPER_PREVALENCE
    test_fraction: float = 0.3
    cohort: str = "synth"

    def __post_init__(self) -> None:
        look_up_option("size (--size)", self.size, SIZE_PRESETS)
        if self.patients is None:
            object.__setattr__(self, "patients", SIZE_PRESETS[self.size].default_patients)
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
        _check_int("n_repeat_readers", self.n_repeat_readers, 0, "--repeat-readers 0 or more")
        check_range("signal (--signal)", float(self.signal), 0.0, MAX_SIGNAL)
        check_range("prevalence (--prevalence)", float(self.prevalence), 0.02, 0.98)
        check_range("test_fraction", float(self.test_fraction), 0.0, 0.9)
        if not isinstance(self.cohort, str) or not _NAME.match(self.cohort):
            raise ConfigError(f"cohort (--cohort): expected letters, digits, '_', '.' or '-'; got "
                              f"{self.cohort!r}. Choose a name like 'synth' or 'centreA_2024'.")
        object.__setattr__(self, "signal", float(self.signal))
        object.__setattr__(self, "prevalence", float(self.prevalence))
        object.__setattr__(self, "test_fraction", float(self.test_fraction))

    @property
    def preset(self) -> SizePreset:
        """The :class:`SizePreset` of :attr:`size`."""
        return SIZE_PRESETS[self.size]

    @property
    def n_repeat(self) -> int:
        """Patients with B and A2 masks: ``min(n_repeat_readers, patients)``."""
        return min(self.n_repeat_readers, int(self.patients))  # type: ignore[arg-type]

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
