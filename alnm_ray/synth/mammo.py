"""2-D mammography views (CC and MLO) as projections of the 3-D lesion.

A mammogram is modelled as the line integral of the lesion through the breast
on top of a projected fibroglandular pattern: brighter means denser, as in
"for presentation" images.  CC projects along the cranio-caudal axis; MLO along
a direction tilted 45° from it.  Readers outline the lesion's projected
silhouette with their own habits.  Pixels are stored as 12-bit values in uint16.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alnm_ray.synth._fields import FourierField, draw_field, sigmoid
from alnm_ray.synth.centers import CenterProfile
from alnm_ray.synth.lesion import LesionShape, ReaderStyle
from alnm_ray.synth.volumes import Grid, lesion_texture

#: Projection bases (e_u, e_v, e_n) in the world frame (x = medio-lateral,
#: y = antero-posterior, z = cranio-caudal); e_n is the X-ray direction.
_S = np.sqrt(0.5)
VIEW_BASES: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {
    "MG_CC": (np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])),
    "MG_MLO": (np.array([_S, 0.0, -_S]), np.array([0.0, 1.0, 0.0]), np.array([_S, 0.0, _S])),
}
#: Lesion attenuation above fibroglandular background, in stored units per mm of lesion.
LESION_ATTENUATION = 25.0
_MAX_12BIT = 4095


@dataclass(frozen=True)
class Parenchyma:
    """A view's projected breast tissue: fine texture and coarse density variation (2-D fields)."""

    fine: FourierField
    coarse: FourierField


def draw_parenchyma(rng: np.random.Generator) -> Parenchyma:
    """Draw one view's projected tissue pattern."""
    return Parenchyma(fine=draw_field(rng, float(rng.uniform(1.5, 3.0)), dim=2, terms=48),
                      coarse=draw_field(rng, 15.0, dim=2, terms=8))


def mg_grid(center: CenterProfile) -> Grid:
    """The centre's mammogram grid (centred on the lesion's neighbourhood)."""
    return Grid.centred(center.mg_size, (center.mg_spacing_mm, center.mg_spacing_mm))


def _lines(lesion: LesionShape, grid: Grid, view: str,
           samples: int) -> tuple[tuple[slice, ...], np.ndarray, np.ndarray, float]:
    """Sample points along the projection lines through the lesion's bounding sphere.

    Returns:
        The pixel box (NumPy slices); the box-pixel index of each sample
        (``(S,)``, C order); the ``(S, 3)`` sample points; the step (mm).
        Samples outside the bounding sphere (the lesion is absent there) are left out.
    """
    e_u, e_v, e_n = VIEW_BASES[view]
    radius = lesion.bound_mm()
    centre2d = np.array([lesion.center @ e_u, lesion.center @ e_v])
    box = grid.box(centre2d, radius)
    pix = grid.points(box)  # (M, 2) in (u, v)
    step = 2 * radius / samples
    t = (np.arange(samples) + 0.5) * step - radius
    r2 = ((pix - centre2d) ** 2).sum(axis=1)
    keep = r2[:, None] + t[None, :] ** 2 < radius ** 2
    pixel, sample = np.nonzero(keep)
    along = float(lesion.center @ e_n) + t[sample]
    pts = (pix[pixel, 0, None] * e_u + pix[pixel, 1, None] * e_v + along[:, None] * e_n)
    return box, pixel, pts, step


def mammogram(view: str, lesion: LesionShape, parenchyma: Parenchyma, density: float,
              center: CenterProfile, samples: int, rng: np.random.Generator) -> tuple[Grid, np.ndarray]:
    """One mammographic view.

    Args:
        view: ``MG_CC`` or ``MG_MLO``.
        lesion: The lesion (its texture shows through the projection).
        parenchyma: The view's tissue pattern.
        density: The patient's breast density shift (shared with MRI).
        center: Pixel spacing, gain, offset and noise.
        samples: Samples along each projection line.
        rng: Noise stream.

    Returns:
        The grid and a ``(y, x)`` uint16 image.
    """
    grid = mg_grid(center)
    axes = [grid.axis(0), grid.axis(1)]
    background = (0.6 * sigmoid((parenchyma.fine.on_grid(axes) + density) / 0.7)
                  + 0.4 * sigmoid(parenchyma.coarse.on_grid(axes)))
    thickness = np.zeros(grid.shape)
    texture = np.zeros(grid.shape)
    box, pixel, pts, step = _lines(lesion, grid, view, samples)
    if len(pts):
        bshape = tuple(s.stop - s.start for s in box)
        n_pix = int(np.prod(bshape))
        m, _ = lesion.membership(pts)
        tex = lesion_texture(lesion, pts, m)
        path = np.bincount(pixel, weights=m, minlength=n_pix)
        weighted = np.bincount(pixel, weights=m * tex, minlength=n_pix)
        thickness[box] = (path * step).reshape(bshape)
        texture[box] = (weighted / np.maximum(path, 1e-6)).reshape(bshape)
    signal = 600.0 + 350.0 * background + LESION_ATTENUATION * thickness * (1 + 0.6 * texture)
    clean = center.gain["MG"] * signal + center.offset["MG"]
    noisy = clean + rng.normal(0.0, 1.0, size=grid.shape) * center.noise["MG"] * np.sqrt(1000.0 * clean)
    return grid, np.clip(np.rint(noisy), 0, _MAX_12BIT).astype(np.uint16)


def mammo_mask(view: str, lesion: LesionShape, style: ReaderStyle, center: CenterProfile,
               samples: int) -> np.ndarray:
    """A reader's uint8 outline of the lesion's silhouette on one view; never empty."""
    grid = mg_grid(center)
    mask = np.zeros(grid.shape, dtype=np.uint8)
    box, pixel, pts, _ = _lines(lesion, grid, view, samples)
    if len(pts):
        bshape = tuple(s.stop - s.start for s in box)
        hits = np.bincount(pixel[style.mask(lesion, pts)], minlength=int(np.prod(bshape)))
        mask[box] = (hits > 0).reshape(bshape)
    if not mask.any():
        e_u, e_v, _ = VIEW_BASES[view]
        mask[grid.nearest_index(np.array([lesion.center @ e_u, lesion.center @ e_v]))] = 1
    return mask
