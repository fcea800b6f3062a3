"""One patient: its files, its record, its independence from the others."""

from __future__ import annotations

import hashlib

import pytest

from alnm_ray.synth import PatientPlan, SynthConfig, generate_patient, make_centers, patient_outcome
from alnm_ray.synth._rng import CohortStream, PatientStream, cohort_rng, patient_rng
from alnm_ray.synth.patient import generate_patients


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_one_patient_writes_its_files_and_record(tmp_path):
    cfg = SynthConfig(patients=5, centers=2, seed=2)
    centers = make_centers(cfg)
    rec = generate_patient(tmp_path, cfg, PatientPlan(3, "P0004", 1, True), centers[1])
    assert rec["patient_id"] == "P0004" and rec["center"] == "C2"
    assert (rec["label"], rec["latent"]) == (patient_outcome(cfg, 3)[2], round(patient_outcome(cfg, 3)[1], 6))
    assert len(rec["rows"]) == 6 * 3
    for _, _, image, mask in rec["rows"]:
        assert (tmp_path / image).is_file() and (tmp_path / mask).is_file()
    assert rec["clinical"]["max_diameter_mm"] > 0


def test_a_patient_does_not_depend_on_the_cohort_around_it(tmp_path):
    """Same seed and index: same bytes, whatever the cohort size or repeat membership."""
    small, large = SynthConfig(patients=3, centers=1, seed=8), SynthConfig(patients=50, centers=1, seed=8)
    a = generate_patient(tmp_path / "a", small, PatientPlan(1, "P0002", 0, False), make_centers(small)[0])
    b = generate_patient(tmp_path / "b", large, PatientPlan(1, "P0002", 0, True), make_centers(large)[0])
    assert a["label"] == b["label"]
    assert _digest(tmp_path / "a/images/P0002/ADC.nii.gz") == _digest(tmp_path / "b/images/P0002/ADC.nii.gz")
    assert _digest(tmp_path / "a/masks/P0002/MG_CC_A.nii.gz") == _digest(tmp_path / "b/masks/P0002/MG_CC_A.nii.gz")


def test_failures_name_the_patient(tmp_path):
    cfg = SynthConfig(patients=2, centers=1, seed=1)
    with pytest.raises(RuntimeError, match=r"synthetic patient P0002 \(index 1, seed 1\)") as err:
        generate_patients(str(tmp_path), cfg, [PatientPlan(1, "P0002", 0, False)], [None])  # type: ignore[list-item]
    assert err.value.__cause__ is not None


def test_streams_are_independent_and_reproducible():
    a = patient_rng(1, 0, PatientStream.LESION).random(3)
    assert (a == patient_rng(1, 0, PatientStream.LESION).random(3)).all()
    assert not (a == patient_rng(1, 1, PatientStream.LESION).random(3)).any()
    assert not (a == patient_rng(1, 0, PatientStream.ANATOMY).random(3)).any()
    assert not (a == cohort_rng(1, CohortStream.CENTERS).random(3)).any()
