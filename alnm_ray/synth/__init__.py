"""Synthetic multicentre ALNM cohorts: phantom MG, MRI and US studies with a known signal.

Lets every part of alnm-ray run, and be measured, without patient data::

    from alnm_ray.synth import SynthConfig, generate_cohort
    info = generate_cohort("cohort", SynthConfig(patients=20, centers=2, seed=7))

See :mod:`alnm_ray.synth.cohort` for the files written,
:mod:`alnm_ray.synth.latent` for how the label depends on the images and
:mod:`alnm_ray.synth.studies` for cohorts shaped like each published study
(``SynthConfig(like="zhang2025")``).
"""

from alnm_ray.synth.centers import SYNTH_SEQUENCES, CenterProfile, make_centers
from alnm_ray.synth.cohort import CohortInfo, generate_cohort
from alnm_ray.synth.config import SIZE_PRESETS, SizePreset, SynthConfig
from alnm_ray.synth.design import plan_cohort, stratified_split
from alnm_ray.synth.latent import Phenotype, empirical_auc, expected_oracle_auc
from alnm_ray.synth.patient import PatientPlan, generate_patient, patient_outcome
from alnm_ray.synth.studies import STUDIES, StudyShape, look_up_study

__all__ = [
    "SIZE_PRESETS",
    "STUDIES",
    "SYNTH_SEQUENCES",
    "CenterProfile",
    "CohortInfo",
    "PatientPlan",
    "Phenotype",
    "SizePreset",
    "StudyShape",
    "SynthConfig",
    "empirical_auc",
    "expected_oracle_auc",
    "generate_cohort",
    "generate_patient",
    "look_up_study",
    "make_centers",
    "patient_outcome",
    "plan_cohort",
    "stratified_split",
]
