"""Which kind of feature a wide column holds: radiomics, deep or clinical.

Wide per-patient tables name feature columns ``<SEQUENCE>__<feature>``
(:data:`alnm_ray.constants.WIDE_SEP`).  PyRadiomics names start with the image
type that produced them (``original_``, ``wavelet-LLH_``, ``log-sigma-1-0-mm-3D_``,
``lbp-3D-m1_`` ...); deep features are ``deep_000`` ... ``deep_511``.  Anything
else (age, tumour size, an imported table's columns) is treated as clinical.
"""

from __future__ import annotations

from collections.abc import Iterable

from alnm_ray import constants as C

KIND_RADIOMICS = "radiomics"
KIND_DEEP = "deep"
KIND_CLINICAL = "clinical"
KINDS: tuple[str, ...] = (KIND_RADIOMICS, KIND_DEEP, KIND_CLINICAL)

#: PyRadiomics image types (the part of a feature name before the first ``_``,
#: cut at the first ``-``): ``wavelet-LLH`` -> ``wavelet``.
RADIOMICS_IMAGE_TYPES: frozenset[str] = frozenset({
    "original", "wavelet", "log", "lbp", "square", "squareroot", "logarithm",
    "exponential", "gradient",
})
#: Prefix of deep-embedding features.
DEEP_PREFIX = "deep_"

#: Columns of feature tables that are never features.
META_COLUMNS: frozenset[str] = frozenset({
    C.COL_COHORT, C.COL_CENTER, C.COL_PATIENT, C.COL_SEQUENCE, C.COL_READER,
    C.COL_LABEL, C.COL_SPLIT, C.COL_MASK_LABEL, C.COL_CASE_HASH, C.COL_EXTRACTED_AT,
    C.COL_VERSION, C.COL_IMAGE, C.COL_MASK,
})


def split_wide(column: str) -> tuple[str | None, str]:
    """Split ``"T2WI__original_glcm_Idm"`` into ``("T2WI", "original_glcm_Idm")``.

    Example:
        >>> split_wide("T2WI__original_glcm_Idm")
        ('T2WI', 'original_glcm_Idm')
        >>> split_wide("age")
        (None, 'age')
    """
    seq, sep, feat = str(column).partition(C.WIDE_SEP)
    return (seq, feat) if sep else (None, seq)


def is_meta(column: str) -> bool:
    """True for key/provenance columns and PyRadiomics ``diagnostics_*`` columns."""
    _, feat = split_wide(column)
    return str(column) in META_COLUMNS or feat.startswith("diagnostics_")


def feature_kind(column: str) -> str:
    """Return ``"radiomics"``, ``"deep"`` or ``"clinical"`` for a column name.

    Example:
        >>> feature_kind("MG_CC__wavelet-LLH_firstorder_Mean")
        'radiomics'
        >>> feature_kind("T2WI__deep_007")
        'deep'
        >>> feature_kind("age")
        'clinical'
    """
    _, feat = split_wide(column)
    if feat.startswith(DEEP_PREFIX):
        return KIND_DEEP
    image_type = feat.split("_", 1)[0].split("-", 1)[0]
    if "_" in feat and image_type in RADIOMICS_IMAGE_TYPES:
        return KIND_RADIOMICS
    return KIND_CLINICAL


def kinds_of(columns: Iterable[str]) -> set[str]:
    """The set of feature kinds present among ``columns``."""
    return {feature_kind(c) for c in columns}
