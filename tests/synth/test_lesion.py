"""Lesion shapes and readers' outlines."""

from __future__ import annotations

import numpy as np

from alnm_ray.constants import READER_A, READER_A2, READER_B
from alnm_ray.synth import SIZE_PRESETS
from alnm_ray.synth.latent import Phenotype
from alnm_ray.synth.lesion import draw_lesion, draw_reader_style
from alnm_ray.synth.volumes import Grid

PRESET = SIZE_PRESETS["small"]
GRID = Grid.centred((64, 64, 64), (0.5, 0.5, 0.5))
POINTS = GRID.points()


def _ph(**traits: float) -> Phenotype:
    base = dict(size=0.0, irregularity=0.0, heterogeneity=0.0, enhancement=0.0, restriction=0.0)
    return Phenotype(**{**base, **traits})


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_size_trait_sets_the_radius_within_the_preset_range(rng):
    radii = [draw_lesion(_ph(size=s), PRESET, np.random.default_rng(1)).radius_mm for s in (-3, -1, 0, 1, 3)]
    assert radii == sorted(radii)
    lo, hi = PRESET.radius_range_mm
    assert lo - 1e-9 <= min(radii) and max(radii) <= hi + 1e-9


def test_irregular_lesions_have_more_spicules_and_blurrier_margins():
    def stats(irr: float) -> tuple[float, float]:
        shapes = [draw_lesion(_ph(irregularity=irr), PRESET, np.random.default_rng(k)) for k in range(40)]
        return np.mean([len(s.spicules) for s in shapes]), np.mean([s.edge_mm for s in shapes])

    (sp_lo, edge_lo), (sp_hi, edge_hi) = stats(-1.5), stats(1.5)
    assert sp_hi > 3 * sp_lo and edge_hi > edge_lo


def test_the_whole_lesion_lies_inside_its_bound():
    lesion = draw_lesion(_ph(irregularity=2.0, size=1.0), PRESET, np.random.default_rng(5))
    inside = lesion.membership(POINTS)[0] > 1e-3
    dist = np.linalg.norm(POINTS[inside] - lesion.center, axis=1)
    assert inside.sum() > 100 and dist.max() < lesion.bound_mm()


def test_necrosis_only_in_heterogeneous_lesions():
    assert draw_lesion(_ph(heterogeneity=-2, size=1), PRESET, np.random.default_rng(0)).necrosis == 0
    assert draw_lesion(_ph(heterogeneity=2.5, size=1), PRESET, np.random.default_rng(0)).necrosis > 0.2


def test_repeat_outline_agrees_with_reader_a_better_than_reader_b():
    d_aa2, d_ab = [], []
    for k in range(12):
        rng = np.random.default_rng(k)
        lesion = draw_lesion(_ph(irregularity=1.0), PRESET, rng)
        a = draw_reader_style(READER_A, rng)
        b = draw_reader_style(READER_B, rng)
        a2 = draw_reader_style(READER_A2, rng, first=a)
        ma, mb, ma2 = (s.mask(lesion, POINTS) for s in (a, b, a2))
        d_aa2.append(_dice(ma, ma2))
        d_ab.append(_dice(ma, mb))
    assert np.mean(d_aa2) > np.mean(d_ab)
    assert 0.6 < np.mean(d_ab) < 0.97  # realistic, imperfect agreement
    assert np.mean(d_aa2) > 0.85


def test_a2_needs_reader_a():
    import pytest

    with pytest.raises(ValueError, match="reader A2"):
        draw_reader_style(READER_A2, np.random.default_rng(0))
