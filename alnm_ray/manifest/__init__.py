"""Cohort manifests: reading, validating, image I/O, mask decoding, ids and input paths."""

from alnm_ray.manifest.ids import ID_PATTERN, id_problem
from alnm_ray.manifest.imageio import read_image, read_mask
from alnm_ray.manifest.masks import MaskDecoding, mask_tokens
from alnm_ray.manifest.paths import file_kind_problem, outside_root, require_regular_file
from alnm_ray.manifest.problems import Problem, ValidationReport
from alnm_ray.manifest.table import read_table
from alnm_ray.manifest.validate import read_manifest, validate_manifest

__all__ = [
    "ID_PATTERN",
    "MaskDecoding",
    "Problem",
    "ValidationReport",
    "file_kind_problem",
    "id_problem",
    "mask_tokens",
    "outside_root",
    "read_image",
    "read_manifest",
    "read_mask",
    "read_table",
    "require_regular_file",
    "validate_manifest",
]
