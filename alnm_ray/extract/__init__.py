"""Radiomics extraction: PyRadiomics params, one case, and the Ray Data job.

Example:
    >>> from alnm_ray.extract import load_params, run_extraction  # doctest: +SKIP
    >>> report = run_extraction(manifest_df, "store/", params=load_params("guo2024"),
    ...                         plan=load_plan("guo2024"))  # doctest: +SKIP
"""

from alnm_ray.extract.case import CaseResult, process_case
from alnm_ray.extract.hashing import case_hash, library_versions, sha256_file, version_id
from alnm_ray.extract.job import run_extraction
from alnm_ray.extract.params import (
    PARAM_PRESETS,
    ExtractionParams,
    check_compatible,
    load_params,
    required_margin_mm,
)
from alnm_ray.extract.radiomics import extract_case
from alnm_ray.extract.summary import ExtractionReport

__all__ = [
    "PARAM_PRESETS",
    "CaseResult",
    "ExtractionParams",
    "ExtractionReport",
    "case_hash",
    "check_compatible",
    "extract_case",
    "library_versions",
    "load_params",
    "process_case",
    "required_margin_mm",
    "run_extraction",
    "sha256_file",
    "version_id",
]
