"""Cohort manifests: reading, validating, and image I/O."""

from alnm_ray.manifest.imageio import read_image, read_mask
from alnm_ray.manifest.problems import Problem, ValidationReport
from alnm_ray.manifest.table import read_table
from alnm_ray.manifest.validate import read_manifest, validate_manifest

__all__ = [
    "Problem",
    "ValidationReport",
    "read_image",
    "read_manifest",
    "read_mask",
    "read_table",
    "validate_manifest",
]
