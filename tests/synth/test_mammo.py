"""Mammographic projections and their masks."""

from __future__ import annotations

import numpy as np

from alnm_ray.synth import SIZE_PRESETS, SynthConfig, make_centers
from alnm_ray.synth.latent import Phenotype
from alnm_ray.synth.lesion import draw_lesion, draw_reader_style
from alnm_ray.synth.mammo import draw_parenchyma, mammo_mask, mammogram

PRESET = SIZE_PRESETS["small"]
CENTER = make_centers(SynthConfig(patients=2, centers=1, seed=0))[0]


def test_views_show_a_dense_lesion_inside_the_outline():
    rng = np.random.default_rng(3)
    lesion = draw_lesion(Phenotype(1.0, 0.5, 0, 0, 0), PRESET, rng)
    style = draw_reader_style("A", rng)
    masks = {}
    for view in ("MG_CC", "MG_MLO"):
        grid, image = mammogram(view, lesion, draw_parenchyma(rng), 0.0, CENTER, PRESET.mg_line_samples,
                                np.random.default_rng(0))
        mask = mammo_mask(view, lesion, style, CENTER, PRESET.mg_line_samples)
        assert image.dtype == np.uint16 and image.shape == mask.shape == (128, 128)
        assert grid.spacing == (CENTER.mg_spacing_mm, CENTER.mg_spacing_mm)
        assert mask.sum() > 50
        assert image[mask > 0].mean() > image[mask == 0].mean() + 50
        masks[view] = mask
    assert not np.array_equal(masks["MG_CC"], masks["MG_MLO"])  # two different projections


def test_larger_lesions_cast_larger_silhouettes():
    rng = np.random.default_rng(0)
    style = draw_reader_style("A", rng)
    areas = [mammo_mask("MG_CC", draw_lesion(Phenotype(s, 0, 0, 0, 0), PRESET, np.random.default_rng(1)),
                        style, CENTER, PRESET.mg_line_samples).sum() for s in (-1.5, 0.0, 1.5)]
    assert areas == sorted(areas) and areas[2] > 2 * areas[0]
