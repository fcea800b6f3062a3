"""2-D ultrasound (B-mode-like) of the primary tumour and the most suspicious axillary node.

Each view is a map of echogenicity (linear amplitude) that a simulated probe
turns into a B-mode picture:

* **US_TUMOR** — skin, subcutaneous fat, fibroglandular tissue and pectoral
  muscle in layers; the tumour is the largest section through the same 3-D
  phantom lesion the other modalities show (:mod:`alnm_ray.synth.lesion`), so
  its size and margin irregularity (lobes, spicules, an echogenic halo) follow
  the traits.  It is hypoechoic with internal texture from the heterogeneity
  trait, bright foci where microcalcifications are present, and shadowing or
  enhancement below it as the clinical table says.
* **US_LN** — axillary fat with fibrous septa around an oval node: a
  hypoechoic cortex around an echogenic fatty hilum.  The node's involvement
  (correlated with the latent risk, :func:`node_involvement`) thickens the
  cortex, shrinks and then effaces the hilum, rounds the node (long/short
  axis ratio toward 1) and lobulates its contour.

The probe multiplies by fully developed speckle (the envelope of complex
Gaussian noise blurred by an anisotropic point-spread function: finer axially
than laterally), applies a residual depth attenuation and the centre's gain,
and log-compresses to 8 bits over its dynamic range.  Images are ``(depth y,
lateral x)`` uint8 arrays (row 0 at the skin); masks share the grid.

Example:
    >>> import numpy as np
    >>> z = node_involvement(2.0, np.random.default_rng(0))
    >>> bool(-5 < z < 8)
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from alnm_ray.synth._fields import Bumps, draw_bumps, draw_field, sigmoid
from alnm_ray.synth._rng import CohortStream, cohort_rng
from alnm_ray.synth.config import SizePreset, SynthConfig
from alnm_ray.synth.latent import Phenotype
from alnm_ray.synth.lesion import LesionShape, ReaderStyle, max_boundary
from alnm_ray.synth.volumes import Grid, lesion_texture

#: Correlation of the node's involvement with the latent risk score: the paper's LN score
#: (AUC 0.91) beat its tumour score (0.80), so the node carries more of the signal.
NODE_RISK_CORRELATION = 0.85
#: Echogenicity (linear amplitude) of each tissue; :data:`_WHITE` maps to 255.
_ECHO = {"skin": 1.0, "fat": 0.25, "gland": 0.6, "muscle": 0.3, "tumour": 0.035, "calcification": 3.0,
         "node_fat": 0.28, "septum": 0.7, "cortex": 0.03, "hilum": 0.75}
_WHITE = 2.0
#: Posterior feature → attenuation per mm of tumour above (1/mm): shadowing darkens, enhancement brightens.
_POSTERIOR = {"Absent": 0.0, "Shadowing": -0.15, "Enhancement": 0.06}
_SKIN_MM = 1.2

#: Base probe profiles, cycled for more centres: (gain, dynamic range dB, speckle axial/lateral SD mm,
#: residual attenuation dB/mm, pixel factor).
_BASE_PROBES: tuple[tuple[float, float, tuple[float, float], float, float], ...] = (
    (1.00, 45.0, (0.35, 0.70), 0.15, 1.00),
    (1.15, 50.0, (0.40, 0.85), 0.10, 1.10),
    (0.90, 42.0, (0.32, 0.65), 0.20, 0.95),
    (1.05, 48.0, (0.38, 0.80), 0.12, 1.05),
    (0.95, 40.0, (0.45, 0.90), 0.18, 1.15),
    (1.10, 52.0, (0.36, 0.75), 0.08, 0.90),
)
#: Out-of-plane component kept of the lobe and spicule directions: the plane shown is the
#: tumour's largest section, where a sonographer sees its margin irregularity.
_IN_PLANE_Z = 0.3


@dataclass(frozen=True)
class UsScanner:
    """One centre's ultrasound system.

    Args:
        name: Centre name (``C1``, …).
        spacing_mm: Pixel spacing (mm, square pixels).
        size: Image size (lateral x, depth y) in pixels.
        gain: Overall amplitude gain.
        dynamic_range_db: Log-compression range (dB) mapped onto 0–255.
        speckle_mm: Point-spread SD (axial, lateral) in mm.
        attenuation_db_mm: Depth attenuation left after time-gain compensation (dB/mm).
    """

    name: str
    spacing_mm: float
    size: tuple[int, int]
    gain: float
    dynamic_range_db: float
    speckle_mm: tuple[float, float]
    attenuation_db_mm: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description (rounded to 6 digits)."""
        return {"name": self.name, "spacing_mm": round(self.spacing_mm, 6), "size": list(self.size),
                "gain": round(self.gain, 6), "dynamic_range_db": round(self.dynamic_range_db, 6),
                "speckle_mm": [round(v, 6) for v in self.speckle_mm],
                "attenuation_db_mm": round(self.attenuation_db_mm, 6)}


