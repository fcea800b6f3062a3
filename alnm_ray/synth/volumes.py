"""3-D MRI sequences: T2WI, DWI (b = 800 s/mm²), ADC and DCE phases 1 and 2.

Tissue is a mixture of fat and fibroglandular tissue (a smooth random pattern)
around the lesion; each sequence maps the tissue classes to its own contrast,
then the centre's scanner acts on it: a gain and an offset, a smooth
multiplicative bias field (T2WI, DWI, DCE; so N4 correction matters) and Rician
magnitude noise.  Values are stored as int16 like scanner DICOM; ADC in
1e-6 mm²/s.

Arrays are in NumPy ``(z, y, x)`` order; :class:`Grid` sizes, spacings and
origins in SimpleITK ``(x, y, z)`` order, in mm, with identity direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alnm_ray.synth._fields import FourierField, draw_field, sigmoid
from alnm_ray.synth.centers import CenterProfile
from alnm_ray.synth.latent import Phenotype
from alnm_ray.synth.lesion import LesionShape, ReaderStyle

#: b-value of the DWI sequence (Guo et al. 2024), in s/mm² (× ADC in 1e-3 mm²/s → ×1e-3).
B_VALUE = 800.0
#: Signal of each tissue class per sequence, in reference units (gland T2 = 400).
#: Fat is bright on T2WI and suppressed on DWI/DCE (fat-saturated protocols).
_T2 = {"fat": 800.0, "gland": 400.0, "lesion": 400.0, "necrosis": 950.0}
_S0 = {"fat": 40.0, "gland": 420.0, "lesion": 450.0, "necrosis": 700.0}
_ADC = {"fat": 0.4, "gland": 1.9, "necrosis": 2.5}  # 1e-3 mm²/s
_DCE_PRE = {"fat": 90.0, "gland": 300.0, "lesion": 320.0, "necrosis": 300.0}
#: Reference signal per sequence that relative noise SDs scale (a typical gland value).
_NOISE_REF = {"T2WI": 400.0, "DWI": 200.0, "DCE_P2": 300.0}
_INT16_MAX = 32767
#: DCE phase 1 (first post-contrast, Gu 2025) relative to phase 2: malignant lesions
#: enhance fast (most of the peak already), background parenchyma slowly.
_P1_LESION, _P1_BACKGROUND = 0.85, 0.55


def scanner_key(sequence: str) -> str:
    """The key of a sequence in a centre's gain/offset/noise tables (every DCE phase shares DCE_P2's)."""
    return "DCE_P2" if sequence.startswith("DCE_P") else sequence


@dataclass(frozen=True)
class Grid:
    """A regular grid with identity direction.

    Args:
        size: Voxels per axis, SimpleITK order (x, y[, z]).
        spacing: mm per voxel, same order.
        origin: Physical position (mm) of the first voxel's centre.
    """

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]

    @classmethod
    def centred(cls, size: tuple[int, ...], spacing: tuple[float, ...]) -> "Grid":
        """A grid whose field of view is centred on the origin."""
        origin = tuple(round(-(n - 1) / 2 * s, 4) for n, s in zip(size, spacing))
        return cls(tuple(int(n) for n in size), tuple(float(s) for s in spacing), origin)

    @property
    def shape(self) -> tuple[int, ...]:
        """NumPy array shape (reversed :attr:`size`)."""
        return tuple(reversed(self.size))

    def axis(self, i: int, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Physical coordinates (mm) of voxel centres ``lo:hi`` along SimpleITK axis ``i``."""
        hi = self.size[i] if hi is None else hi
        return self.origin[i] + self.spacing[i] * np.arange(lo, hi)

    def points(self, box: tuple[slice, ...] | None = None) -> np.ndarray:
        """``(N, D)`` voxel centres (x, y[, z] columns) in NumPy C order of ``box``."""
        box = box or tuple(slice(0, n) for n in self.shape)
        dims = len(self.size)
        axes = [self.axis(dims - 1 - k, box[k].start, box[k].stop) for k in range(dims)]
        mesh = np.meshgrid(*axes, indexing="ij")  # numpy order: (z, y, x)
        return np.stack([m.ravel() for m in reversed(mesh)], axis=1)

    def box(self, center: np.ndarray, radius: float) -> tuple[slice, ...]:
        """NumPy slices of the voxels within ``radius`` mm (per axis) of ``center``."""
        slices = []
        for k in range(len(self.size)):
            i = len(self.size) - 1 - k
            lo = int(np.floor((center[i] - radius - self.origin[i]) / self.spacing[i]))
            hi = int(np.ceil((center[i] + radius - self.origin[i]) / self.spacing[i])) + 1
            start = min(max(lo, 0), self.size[i])
            slices.append(slice(start, max(start, min(hi, self.size[i]))))
        return tuple(slices)

    def nearest_index(self, point: np.ndarray) -> tuple[int, ...]:
        """NumPy index of the voxel nearest ``point`` (clipped into the grid)."""
        idx = [int(np.clip(np.rint((point[i] - self.origin[i]) / self.spacing[i]), 0, self.size[i] - 1))
               for i in range(len(self.size))]
        return tuple(reversed(idx))


