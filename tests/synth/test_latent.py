"""Latent risk and labels: prevalence, oracle AUC, independence at signal 0."""

from __future__ import annotations

import numpy as np
import pytest

from alnm_ray.synth import SynthConfig, patient_outcome
from alnm_ray.synth._fields import sigmoid
from alnm_ray.synth._rng import PatientStream, patient_rng
from alnm_ray.synth.latent import (
    LATENT_SCALE, empirical_auc, expected_oracle_auc, latent_intercept,
)
from alnm_ray.synth.lesion import draw_lesion


def _outcomes(n: int, signal: float, seed: int = 3):
    cfg = SynthConfig(patients=n, seed=seed, signal=signal)
    out = [patient_outcome(cfg, i) for i in range(n)]
    return cfg, out


@pytest.mark.parametrize("signal", [0.0, 0.5, 1.0, 2.0])
def test_intercept_gives_the_configured_prevalence(signal):
    z = np.random.default_rng(0).standard_normal(400_000)
    b = latent_intercept(signal, 0.433)
    assert float(sigmoid(b + signal * LATENT_SCALE * z).mean()) == pytest.approx(0.433, abs=0.003)


def test_expected_oracle_auc_targets_the_paper_range_and_grows_with_signal():
    aucs = [expected_oracle_auc(s, 0.433) for s in (0.0, 0.5, 1.0, 1.5)]
    assert aucs[0] == 0.5
    assert 0.80 <= aucs[2] <= 0.85
    assert aucs == sorted(aucs)


def test_labels_have_the_prevalence_and_the_latent_predicts_them():
    _, out = _outcomes(2000, 1.0)
    labels = np.array([o[2] for o in out])
    latent = np.array([o[1] for o in out])
    assert 0.40 <= labels.mean() <= 0.47
    assert empirical_auc(latent, labels) == pytest.approx(expected_oracle_auc(1.0, 0.433), abs=0.03)


def test_signal_zero_keeps_the_prevalence_and_a_chance_oracle():
    _, out = _outcomes(2000, 0.0)
    labels = np.array([o[2] for o in out])
    sizes = np.array([o[0].size for o in out])
    assert 0.40 <= labels.mean() <= 0.47
    assert empirical_auc(sizes, labels) == pytest.approx(0.5, abs=0.04)


def test_images_do_not_depend_on_signal_only_labels_do():
    _, strong = _outcomes(50, 1.0)
    _, none = _outcomes(50, 0.0)
    assert [o[0] for o in strong] == [o[0] for o in none]
    assert [o[2] for o in strong] != [o[2] for o in none]


def test_lesion_size_carries_the_label_only_with_signal():
    """The leakage check: lesion radius (what the images show) vs label."""
    def corr(signal: float) -> float:
        cfg, out = _outcomes(1500, signal, seed=11)
        radius = [draw_lesion(o[0], cfg.preset, patient_rng(cfg.seed, i, PatientStream.LESION)).radius_mm
                  for i, o in enumerate(out)]
        return float(np.corrcoef(radius, [o[2] for o in out])[0, 1])

    assert abs(corr(0.0)) < 0.06
    assert corr(1.0) > 0.2


def test_empirical_auc_needs_both_classes():
    assert empirical_auc(np.array([0.1, 0.2]), np.array([1, 1])) is None
    assert empirical_auc(np.array([0.1, 0.9]), np.array([0, 1])) == 1.0
