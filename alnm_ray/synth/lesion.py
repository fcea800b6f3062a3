"""Lesion shapes from perturbed ellipsoids, and readers' outlines of them.

A lesion is a star-shaped solid around its centre: in the frame of a rotated
ellipsoid with semi-axes ``a``, a point ``q`` lies inside when

    |q / a| < 1 + g(q / |q|),

where ``g`` adds broad lobes (lobulation) and narrow spicules on the unit
sphere.  The traits of :class:`~alnm_ray.synth.latent.Phenotype` set the size,
the lobe and spicule heights, the margin blur, the internal texture and the
necrotic core.

Readers outline the same solid with their own habits (:class:`ReaderStyle`):
a slightly generous or tight boundary, how much of each spicule they include,
and a smooth wobble.  Reader A's repeat (A2) is close to A; reader B differs
more, so shape features are less reproducible than first-order intensity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alnm_ray.constants import READER_A, READER_A2, READER_B
from alnm_ray.synth._fields import (
    Bumps, FourierField, draw_bumps, draw_field, fibonacci_sphere, sigmoid, transform_points,
)
from alnm_ray.synth.config import SizePreset
from alnm_ray.synth.latent import Phenotype

#: Size trait → radius: ``radius = median * exp(RADIUS_LOG_SD * size)`` (clipped to the preset range).
RADIUS_LOG_SD = 0.3
#: Smallest boundary factor, so deep negative lobes never pinch the solid to nothing.
_MIN_BOUNDARY = 0.35
_SPHERE = fibonacci_sphere(1500)


@dataclass(frozen=True)
class LesionShape:
    """One lesion in physical space (mm).

    Args:
        center: ``(3,)`` centre (x, y, z) in mm.
        rotation: ``(3, 3)`` orthonormal matrix; columns are the ellipsoid axes.
        semi_axes: ``(3,)`` semi-axes in mm.
        lobes: Broad boundary bumps (lobulation).
        spicules: Narrow positive bumps (spiculation).
        edge_mm: Width of the soft margin seen in images (blur, mm).
        necrosis: Necrotic core as a fraction of the normalised radius (0 = none).
        texture: Internal texture field (unit variance).
        texture_amp: Relative amplitude of the internal texture.
        max_boundary: Largest boundary factor ``1 + g`` (see :func:`max_boundary`).
    """

    center: np.ndarray
    rotation: np.ndarray
    semi_axes: np.ndarray
    lobes: Bumps
    spicules: Bumps
    edge_mm: float
    necrosis: float
    texture: FourierField
    texture_amp: float
    max_boundary: float

    @property
    def radius_mm(self) -> float:
        """Geometric mean of the semi-axes (mm)."""
        return float(np.prod(self.semi_axes) ** (1 / 3))

    def _local(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised radius ``|q/a|`` and unit direction of ``q/a`` for ``(N, 3)`` points."""
        u = transform_points(points - self.center, self.rotation) / self.semi_axes
        rho = np.sqrt((u * u).sum(axis=1))
        d = u / np.maximum(rho, 1e-9)[:, None]
        return rho, d

    def boundary(self, d: np.ndarray, spicule_gain: float = 1.0, extra: Bumps | None = None) -> np.ndarray:
        """Boundary factor ``1 + g(d)`` for ``(N, 3)`` unit directions."""
        g = self.lobes(d) + self.spicules(d, spicule_gain)
        if extra is not None:
            g = g + extra(d)
        return np.maximum(1.0 + g, _MIN_BOUNDARY)

    def normalised_radius(self, points: np.ndarray, spicule_gain: float = 1.0, extra: Bumps | None = None,
                          cutoff: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
        """``f = |q/a| / (1 + g)`` (inside when < 1) and the boundary factor, per point.

        Points whose ``|q/a|`` exceeds ``cutoff`` are not evaluated (their ``f``
        is ``inf``, their boundary :attr:`max_boundary`): most of a bounding box
        lies far outside the lesion, and the bumps are the costly part.
        """
        rho, d = self._local(points)
        near = rho < cutoff
        b = np.full(len(rho), self.max_boundary)
        f = np.full(len(rho), np.inf)
        if near.any():
            b[near] = self.boundary(d[near], spicule_gain, extra)
            f[near] = rho[near] / b[near]
        return f, b

    def membership(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Soft lesion and necrosis memberships in [0, 1] of ``(N, 3)`` points.

        The margin is a logistic ramp ``edge_mm`` wide across the boundary; the
        necrotic core has a fixed 0.5 mm ramp.  Beyond 16 ramp widths outside
        the largest boundary the membership is taken as 0 (it is < 1e-7 there).
        """
        cutoff = self.max_boundary + 16.0 * self.edge_mm / self.radius_mm
        f, b = self.normalised_radius(points, cutoff=cutoff)
        scale = b * self.radius_mm
        lesion = sigmoid((1.0 - f) * scale / self.edge_mm)
        if self.necrosis <= 0.0:
            return lesion, np.zeros_like(lesion)
        return lesion, sigmoid((self.necrosis - f) * scale / 0.5)

    def bound_mm(self) -> float:
        """Radius (mm) of a sphere around the centre that holds the whole lesion and its blur."""
        return float(self.semi_axes.max() * self.max_boundary + 10.0 * self.edge_mm + 1.0)


def max_boundary(lobes: Bumps, spicules: Bumps) -> float:
    """An upper estimate of ``max(1 + g)`` over the sphere (5 % above the sampled maximum).

    The sphere is sampled densely and at every bump's peak, where the maxima lie.
    """
    d = np.concatenate([_SPHERE, lobes.directions, spicules.directions])
    g = lobes(d) + spicules(d)
    return float(max(1.0 + g.max(), _MIN_BOUNDARY) * 1.05)


def draw_lesion(phenotype: Phenotype, preset: SizePreset, rng: np.random.Generator) -> LesionShape:
    """Draw a lesion whose look follows ``phenotype`` (centre at the origin).

    Args:
        phenotype: The tumour traits.
        preset: Sets the median radius and its clip range (mm).
        rng: The patient's lesion stream.

    Returns:
        The lesion; the caller moves it with :func:`place_lesion`.
    """
    lo, hi = preset.radius_range_mm
    radius = float(np.clip(preset.radius_median_mm * np.exp(RADIUS_LOG_SD * phenotype.size), lo, hi))
    ratios = np.exp(rng.normal(0.0, 0.12, size=3))
    semi_axes = radius * ratios / np.prod(ratios) ** (1 / 3)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    rotation = q * np.sign(np.diag(r))
    irr = float(sigmoid(1.3 * phenotype.irregularity))
    lobes = draw_bumps(rng, 6, kappa=(3.0, 8.0), amplitude_sd=0.03 + 0.12 * irr)
    n_spicules = int(rng.poisson(0.5 + 14.0 * irr ** 1.5))
    spicule_len = 0.08 + 0.42 * irr
    spicules = draw_bumps(rng, n_spicules, kappa=(60.0, 160.0),
                          amplitude=(0.6 * spicule_len, 1.2 * spicule_len))
    het = float(sigmoid(1.3 * phenotype.heterogeneity))
    texture = draw_field(rng, length_mm=float(rng.uniform(1.2, 2.5)), dim=3, terms=32)
    necrosis = 0.6 * float(np.clip((het - 0.55) / 0.45, 0.0, 1.0)) if radius > 4.0 else 0.0
    return LesionShape(center=np.zeros(3), rotation=rotation, semi_axes=semi_axes, lobes=lobes,
                       spicules=spicules, edge_mm=0.15 + 0.45 * irr, necrosis=necrosis,
                       texture=texture, texture_amp=0.04 + 0.30 * het,
                       max_boundary=max_boundary(lobes, spicules))


def place_lesion(lesion: LesionShape, fov_mm: np.ndarray, rng: np.random.Generator,
                 max_shift_mm: float = 3.0) -> LesionShape:
    """Move the lesion off the FOV centre by up to ``max_shift_mm``, keeping it inside."""
    room = np.maximum(np.asarray(fov_mm) / 2 - lesion.bound_mm() - 1.0, 0.0)
    shift = rng.uniform(-1.0, 1.0, size=3) * np.minimum(room, max_shift_mm)
    return LesionShape(**{**lesion.__dict__, "center": shift})


@dataclass(frozen=True)
class ReaderStyle:
    """How one reader outlines one lesion on one sequence.

    Args:
        reader: ``A``, ``B`` or ``A2``.
        offset: Boundary shift in normalised radius (+ = generous outline).
        spicule_gain: Fraction of the spicules' length the reader includes.
        wobble: Smooth boundary disagreement.
    """

    reader: str
    offset: float
    spicule_gain: float
    wobble: Bumps

    def mask(self, lesion: LesionShape, points: np.ndarray) -> np.ndarray:
        """Boolean inside-the-outline for ``(N, 3)`` points."""
        reach = (lesion.max_boundary + float(np.abs(self.wobble.amplitude).sum())) * (1.0 + max(self.offset, 0.0))
        f, _ = lesion.normalised_radius(points, self.spicule_gain, self.wobble, cutoff=reach * 1.01)
        return f < 1.0 + self.offset


#: (offset mean, offset SD, spicule-gain mean, spicule-gain SD, wobble SD) per reader.
#: Reader B (another radiologist) is more generous and cuts spicules shorter; A's
#: repeat differs from A's first outline by small amounts only.
_READER_HABITS = {
    READER_A: (0.0, 0.03, 0.75, 0.10, 0.03),
    READER_B: (0.07, 0.07, 0.45, 0.20, 0.09),
    READER_A2: (0.0, 0.04, 0.0, 0.08, 0.05),
}


def draw_reader_style(reader: str, rng: np.random.Generator, first: ReaderStyle | None = None) -> ReaderStyle:
    """Draw one reader's outline habits; ``A2`` is drawn around ``first`` (reader A's).

    Raises:
        ValueError: When ``reader`` is ``A2`` and ``first`` is missing.
    """
    off_mean, off_sd, gain_mean, gain_sd, wobble_sd = _READER_HABITS[reader]
    offset = rng.normal(off_mean, off_sd)
    gain = rng.normal(gain_mean, gain_sd)
    if reader == READER_A2:
        if first is None:
            raise ValueError("reader A2: expected reader A's style as `first`; got None. Draw A first.")
        offset, gain = first.offset + offset, first.spicule_gain + gain
    wobble = draw_bumps(rng, 6, kappa=(2.0, 6.0), amplitude_sd=wobble_sd)
    return ReaderStyle(reader, float(offset), float(np.clip(gain, 0.0, 1.0)), wobble)
