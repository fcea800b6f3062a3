"""MRI grids, tissue contrast, scanner effects and reader masks."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from alnm_ray.synth import SIZE_PRESETS, SynthConfig, make_centers
from alnm_ray.synth.latent import Phenotype
from alnm_ray.synth.lesion import draw_lesion, draw_reader_style
from alnm_ray.synth.volumes import (
    Grid, draw_anatomy, lesion_contrast, mri_grids, reader_mask, scanner, sequence_signal, tissue_maps,
)

PRESET = SIZE_PRESETS["small"]
CENTER = make_centers(SynthConfig(patients=2, centers=1, seed=0))[0]


def _setup(ph: Phenotype, seed: int = 0):
    rng = np.random.default_rng(seed)
    lesion = draw_lesion(ph, PRESET, rng)
    anatomy = draw_anatomy(rng)
    grid = mri_grids(CENTER)["anatomical"]
    return lesion, anatomy, grid, tissue_maps(grid, lesion, anatomy, PRESET.pv_samples)


def test_grid_points_match_simpleitk_physical_points():
    grid = Grid(size=(5, 4, 3), spacing=(0.7, 0.8, 2.5), origin=(-1.0, 2.0, 3.5))
    image = sitk.Image(list(grid.size), sitk.sitkUInt8)
    image.SetSpacing(grid.spacing)
    image.SetOrigin(grid.origin)
    pts = grid.points().reshape(*grid.shape, 3)
    for x, y, z in [(0, 0, 0), (4, 3, 2), (2, 1, 1)]:
        assert np.allclose(pts[z, y, x], image.TransformIndexToPhysicalPoint((x, y, z)))


def test_box_and_nearest_index_stay_inside_the_grid():
    grid = Grid.centred((10, 10, 4), (1.0, 1.0, 3.0))
    box = grid.box(np.array([100.0, 0.0, 0.0]), 2.0)
    assert box[2].start == box[2].stop  # nothing in range along x
    assert grid.nearest_index(np.array([100.0, -100.0, 0.0])) == (2, 0, 9)


def test_dce_enhances_and_adc_restricts_in_the_lesion():
    ph = Phenotype(size=1.0, irregularity=0.0, heterogeneity=-1.0, enhancement=1.0, restriction=1.0)
    lesion, anatomy, _, maps = _setup(ph)
    contrast = lesion_contrast(ph, np.random.default_rng(1))
    core = maps.lesion > 0.95
    gland = (maps.lesion < 0.01) & (maps.gland > 0.8)
    assert core.sum() > 20 and gland.sum() > 20
    dce = sequence_signal("DCE_P2", maps, contrast, anatomy)
    adc = sequence_signal("ADC", maps, contrast, anatomy)
    dwi = sequence_signal("DWI", maps, contrast, anatomy)
    assert dce[core].mean() > 1.5 * dce[gland].mean()
    assert adc[core].mean() < 0.8 * adc[gland].mean()
    assert dwi[core].mean() > dwi[gland].mean()


def test_enhancement_and_restriction_follow_their_traits():
    lo = lesion_contrast(Phenotype(0, 0, 0, -1.5, -1.5), np.random.default_rng(0))
    hi = lesion_contrast(Phenotype(0, 0, 0, 1.5, 1.5), np.random.default_rng(0))
    assert hi.enhancement > lo.enhancement and hi.adc < lo.adc


def test_scanner_applies_a_smooth_bias_field_and_stores_int16():
    lesion, anatomy, grid, maps = _setup(Phenotype(0, 0, 0, 0, 0))
    flat = np.full(grid.shape, 400.0)
    out = scanner("T2WI", flat, maps, CENTER, np.random.default_rng(0))
    assert out.dtype == np.int16 and out.shape == grid.shape
    slab = out.astype(float)
    # the multiplicative field makes a uniform tissue vary by several per cent across the FOV
    profile = slab.mean(axis=(0, 1))
    assert (profile.max() - profile.min()) / profile.mean() > 0.03
    adc = scanner("ADC", np.full(grid.shape, 1.5), maps, CENTER, np.random.default_rng(0))
    assert abs(adc.mean() / (1500 * CENTER.gain["ADC"]) - 1) < 0.02  # no bias field on ADC


def test_reader_mask_is_never_empty_even_for_a_tiny_lesion_on_thick_slices():
    lesion = draw_lesion(Phenotype(-9, -3, 0, 0, 0), PRESET, np.random.default_rng(0))
    style = draw_reader_style("A", np.random.default_rng(0))
    thick = Grid.centred((20, 20, 5), (1.0, 1.0, 8.0))
    mask = reader_mask(thick, lesion, style)
    assert mask.dtype == np.uint8 and mask.sum() >= 1