def make_us_scanners(config: SynthConfig) -> list[UsScanner]:
    """The centres' ultrasound systems, deterministic for ``config.seed``."""
    rng = cohort_rng(config.seed, CohortStream.US_SCANNERS)
    preset = config.preset
    out = []
    for k in range(int(config.centers)):  # type: ignore[arg-type]
        gain, dr, speckle, att, pix = _BASE_PROBES[k % len(_BASE_PROBES)]
        jitter = rng.uniform(0.92, 1.08, size=3)
        out.append(UsScanner(name=f"C{k + 1}", spacing_mm=round(preset.us_spacing_mm * pix, 4),
                             size=preset.us_matrix, gain=float(gain * jitter[0]),
                             dynamic_range_db=float(dr * jitter[1]),
                             speckle_mm=(speckle[0] * float(jitter[2]), speckle[1] * float(jitter[2])),
                             attenuation_db_mm=att))
    return out


def us_grid(scanner: UsScanner) -> Grid:
    """The scanner's image grid (x lateral, y depth; centred on the origin)."""
    return Grid.centred(scanner.size, (scanner.spacing_mm, scanner.spacing_mm))


def node_involvement(risk: float, rng: np.random.Generator) -> float:
    """The node's involvement: ``rho * risk + sqrt(1 - rho²) * noise`` (standard normal when risk is)."""
    rho = NODE_RISK_CORRELATION
    return float(rho * risk + np.sqrt(1.0 - rho ** 2) * rng.standard_normal())


def draw_node(involvement: float, preset: SizePreset, rng: np.random.Generator) -> LesionShape:
    """An axillary node whose shape follows ``involvement`` (centre at the origin, long axis in-plane).

    The hilum is the lesion's inner core (:attr:`LesionShape.necrosis`, a
    fraction of the normalised radius); the cortex is the rest.
    """
    t = float(sigmoid(1.5 * involvement))
    long_axis = preset.node_long_axis_mm * float(np.exp(0.12 * involvement)) * float(rng.uniform(0.9, 1.1))
    ratio = max(2.4 - 1.3 * t, 1.15)  # long/short axis: < 2 is suspicious (Zhang 2025 criteria)
    short = long_axis / ratio
    semi = np.array([long_axis / 2, short / 2, short / 2])
    angle = float(rng.normal(0.0, 0.25))
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    lobes = draw_bumps(rng, 4, kappa=(4.0, 10.0), amplitude_sd=0.02 + 0.10 * t)
    spicules = Bumps.none()
    return LesionShape(center=np.zeros(3), rotation=rotation, semi_axes=semi, lobes=lobes, spicules=spicules,
                       edge_mm=0.2, necrosis=0.55 * (1.0 - t * t),
                       texture=draw_field(rng, 1.5, dim=3, terms=24), texture_amp=0.05,
                       max_boundary=max_boundary(lobes, spicules))


def _flatten(bumps: Bumps) -> Bumps:
    if len(bumps) == 0:
        return bumps
    d = bumps.directions * np.array([1.0, 1.0, _IN_PLANE_Z])
    return Bumps(d / np.linalg.norm(d, axis=1, keepdims=True), bumps.kappa, bumps.amplitude)


def largest_section(lesion: LesionShape) -> LesionShape:
    """``lesion`` turned so its lobes and spicules lie near the image plane (z = 0), as in the largest section."""
    lobes, spicules = _flatten(lesion.lobes), _flatten(lesion.spicules)
    rotation = np.eye(3)  # bumps are defined in the ellipsoid frame: keep it aligned with the plane
    return LesionShape(**{**lesion.__dict__, "rotation": rotation, "lobes": lobes, "spicules": spicules,
                          "max_boundary": max_boundary(lobes, spicules)})


def place_in_plane(shape: LesionShape, grid: Grid, depth_mm: tuple[float, float],
                   rng: np.random.Generator) -> LesionShape:
    """Centre ``shape`` in the image plane (z = 0): lateral within ±3 mm, depth in ``depth_mm`` (from the middle)."""
    half = np.array([grid.size[0] * grid.spacing[0], grid.size[1] * grid.spacing[1]]) / 2
    room = np.maximum(half - shape.bound_mm() - 1.0, 0.0)
    x = float(np.clip(rng.uniform(-3.0, 3.0), -room[0], room[0]))
    y = float(np.clip(rng.uniform(*depth_mm), -room[1], room[1]))
    return LesionShape(**{**shape.__dict__, "center": np.array([x, y, 0.0])})


