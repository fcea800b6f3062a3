"""One case, start to finish: read -> preprocess -> PyRadiomics, never raising.

:func:`process_case` is what each Ray task runs for each case.  Every failure
is caught here, per case, and returned as an error record with its stage (so
no block ever fails and no row is silently dropped); ``debug=True`` re-raises
the original exception instead.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from alnm_ray.constants import CASE_KEY, DEFAULT_MASK_LABEL
from alnm_ray.extract.params import ExtractionParams, margin_for
from alnm_ray.extract.radiomics import extract_case
from alnm_ray.preprocess.config import PreprocessPlan
from alnm_ray.preprocess.pipeline import StageError, preprocess_case, stage

logger = logging.getLogger(__name__)

#: Arrow schema of the records a Ray task returns (one row per case).
RECORD_SCHEMA = pa.schema(
    [pa.field(c, pa.string()) for c in CASE_KEY]
    + [
        pa.field("case_hash", pa.string()),
        pa.field("status", pa.string()),          # "ok" or "error"
        pa.field("stage", pa.string()),
        pa.field("error_type", pa.string()),
        pa.field("message", pa.string()),
        pa.field("feature_names", pa.list_(pa.string())),
        pa.field("feature_values", pa.list_(pa.float64())),
        pa.field("seconds", pa.float64()),
        pa.field("extracted_at", pa.string()),
    ]
)


@dataclass
class CaseResult:
    """The outcome of one case.

    Attributes:
        key: ``{cohort, center, patient_id, sequence, reader}``.
        case_hash: The case's content hash (carried through Ray untouched).
        features: ``{PyRadiomics name: value}`` (empty on failure).
        stage: Failing stage (``read``, ``geometry``, ``n4``, ``normalize``,
            ``resample``, ``crop``, ``extract``), ``""`` when it worked.
        error_type: Original exception class name.
        message: Original exception message.
        seconds: Wall time of the case.
    """

    key: dict[str, str]
    case_hash: str
    features: dict[str, float] = field(default_factory=dict)
    stage: str = ""
    error_type: str = ""
    message: str = ""
    seconds: float = 0.0
    extracted_at: str = ""

    @property
    def ok(self) -> bool:
        """True when features were extracted."""
        return not self.stage

    def to_record(self) -> dict[str, Any]:
        """A row matching :data:`RECORD_SCHEMA`."""
        return {**self.key, "case_hash": self.case_hash, "status": "ok" if self.ok else "error",
                "stage": self.stage, "error_type": self.error_type, "message": self.message,
                "feature_names": list(self.features), "feature_values": list(self.features.values()),
                "seconds": self.seconds, "extracted_at": self.extracted_at}


def case_name(key: dict[str, str]) -> str:
    """``cohort/patient/sequence/reader`` for messages."""
    return "/".join(str(key.get(c, "?")) for c in ("cohort", "patient_id", "sequence", "reader"))


def process_case(case: dict[str, Any], plan: PreprocessPlan, params: ExtractionParams, *,
                 debug: bool = False) -> CaseResult:
    """Read, preprocess and extract one manifest row.

    Args:
        case: A manifest row: the :data:`~alnm_ray.constants.CASE_KEY` columns,
            ``image``, ``mask``, optional ``mask_label`` (an integer label or a
            :meth:`~alnm_ray.manifest.masks.MaskDecoding.token`) and ``case_hash``.
        plan: Preprocessing plan (the row's sequence picks its config).
        params: PyRadiomics params.
        debug: Re-raise the original exception instead of returning an error.

    Returns:
        A :class:`CaseResult`: features, or the stage and cause of the failure.
    """
    from alnm_ray.manifest.imageio import read_image, read_mask

    key = {c: str(case[c]) for c in CASE_KEY}
    result = CaseResult(key=key, case_hash=str(case.get("case_hash", "")))
    t0 = time.perf_counter()
    name = case_name(key)
    try:
        with stage("read"):
            config = plan.for_sequence(key["sequence"])
            # an integer label or a decoding token ("R,G,B~T", ">T"): decoded as `validate` decodes it
            label = case.get("mask_label", DEFAULT_MASK_LABEL)
            label = DEFAULT_MASK_LABEL if label is None or label != label else label  # NaN -> default
            image = read_image(case["image"])
            mask = read_mask(case["mask"], label, image=case["image"])  # SEG/RTSTRUCT: decoded onto the image
        with stage("crop"):
            spacing = config.spacing or tuple(image.GetSpacing())
            margin = margin_for(params, tuple(spacing), config.crop_margin_mm) if config.crop else 0.0
        prep = preprocess_case(image, mask, config, margin_mm=margin, case=name)
        with stage("extract"):
            result.features = extract_case(prep.image, prep.mask, params, label=1)
    except StageError as err:
        if debug:
            raise err.cause from err
        result.stage, result.error_type = err.stage, type(err.cause).__name__
        result.message = f"{name}: {str(err.cause).strip()}"[:2000]
        logger.debug("case %s failed in %s", name, err.stage, exc_info=True)
    result.seconds = time.perf_counter() - t0
    result.extracted_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return result


def results_to_arrow(results: list[CaseResult]) -> pa.Table:
    """Records of several cases as one Arrow table with :data:`RECORD_SCHEMA`."""
    return pa.Table.from_pylist([r.to_record() for r in results], schema=RECORD_SCHEMA)


def share_feature_names(records: list[dict[str, Any]], seen: dict[tuple[str, ...], list[str]]) -> list[dict[str, Any]]:
    """Point every record's ``feature_names`` at one shared list per distinct list (in place).

    A driver collecting thousands of records otherwise holds one copy of
    ~1,000 names per case (about 70 KB each); ``seen`` carries the shared
    lists from one call to the next.

    Example:
        >>> seen = {}
        >>> a, b = [{"feature_names": ["f", "g"]}], [{"feature_names": ["f", "g"]}]
        >>> share_feature_names(a, seen)[0]["feature_names"] is share_feature_names(b, seen)[0]["feature_names"]
        True
    """
    for record in records:
        names = record.get("feature_names")
        if names:
            record["feature_names"] = seen.setdefault(tuple(names), names)
    return records
