"""Synthetic multicentre ALNM cohorts: phantom MG and MRI studies with a known signal.

Lets every part of alnm-ray run, and be measured, without patient data::

    from alnm_ray.synth import SynthConfig, generate_cohort
    info = generate_cohort("cohort", SynthConfig(patients=20, centers=2, seed=7))

See :mod:`alnm_ray.synth.cohort` for the files written and
:mod:`alnm_ray.synth.latent` for how the label depends on the images.
"""

from alnm_ray.synth.centers import SYNTH_SEQUENCES, CenterProfile, make_centers
from alnm_ray.synth.cohort import CohortInfo, generate_cohort, plan_cohort, stratified_split
from alnm_ray.synth.config import SIZE_PRESETS, SizePreset, SynthConfig
from alnm_ray.synth.latent import Phenotype, empirical_auc, expected_oracle_auc
from alnm_ray.synth.patient import PatientPlan, generate_patient, patient_outcome

__all__ = [
    "SIZE_PRESETS",
    "SYNTH_SEQUENCES",
    "CenterProfile",
    "CohortInfo",
    "PatientPlan",
    "Phenotype",
    "SizePreset",
    "SynthConfig",
    "empirical_auc",
    "expected_oracle_auc",
    "generate_cohort",
    "generate_patient",
    "make_centers",
    "patient_outcome",
    "plan_cohort",
    "stratified_split",
]
