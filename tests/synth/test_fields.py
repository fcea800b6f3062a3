"""Random fields and sphere bumps (alnm_ray.synth._fields)."""

from __future__ import annotations

import numpy as np

from alnm_ray.synth._fields import Bumps, dot_rows, draw_bumps, draw_field, fibonacci_sphere
from alnm_ray.synth.volumes import Grid


def test_grid_evaluation_equals_pointwise_evaluation():
    grid = Grid(size=(7, 5, 4), spacing=(0.7, 0.9, 2.0), origin=(-3.0, 1.0, 2.0))
    field = draw_field(np.random.default_rng(0), 5.0, terms=16)
    on_grid = field.on_grid([grid.axis(i) for i in range(3)])
    assert on_grid.shape == grid.shape
    assert np.allclose(on_grid, field(grid.points()).reshape(grid.shape), atol=1e-12)
    flat = Grid(size=(6, 3), spacing=(0.3, 0.3), origin=(0.0, 1.0))
    field2 = draw_field(np.random.default_rng(1), 2.0, dim=2)
    assert np.allclose(field2.on_grid([flat.axis(0), flat.axis(1)]), field2(flat.points()).reshape(flat.shape))


def test_field_has_unit_variance_and_its_correlation_length():
    field = draw_field(np.random.default_rng(2), 3.0, terms=64)
    pts = np.random.default_rng(3).uniform(-200, 200, size=(20000, 3))
    values = field(pts)
    assert 0.6 < values.var() < 1.5
    near = field(pts + np.array([0.3, 0.0, 0.0]))
    far = field(pts + np.array([15.0, 0.0, 0.0]))
    assert np.corrcoef(values, near)[0, 1] > 0.9 > 0.3 > abs(np.corrcoef(values, far)[0, 1])


def test_dot_rows_matches_matmul():
    rng = np.random.default_rng(0)
    p, v = rng.normal(size=(50, 3)), rng.normal(size=(7, 3))
    assert np.allclose(dot_rows(p, v), p @ v.T)


def test_bumps_peak_at_their_directions():
    bumps = draw_bumps(np.random.default_rng(0), 3, kappa=(100.0, 100.0), amplitude=(0.5, 0.5))
    assert np.allclose(bumps(bumps.directions), 0.5, atol=0.01)
    sphere = fibonacci_sphere(500)
    assert np.allclose(np.linalg.norm(sphere, axis=1), 1.0) and bumps(sphere).min() < 1e-6
    assert len(Bumps.none()) == 0 and not Bumps.none()(sphere).any()