@dataclass(frozen=True)
class Anatomy:
    """Patient-level background: breast tissue pattern, enhancement, bias, motion.

    Args:
        gland: Fibroglandular pattern (unit-variance field, ~5 mm correlation).
        density: Shift of the pattern; higher means a denser breast.
        bpe: Background parenchymal enhancement on DCE (fraction).
        bias: Bias-field shape (unit variance, ~70 mm correlation); the centre sets its strength.
        dwi_shift_mm: Displacement of the anatomy on DWI/ADC (EPI distortion, motion).
    """

    gland: FourierField
    density: float
    bpe: float
    bias: FourierField
    dwi_shift_mm: np.ndarray


@dataclass(frozen=True)
class LesionContrast:
    """Lesion signal that depends on the traits (enhancement, restriction) and nuisance (T2)."""

    t2_relative: float
    enhancement: float
    adc: float  # 1e-3 mm²/s


def draw_anatomy(rng: np.random.Generator) -> Anatomy:
    """Draw a patient's breast background."""
    return Anatomy(gland=draw_field(rng, float(rng.uniform(4.0, 7.0)), terms=48),
                   density=float(rng.normal(0.0, 0.6)),
                   bpe=float(rng.uniform(0.05, 0.4)), bias=draw_field(rng, 70.0, terms=6),
                   dwi_shift_mm=rng.normal(0.0, 0.7, size=3))


def lesion_contrast(phenotype: Phenotype, rng: np.random.Generator) -> LesionContrast:
    """DCE enhancement rises with the enhancement trait, ADC falls with restriction."""
    return LesionContrast(t2_relative=float(np.exp(rng.normal(0.0, 0.12))),
                          enhancement=float(0.9 * np.exp(0.35 * phenotype.enhancement)),
                          adc=float(np.clip(1.15 * np.exp(-0.15 * phenotype.restriction), 0.5, 2.0)))


@dataclass
class TissueMaps:
    """Tissue fractions on one grid, arrays of the grid's shape."""

    gland: np.ndarray
    lesion: np.ndarray
    necrosis: np.ndarray
    texture: np.ndarray  # relative lesion texture (amplitude applied), 0 outside the lesion box
    bias: np.ndarray  # unit-variance bias-field shape


def tissue_maps(grid: Grid, lesion: LesionShape, anatomy: Anatomy, pv_samples: int,
                shift: np.ndarray | None = None) -> TissueMaps:
    """Evaluate the anatomy on ``grid`` (the anatomy displaced by ``shift`` mm).

    The lesion is averaged over ``pv_samples`` positions across each slice so
    thick slices show partial-volume blur at its margins.
    """
    shift = np.zeros(3) if shift is None else np.asarray(shift, float)
    axes = [grid.axis(i) - shift[i] for i in range(3)]
    gland = sigmoid((anatomy.gland.on_grid(axes) + anatomy.density) / 0.6)
    bias = anatomy.bias.on_grid(axes)
    les, nec, tex = (np.zeros(grid.shape) for _ in range(3))
    box = grid.box(lesion.center + shift, lesion.bound_mm())
    bpts = grid.points(box) - shift
    bshape = tuple(s.stop - s.start for s in box)
    if len(bpts):
        acc_l, acc_n = np.zeros(len(bpts)), np.zeros(len(bpts))
        for k in range(pv_samples):
            dz = ((k + 0.5) / pv_samples - 0.5) * grid.spacing[2]
            m, n = lesion.membership(bpts + np.array([0.0, 0.0, dz]))
            acc_l += m
            acc_n += n
        acc_l /= pv_samples
        les[box] = acc_l.reshape(bshape)
        nec[box] = (acc_n / pv_samples).reshape(bshape)
        tex[box] = lesion_texture(lesion, bpts, acc_l).reshape(bshape)
    return TissueMaps(gland, les, nec, tex, bias)


