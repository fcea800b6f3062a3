"""Centre profiles and the assignment of patients to centres."""

from __future__ import annotations

from collections import Counter

from alnm_ray.synth import SynthConfig, make_centers
from alnm_ray.synth.centers import assign_centers


def test_first_centres_have_distinct_scanner_looks():
    c1, c2 = make_centers(SynthConfig(patients=10, centers=2, seed=1))
    assert (c1.field_strength_t, c1.spacing_mm) == (3.0, (0.7, 0.7, 2.0))
    assert (c2.field_strength_t, c2.spacing_mm) == (1.5, (0.9, 0.9, 3.0))
    assert c1.mri_size != c2.mri_size  # same field of view, different matrix
    assert c1.dwi_spacing_mm[0] > c1.spacing_mm[0]  # EPI is coarser in-plane
    assert c1.gain != c2.gain and c1.noise["T2WI"] < c2.noise["T2WI"]


def test_small_matrices_stay_small_and_paper_ones_are_bigger():
    small = make_centers(SynthConfig(patients=10, centers=2, size="small"))
    paper = make_centers(SynthConfig(patients=10, centers=2, size="paper"))
    for s, p in zip(small, paper):
        assert 30 * 30 * 10 <= s.mri_size[0] * s.mri_size[1] * s.mri_size[2] <= 60 * 60 * 20
        assert p.mri_size[0] > s.mri_size[0] and p.mg_size == (256, 256) and s.mg_size == (128, 128)


def test_centres_are_deterministic_and_many_are_supported():
    cfg = SynthConfig(patients=12, centers=6, seed=4)
    a, b = make_centers(cfg), make_centers(cfg)
    assert [c.to_dict() for c in a] == [c.to_dict() for c in b]
    assert [c.name for c in a] == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert a[4].to_dict() != a[0].to_dict()


def test_every_centre_gets_patients_and_the_first_the_most():
    cfg = SynthConfig(patients=300, centers=4, seed=2)
    counts = Counter(assign_centers(cfg))
    assert sum(counts.values()) == 300 and set(counts) == {0, 1, 2, 3}
    assert counts[0] == max(counts.values())
    tight = Counter(assign_centers(SynthConfig(patients=3, centers=3)))
    assert tight == Counter({0: 1, 1: 1, 2: 1})
