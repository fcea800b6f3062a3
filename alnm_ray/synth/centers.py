"""Centres (scanner sites): acquisition geometry and scanner effects.

Each centre has its own voxel spacing (a 3 T and a 1.5 T "look"), its own
intensity gain, offset and noise per sequence, its own strength of MRI bias
field, and its own mammography pixel spacing.  These are the nuisance effects
that harmonisation and N4 correction exist for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from alnm_ray.synth._rng import CohortStream, cohort_rng
from alnm_ray.synth.config import SynthConfig

#: Sequences the generator writes (Guo et al. 2024), in manifest order.
SYNTH_SEQUENCES: tuple[str, ...] = ("MG_CC", "MG_MLO", "T2WI", "DWI", "ADC", "DCE_P2")
#: MRI sequences that carry a multiplicative bias field (ADC is a computed ratio map: the field cancels).
BIASED_SEQUENCES: tuple[str, ...] = ("T2WI", "DWI", "DCE_P2")

#: Base scanner profiles, cycled for more centres (with seeded jitter):
#: (field strength T, anatomical spacing x/y/z mm, MG pixel factor, relative noise SD, bias-field SD).
#: Thin-slice 3 T protocols are less noisy but show stronger B1 inhomogeneity.
_BASE_PROFILES: tuple[tuple[float, tuple[float, float, float], float, float, float], ...] = (
    (3.0, (0.7, 0.7, 2.0), 1.00, 0.025, 0.22),
    (1.5, (0.9, 0.9, 3.0), 1.15, 0.050, 0.12),
    (3.0, (0.8, 0.8, 2.5), 0.90, 0.030, 0.25),
    (1.5, (0.75, 0.75, 1.8), 1.10, 0.045, 0.15),
)


@dataclass(frozen=True)
class CenterProfile:
    """One centre's acquisition geometry and scanner effects.

    Args:
        name: Centre name (``C1``, ``C2``, …).
        field_strength_t: MRI field strength (T).
        spacing_mm: T2WI/DCE voxel spacing (x, y, z) in mm.
        mri_size: T2WI/DCE matrix (x, y, z) in voxels.
        dwi_spacing_mm: DWI/ADC voxel spacing (x, y, z) in mm.
        dwi_size: DWI/ADC matrix (x, y, z) in voxels.
        mg_spacing_mm: Mammogram pixel spacing (mm, square pixels).
        mg_size: Mammogram matrix (x, y) in pixels.
        gain: Multiplicative intensity scale per sequence.
        offset: Additive intensity offset per sequence (stored units).
        noise: Noise SD per sequence, relative to the tissue reference signal
            (ADC: absolute, in 1e-6 mm²/s).
        bias_sd: SD of the log of the MRI bias field.
    """

    name: str
    field_strength_t: float
    spacing_mm: tuple[float, float, float]
    mri_size: tuple[int, int, int]
    dwi_spacing_mm: tuple[float, float, float]
    dwi_size: tuple[int, int, int]
    mg_spacing_mm: float
    mg_size: tuple[int, int]
    gain: dict[str, float]
    offset: dict[str, float]
    noise: dict[str, float]
    bias_sd: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description (rounded to 6 digits)."""
        def r(v: Any) -> Any:
            if isinstance(v, dict):
                return {k: r(x) for k, x in v.items()}
            if isinstance(v, tuple):
                return [r(x) for x in v]
            return round(v, 6) if isinstance(v, float) else v
        return {k: r(v) for k, v in self.__dict__.items()}


def _round_spacing(value: float) -> float:
    return round(value * 20) / 20  # 0.05 mm steps, like scanner protocols


def make_centers(config: SynthConfig) -> list[CenterProfile]:
    """The centres of a cohort, deterministic for ``config.seed``.

    Centres 1–4 use the base profiles (3 T 0.7×0.7×2 mm, 1.5 T 0.9×0.9×3 mm, …);
    further centres cycle through them with jittered spacing.
    """
    rng = cohort_rng(config.seed, CohortStream.CENTERS)
    preset = config.preset
    fov = np.asarray(preset.mri_fov_mm)
    centers = []
    for k in range(int(config.centers)):  # type: ignore[arg-type]  # resolved by SynthConfig
        field_t, spacing, mg_factor, noise, bias = _BASE_PROFILES[k % len(_BASE_PROFILES)]
        jitter = rng.uniform(0.93, 1.08, size=3)  # drawn for every centre to keep streams aligned
        sp = np.asarray(spacing, float)
        if k >= len(_BASE_PROFILES):
            sp = np.array([max(0.5, _round_spacing(s * j)) for s, j in zip(spacing, jitter)])
        dwi_sp = sp * np.array([preset.dwi_inplane_factor, preset.dwi_inplane_factor, 1.0])
        gains = np.exp(rng.normal(0.0, 0.3, size=3))
        offsets = rng.uniform(0.0, 60.0, size=3)
        noise_jitter = rng.uniform(0.8, 1.25, size=3)
        adc_gain = float(np.exp(rng.normal(0.0, 0.03)))
        mg_gain, mg_offset = float(np.exp(rng.normal(0.0, 0.15))), float(rng.uniform(0.0, 150.0))
        centers.append(CenterProfile(
            name=f"C{k + 1}",
            field_strength_t=field_t,
            spacing_mm=tuple(float(s) for s in sp),  # type: ignore[arg-type]
            mri_size=tuple(int(n) for n in np.maximum(np.rint(fov / sp), 8)),  # type: ignore[arg-type]
            dwi_spacing_mm=tuple(float(round(s, 4)) for s in dwi_sp),  # type: ignore[arg-type]
            dwi_size=tuple(int(n) for n in np.maximum(np.rint(fov / dwi_sp), 8)),  # type: ignore[arg-type]
            mg_spacing_mm=round(preset.mg_spacing_mm * mg_factor, 4),
            mg_size=preset.mg_matrix,
            gain={"T2WI": float(gains[0]), "DWI": float(gains[1]), "DCE_P2": float(gains[2]),
                  "ADC": adc_gain, "MG": mg_gain},
            offset={"T2WI": float(offsets[0]), "DWI": float(offsets[1]), "DCE_P2": float(offsets[2]),
                    "ADC": 0.0, "MG": mg_offset},
            noise={"T2WI": noise * float(noise_jitter[0]), "DWI": 2.0 * noise * float(noise_jitter[1]),
                   "DCE_P2": noise * float(noise_jitter[2]), "ADC": 40.0 + 1500.0 * noise, "MG": 0.02},
            bias_sd=bias,
        ))
    return centers


def assign_centers(config: SynthConfig) -> list[int]:
    """Centre index of each patient (every centre gets at least one).

    Centre sizes are unequal, as in real networks: after one patient each, the
    rest are spread with weights ``1 / sqrt(k + 1)`` (the first centre largest).
    Patients are numbered centre by centre.
    """
    rng = cohort_rng(config.seed, CohortStream.ASSIGNMENT)
    n, c = int(config.patients), int(config.centers)  # type: ignore[arg-type]
    weights = 1.0 / np.sqrt(np.arange(1, c + 1))
    counts = np.ones(c, dtype=int) + rng.multinomial(n - c, weights / weights.sum())
    return [k for k in range(c) for _ in range(int(counts[k]))]