def _plane_points(grid: Grid, box: tuple[slice, ...]) -> np.ndarray:
    pts = grid.points(box)
    return np.concatenate([pts, np.zeros((len(pts), 1))], axis=1)


def _memberships(shape: LesionShape, grid: Grid,
                 core_ramp_mm: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft membership, core (necrosis/hilum) and internal texture of ``shape`` on ``grid``.

    ``core_ramp_mm`` sharpens the core's edge (a node's hilum is crisp; the
    lesion model's 0.5 mm necrosis ramp blurs a few-millimetre node).
    """
    m, core, tex = (np.zeros(grid.shape) for _ in range(3))
    box = grid.box(shape.center[:2], shape.bound_mm())
    pts = _plane_points(grid, box)
    if len(pts):
        bshape = tuple(s.stop - s.start for s in box)
        mm, cc = shape.membership(pts)
        if core_ramp_mm is not None:
            f, b = shape.normalised_radius(pts)
            cc = sigmoid((shape.necrosis - f) * b * shape.radius_mm / core_ramp_mm)
        m[box], core[box] = mm.reshape(bshape), cc.reshape(bshape)
        tex[box] = lesion_texture(shape, pts, mm).reshape(bshape)
    return m, core, tex


def _depth(grid: Grid) -> np.ndarray:
    """Depth below the skin (mm) of each row, shape ``(ny, 1)``."""
    return (grid.axis(1) - grid.origin[1] + grid.spacing[1] / 2)[:, None]


def _breast_background(grid: Grid, rng: np.random.Generator) -> np.ndarray:
    x = grid.axis(0)
    depth = _depth(grid)
    total = grid.size[1] * grid.spacing[1]
    undulation = draw_field(rng, 8.0, dim=1, terms=8).on_grid([x])[None, :]
    fat_bottom = _SKIN_MM + rng.uniform(3.0, 7.0) + 0.8 * undulation
    muscle_top = total * rng.uniform(0.82, 0.92) + 0.8 * undulation
    gland = _ECHO["gland"] * np.exp(0.35 * draw_field(rng, float(rng.uniform(1.5, 3.0)), dim=2, terms=48)
                                    .on_grid([x, grid.axis(1)]))
    lobules = _ECHO["fat"] * np.exp(0.25 * draw_field(rng, 2.5, dim=2, terms=24).on_grid([x, grid.axis(1)]))
    striations = _ECHO["muscle"] * (1.0 + 0.35 * np.cos(2 * np.pi * (depth - 0.3 * undulation) / 1.2))
    soft = 0.6  # mm, width of the layer boundaries
    w_fat = sigmoid((depth - _SKIN_MM) / 0.2) * sigmoid((fat_bottom - depth) / soft)
    w_muscle = sigmoid((depth - muscle_top) / soft)
    w_gland = np.clip(1.0 - w_fat - w_muscle - sigmoid((_SKIN_MM - depth) / 0.2), 0.0, 1.0)
    w_skin = sigmoid((_SKIN_MM - depth) / 0.2)
    return w_skin * _ECHO["skin"] + w_fat * lobules + w_gland * gland + w_muscle * striations


def _axillary_background(grid: Grid, rng: np.random.Generator) -> np.ndarray:
    axes = [grid.axis(0), grid.axis(1)]
    fat = _ECHO["node_fat"] * np.exp(0.3 * draw_field(rng, 3.0, dim=2, terms=24).on_grid(axes))
    septa = np.exp(-(draw_field(rng, 4.0, dim=2, terms=16).on_grid(axes) / 0.08) ** 2)
    depth = _depth(grid)
    skin = sigmoid((_SKIN_MM - depth) / 0.2)
    return skin * _ECHO["skin"] + (1 - skin) * (fat + (_ECHO["septum"] - _ECHO["node_fat"]) * 0.6 * septa)


def bmode(echo: np.ndarray, grid: Grid, scanner: UsScanner, rng: np.random.Generator) -> np.ndarray:
    """Speckle, attenuation, gain and log compression: echogenicity → uint8 B-mode picture."""
    sigma = (scanner.speckle_mm[0] / grid.spacing[1], scanner.speckle_mm[1] / grid.spacing[0])
    re = gaussian_filter(rng.standard_normal(echo.shape), sigma, mode="reflect")
    im = gaussian_filter(rng.standard_normal(echo.shape), sigma, mode="reflect")
    envelope = np.sqrt(re * re + im * im)
    envelope /= np.sqrt(np.mean(envelope * envelope))
    attenuation = 10.0 ** (-scanner.attenuation_db_mm * _depth(grid) / 20.0)
    amplitude = scanner.gain * echo * envelope * attenuation
    db = 20.0 * np.log10(np.maximum(amplitude, 1e-6) / _WHITE)
    grey = 255.0 * np.clip((db + scanner.dynamic_range_db) / scanner.dynamic_range_db, 0.0, 1.0)
    return np.rint(grey).astype(np.uint8)


def tumour_view(lesion: LesionShape, phenotype: Phenotype, clinical: dict[str, Any], scanner: UsScanner,
                rng: np.random.Generator, noise: np.random.Generator) -> tuple[Grid, np.ndarray, LesionShape]:
    """The US_TUMOR picture.

    Args:
        lesion: The patient's phantom lesion (any centre; it is moved into the plane).
        phenotype: Traits (the irregularity sets the echogenic halo).
        clinical: The patient's clinical values: ``microcalcification`` and
            ``posterior_features`` shape the picture.
        scanner: The centre's probe.
        rng: The patient's ultrasound stream (placement, tissue, calcifications).
        noise: Speckle stream.

    Returns:
        The grid, the ``(y, x)`` uint8 picture and the lesion as placed (for the masks).
    """
    grid = us_grid(scanner)
    lesion = place_in_plane(largest_section(lesion), grid, (-2.0, 4.0), rng)
    echo = _breast_background(grid, rng)
    m, necrosis, tex = _memberships(lesion, grid)
    inside = _ECHO["tumour"] * np.exp(2.5 * tex) * (1.0 + 1.5 * necrosis)
    halo = 4.0 * m * (1.0 - m) * 0.5 * float(sigmoid(1.3 * phenotype.irregularity))
    echo = (1.0 - m) * echo + m * inside + halo * _ECHO["gland"]
    if clinical.get("microcalcification") == "Present":
        core = np.flatnonzero(m.ravel() > 0.8)
        if len(core):
            spots = np.zeros(grid.shape)
            spots.ravel()[rng.choice(core, size=min(len(core), 2 + int(rng.poisson(4))), replace=False)] = 1.0
            peak = gaussian_filter(np.pad([[1.0]], 3), 0.7).max()
            echo = echo + _ECHO["calcification"] * gaussian_filter(spots, 0.7) / peak
    path = np.cumsum(m, axis=0) * grid.spacing[1]
    echo = echo * np.exp(_POSTERIOR[str(clinical.get("posterior_features", "Absent"))] * path)
    return grid, bmode(echo, grid, scanner, noise), lesion


def node_view(node: LesionShape, scanner: UsScanner, rng: np.random.Generator,
              noise: np.random.Generator) -> tuple[Grid, np.ndarray, LesionShape]:
    """The US_LN picture: returns the grid, the ``(y, x)`` uint8 picture and the node as placed."""
    grid = us_grid(scanner)
    node = place_in_plane(node, grid, (-3.0, 3.0), rng)
    echo = _axillary_background(grid, rng)
    m, hilum, tex = _memberships(node, grid, core_ramp_mm=0.12)
    inside = (1.0 - hilum) * _ECHO["cortex"] * np.exp(2.0 * tex) + hilum * _ECHO["hilum"]
    echo = (1.0 - m) * echo + m * inside
    path = np.cumsum(m * (1.0 - hilum), axis=0) * grid.spacing[1]
    echo = echo * np.exp(0.03 * path)  # mild through-transmission behind a fluid-like cortex
    return grid, bmode(echo, grid, scanner, noise), node


def us_mask(shape: LesionShape, style: ReaderStyle, grid: Grid) -> np.ndarray:
    """A reader's uint8 outline of ``shape`` in the image plane; never empty."""
    mask = np.zeros(grid.shape, dtype=np.uint8)
    box = grid.box(shape.center[:2], shape.bound_mm())
    pts = _plane_points(grid, box)
    if len(pts):
        mask[box] = style.mask(shape, pts).reshape(tuple(s.stop - s.start for s in box))
    if not mask.any():
        mask[grid.nearest_index(shape.center[:2])] = 1
    return mask


__all__ = ["NODE_RISK_CORRELATION", "UsScanner", "bmode", "draw_node", "largest_section", "make_us_scanners",
           "node_involvement", "node_view", "place_in_plane", "tumour_view", "us_grid", "us_mask"]
