"""Names used across the package: sequences, readers, column and table names.

Column names live here so that the manifest, the store, SQL views and the
models all agree on them.
"""

from __future__ import annotations

# --- Sequences -------------------------------------------------------------
#: 2-D mammography views.
MG_SEQUENCES: tuple[str, ...] = ("MG_CC", "MG_MLO")
#: 3-D MRI sequences (DCE phases 1-6; the paper uses phase 2).
MRI_SEQUENCES: tuple[str, ...] = ("T2WI", "DWI", "ADC") + tuple(f"DCE_P{i}" for i in range(1, 7))
#: Ultrasound ROIs (tumour and lymph node), for the Zhang 2025 variant.
US_SEQUENCES: tuple[str, ...] = ("US_TUMOR", "US_LN")
#: Every sequence a manifest may name by default; extensible by config.
SEQUENCES: tuple[str, ...] = MG_SEQUENCES + MRI_SEQUENCES + US_SEQUENCES
#: Sequences whose images are 2-D.
TWO_D_SEQUENCES: frozenset[str] = frozenset(MG_SEQUENCES + US_SEQUENCES)

# --- Readers ---------------------------------------------------------------
READER_A = "A"
READER_B = "B"
#: Reader A's repeat delineation (two weeks later in the paper).
READER_A2 = "A2"
READERS: tuple[str, ...] = (READER_A, READER_B, READER_A2)
#: The reader whose masks feed modelling; other readers feed the ICC filter.
PRIMARY_READER = READER_A

# --- Manifest columns ------------------------------------------------------
COL_COHORT = "cohort"
COL_CENTER = "center"
COL_PATIENT = "patient_id"
COL_SEQUENCE = "sequence"
COL_READER = "reader"
COL_IMAGE = "image"
COL_MASK = "mask"
COL_MASK_LABEL = "mask_label"
COL_LABEL = "label"
COL_SPLIT = "split"

#: Columns that identify one case (one row of the radiomics table).
CASE_KEY: tuple[str, ...] = (COL_COHORT, COL_CENTER, COL_PATIENT, COL_SEQUENCE, COL_READER)
#: Columns that identify a manifest row uniquely.
MANIFEST_KEY: tuple[str, ...] = (COL_COHORT, COL_PATIENT, COL_SEQUENCE, COL_READER)
MANIFEST_REQUIRED: tuple[str, ...] = (
    COL_COHORT, COL_CENTER, COL_PATIENT, COL_SEQUENCE, COL_READER, COL_IMAGE, COL_MASK,
)
DEFAULT_MASK_LABEL = 1

# --- Wide (per-patient) feature columns ------------------------------------
#: Separator between a sequence and a feature name in wide tables: ``T2WI__original_glcm_Idm``.
WIDE_SEP = "__"

# --- Store -----------------------------------------------------------------
TABLE_RADIOMICS = "radiomics"
TABLE_DEEP = "deep"
TABLE_CLINICAL = "clinical"
TABLE_ERRORS = "errors"
TABLE_CV_RESULTS = "cv_results"
TABLE_OOF = "oof_predictions"
TABLE_PREDICTIONS = "predictions"
#: Provenance columns carried by every feature row.
COL_CASE_HASH = "case_hash"
COL_VERSION = "version"
COL_EXTRACTED_AT = "extracted_at"

# --- Errors table columns --------------------------------------------------
ERROR_COLUMNS: tuple[str, ...] = (
    "stage", COL_COHORT, COL_CENTER, COL_PATIENT, COL_SEQUENCE, COL_READER,
    "error_type", "message",
)

# --- Geometry --------------------------------------------------------------
#: Tolerance for comparing image and mask geometry (spacing, origin in mm;
#: direction cosines unitless).  SimpleITK's own default is 1e-6, which
#: rejects masks written by tools that round header values to ~5 digits.
GEOMETRY_TOLERANCE = 1e-4

# --- Environment -----------------------------------------------------------
ENV_RAY_ADDRESS = "RAY_ADDRESS"
#: Thread-count variables pinned to 1 per Ray task so workers don't oversubscribe cores.
THREAD_ENV_VARS: tuple[str, ...] = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS",
)