def lesion_texture(lesion: LesionShape, points: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """Relative internal texture at ``points``; 0 where the lesion is absent (< 1e-4), which it multiplies."""
    out = np.zeros(len(points))
    inside = membership > 1e-4
    if inside.any():
        out[inside] = lesion.texture_amp * lesion.texture(points[inside])
    return out


def _mix(maps: TissueMaps, values: dict[str, float], lesion_value: np.ndarray | float) -> np.ndarray:
    background = values["fat"] * (1 - maps.gland) + values["gland"] * maps.gland
    inside = (1 - maps.necrosis) * lesion_value + maps.necrosis * values["necrosis"]
    return (1 - maps.lesion) * background + maps.lesion * inside


def _adc_map(maps: TissueMaps, contrast: LesionContrast) -> np.ndarray:
    return _mix(maps, _ADC, contrast.adc * (1 + 0.6 * maps.texture))


def sequence_signal(sequence: str, maps: TissueMaps, contrast: LesionContrast, anatomy: Anatomy) -> np.ndarray:
    """Noise-free tissue signal of one sequence (reference units; ADC in 1e-3 mm²/s)."""
    if sequence == "T2WI":
        return _mix(maps, _T2, _T2["lesion"] * contrast.t2_relative * (1 + maps.texture))
    if sequence == "ADC":
        return _adc_map(maps, contrast)
    if sequence == "DWI":
        s0 = _mix(maps, _S0, _S0["lesion"] * (1 + 0.5 * maps.texture))
        return s0 * np.exp(-B_VALUE * 1e-3 * _adc_map(maps, contrast))
    if sequence == "DCE_P2":
        pre = _mix(maps, _DCE_PRE, _DCE_PRE["lesion"])
        lesion_enh = np.maximum(contrast.enhancement * (1 + 0.8 * maps.texture), 0.0)
        enh = _mix(maps, {"fat": 0.02, "gland": anatomy.bpe, "necrosis": 0.05}, lesion_enh)
        return pre * (1 + enh)
    if sequence == "DCE_P1":
        pre = _mix(maps, _DCE_PRE, _DCE_PRE["lesion"])
        lesion_enh = np.maximum(_P1_LESION * contrast.enhancement * (1 + 0.8 * maps.texture), 0.0)
        enh = _mix(maps, {"fat": 0.02, "gland": _P1_BACKGROUND * anatomy.bpe, "necrosis": 0.03}, lesion_enh)
        return pre * (1 + enh)
    raise ValueError(f"sequence: expected one of T2WI, DWI, ADC, DCE_P1, DCE_P2; got {sequence!r}.")


def scanner(sequence: str, signal: np.ndarray, maps: TissueMaps, center: CenterProfile,
            rng: np.random.Generator) -> np.ndarray:
    """Apply the centre's gain, offset, bias field and noise; return int16 voxels.

    Magnitude images get Rician noise (the modulus of complex Gaussian noise);
    ADC, a fitted map, gets Gaussian noise in 1e-6 mm²/s.
    """
    key = scanner_key(sequence)
    gain, offset = center.gain[key], center.offset[key]
    if sequence == "ADC":
        out = gain * signal * 1000.0 + rng.normal(0.0, center.noise["ADC"], size=signal.shape)
    else:
        clean = gain * signal * np.exp(center.bias_sd * maps.bias)
        sd = center.noise[key] * gain * _NOISE_REF[key]
        real = clean + rng.normal(0.0, sd, size=signal.shape)
        imag = rng.normal(0.0, sd, size=signal.shape)
        out = np.sqrt(real * real + imag * imag) + offset
    return np.clip(np.rint(out), 0, _INT16_MAX).astype(np.int16)


def reader_mask(grid: Grid, lesion: LesionShape, style: ReaderStyle,
                shift: np.ndarray | None = None) -> np.ndarray:
    """A reader's uint8 mask of the lesion on ``grid``; never empty.

    When the outline misses every voxel centre (a tiny lesion on thick slices),
    the voxel nearest the lesion centre is marked, as a reader would.
    """
    shift = np.zeros(3) if shift is None else np.asarray(shift, float)
    mask = np.zeros(grid.shape, dtype=np.uint8)
    box = grid.box(lesion.center + shift, lesion.bound_mm())
    pts = grid.points(box) - shift
    if len(pts):
        mask[box] = style.mask(lesion, pts).reshape(tuple(s.stop - s.start for s in box))
    if not mask.any():
        mask[grid.nearest_index(lesion.center + shift)] = 1
    return mask


def mri_grids(center: CenterProfile) -> dict[str, Grid]:
    """The anatomical (T2WI, DCE) and diffusion (DWI, ADC) grids of a centre."""
    return {"anatomical": Grid.centred(center.mri_size, center.spacing_mm),
            "diffusion": Grid.centred(center.dwi_size, center.dwi_spacing_mm)}


#: Which grid each MRI sequence lives on.
SEQUENCE_GRID = {"T2WI": "anatomical", "DCE_P1": "anatomical", "DCE_P2": "anatomical", "DWI": "diffusion",
                 "ADC": "diffusion"}
