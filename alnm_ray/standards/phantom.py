"""The IBSI-1 conformance gate: the digital phantom through the real extraction job.

The phantom (5 x 4 x 4 voxels, shipped in ``data/phantom/``, CC BY 4.0) is written
into a one-case manifest and extracted by :func:`alnm_ray.extract.job.run_extraction`
into a temporary store -- the same params validation, Ray Data job and store writes
users get -- with IBSI's phantom settings: no preprocessing, each integer grey level
one bin (``binWidth: 1``), NGLDM coarseness 0 (``gldm_a: 0``).  Two passes:

* 3-D: every PyRadiomics class (deprecated features included), texture compared
  with IBSI's 3-D aggregation (GLCM/GLRLM averaged over 13 directions, ITBB;
  GLSZM/NGLDM/NGTDM one 3-D matrix, KOBO);
* 2.5-D (``force2D: true``): the texture classes, compared with IBSI's 2.5-D
  aggregation (JJUI, 62GR) -- what PyRadiomics's ``force2D`` computes.

Each mapped feature is compared with the reference value at the manual's precision
(its tolerance where it gives one, else the published three significant figures) and
classified ``match``, ``convention`` (the documented conversion recovers the value)
or ``fail``.  A declared convention whose raw value already matches is a failure too:
the mapping data must say what the software does.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from alnm_ray.exceptions import AlnmRayError, PhantomError
from alnm_ray.standards.mapping import ibsi_features, read_data_csv
from alnm_ray.typing import PathLike

logger = logging.getLogger(__name__)

PHANTOM_FILES = ("phantom.nii.gz", "mask.nii.gz")
#: Significant figures of the published phantom values.
SIGNIFICANT_FIGURES = 3
#: (mode, PyRadiomics class) -> IBSI aggregation code of the reference value.
AGGREGATION: dict[tuple[str, str], str] = {
    **{("3D", c): "DHQ4" for c in ("firstorder", "shape")},
    **{("3D", c): "ITBB" for c in ("glcm", "glrlm")},
    **{("3D", c): "KOBO" for c in ("glszm", "gldm", "ngtdm")},
    **{("2.5D", c): "JJUI" for c in ("glcm", "glrlm")},
    **{("2.5D", c): "62GR" for c in ("glszm", "gldm", "ngtdm")},
}
#: Classes extracted in each pass.
PASSES: dict[str, tuple[str, ...]] = {
    "3D": ("firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm"),
    "2.5D": ("glcm", "glrlm", "glszm", "gldm", "ngtdm"),
}
OUTCOMES = ("match", "convention", "fail")


def default_phantom_dir() -> Path:
    """The phantom shipped with the package."""
    return Path(str(resources.files("alnm_ray.standards").joinpath("data", "phantom")))


def _check_phantom(folder: Path) -> None:
    missing = [f for f in PHANTOM_FILES if not (folder / f).is_file()]
    if missing:
        raise PhantomError(
            f"--phantom {folder}: expected the IBSI-1 digital phantom ({', '.join(PHANTOM_FILES)}); missing "
            f"{', '.join(missing)}. Point --phantom at the folder holding both files (theibsi/data_sets, "
            "ibsi_1_digital_phantom/nifti) or omit it to use the copy shipped with alnm-ray.")


def reference_values() -> dict[tuple[str, str], tuple[float, float]]:
    """``(IBSI code, aggregation code) -> (value, tolerance)`` of the phantom."""
    return {(r["ibsi_code"], r["aggregation_code"]): (float(r["value"]), float(r["tolerance"]))
            for r in read_data_csv("ibsi1_reference.csv")}


def within_precision(value: float, reference: float) -> bool:
    """Whether ``value`` equals ``reference`` at the manual's precision: its three significant figures.

    Half a unit of the published value's third significant figure; stricter than the
    manual's tolerance where it gives one (morphology), which :func:`within_tolerance` applies.

    Example:
        >>> within_precision(2.1486, 2.15), within_precision(11.325, 11.4)
        (True, False)
    """
    if not math.isfinite(value):
        return False
    half_unit = 0.5 * 10 ** (math.floor(math.log10(abs(reference))) - (SIGNIFICANT_FIGURES - 1)) \
        if reference else 5e-4
    return abs(value - reference) <= half_unit * (1 + 1e-9)


def within_tolerance(value: float, reference: float, tolerance: float) -> bool:
    """Whether ``value`` lies within the manual's tolerance of ``reference`` (0 = none given)."""
    return math.isfinite(value) and abs(value - reference) <= tolerance * (1 + 1e-9)


def convert(convention: str, value: float, *, n_voxels: int) -> float:
    """Apply a documented convention's conversion (PyRadiomics value -> IBSI value).

    Raises:
        AlnmRayError: An unknown convention id in the mapping data.
    """
    if convention == "kurtosis_plus_3":
        return value - 3.0
    if convention == "pca_sample_covariance":
        return value * math.sqrt(n_voxels / (n_voxels - 1))
    raise AlnmRayError(f"pyradiomics_ibsi.csv: convention {convention!r} is unknown; expected kurtosis_plus_3 or "
                       "pca_sample_covariance. Add its conversion to alnm_ray.standards.phantom.convert.")


def _params(mode: str) -> dict[str, Any]:
    from radiomics import getFeatureClasses

    classes = getFeatureClasses()
    setting: dict[str, Any] = {"binWidth": 1, "gldm_a": 0, "label": 1}
    if mode == "2.5D":
        setting.update(force2D=True, force2Ddimension=0)
    return {"imageType": {"Original": {}}, "setting": setting,
            "featureClass": {c: sorted(classes[c].getFeatureNames()) for c in PASSES[mode]}}


@dataclass
class PhantomReport:
    """What ``alnm-ray ibsi check`` found.

    Attributes:
        rows: One row per extracted feature and pass: ``mode, column, ibsi_code,
            ibsi_name, aggregation, value, converted, ibsi_value, tolerance, outcome,
            detail`` (outcome ``match``, ``convention``, ``fail`` or ``not in IBSI``).
        seconds: Wall time of the whole check.
        store_versions: ``{table: version}`` the job wrote in the temporary store.
    """

    rows: pd.DataFrame
    seconds: float = 0.0
    store_versions: dict[str, str] = field(default_factory=dict)

    def count(self, outcome: str) -> int:
        """How many rows have this outcome."""
        return int((self.rows["outcome"] == outcome).sum())

    @property
    def ok(self) -> bool:
        """True when no mapped feature failed."""
        return self.count("fail") == 0

    def summary_line(self) -> str:
        """One line: counts per outcome and the time taken."""
        mapped = sum(self.count(o) for o in OUTCOMES)
        return (f"IBSI-1 phantom: {mapped} mapped feature values checked: {self.count('match')} match, "
                f"{self.count('convention')} differ by a documented convention, {self.count('fail')} fail; "
                f"{self.count('not in IBSI')} have no IBSI equivalent ({self.seconds:.1f} s)")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary and rows."""
        return {"ok": self.ok, "counts": {o: self.count(o) for o in (*OUTCOMES, "not in IBSI")},
                "seconds": round(self.seconds, 2), "store_versions": self.store_versions,
                "rows": self.rows.astype(object).where(self.rows.notna(), None).to_dict("records")}


def classify(feature_class: str, feature: str, value: float, mode: str, *, n_voxels: int,
             references: dict[tuple[str, str], tuple[float, float]] | None = None) -> dict[str, Any]:
    """Compare one PyRadiomics value with the IBSI reference (see the module docstring)."""
    refs = reference_values() if references is None else references
    row = ibsi_features().get((feature_class, feature))
    agg = AGGREGATION.get((mode, feature_class), "")
    out: dict[str, Any] = {"mode": mode, "column": f"original_{feature_class}_{feature}", "ibsi_code": "",
                           "ibsi_name": "", "aggregation": agg, "value": value, "converted": None,
                           "ibsi_value": None, "tolerance": None, "outcome": "not in IBSI", "detail": ""}
    if row is None or row.conformance == "none":
        return out
    out.update(ibsi_code=row.ibsi_code, ibsi_name=row.ibsi_name)
    ref = refs.get((row.ibsi_code, agg))
    if ref is None:
        out.update(outcome="fail", detail=f"no IBSI reference value for {row.ibsi_code} ({agg})")
        return out
    out.update(ibsi_value=ref[0], tolerance=ref[1])
    raw_match = within_precision(value, ref[0])
    if ref[1] and not raw_match and within_tolerance(value, *ref):
        out["detail"] = "within the manual's tolerance, not at three significant figures"

    if row.conformance == "convention":
        converted = convert(row.convention, value, n_voxels=n_voxels)
        out["converted"] = converted
        if raw_match:
            out.update(outcome="fail", detail=f"declared convention {row.convention} but the raw value matches")
        elif within_precision(converted, ref[0]):
            out.update(outcome="convention", detail=row.note)
        else:
            out.update(outcome="fail", detail=f"differs even after {row.convention} ({converted:.6g})")
    elif raw_match:
        out["outcome"] = "match"
    else:
        out.update(outcome="fail", detail=f"{value:.6g} vs IBSI {ref[0]:g} (tolerance {ref[1]:g}); "
                   + (out["detail"] or "outside the manual's precision"))
    return out


def run_phantom_check(phantom_dir: PathLike | None = None, *, ray_config: Any = None, quiet: bool = True,
                      keep_store: PathLike | None = None) -> PhantomReport:
    """Run the IBSI-1 phantom through the extraction job and compare with IBSI-1.

    Args:
        phantom_dir: Folder with ``phantom.nii.gz`` and ``mask.nii.gz`` (default: the copy
            shipped in the package).
        ray_config: How to reach Ray (:class:`~alnm_ray.runtime.RayConfig`).
        quiet: No Ray Data progress bars.
        keep_store: Write the store here instead of a temporary folder (kept).

    Returns:
        A :class:`PhantomReport`.

    Raises:
        PhantomError: The phantom files are missing.
        ExtractionError: The extraction failed.
    """
    import SimpleITK as sitk

    from alnm_ray.exceptions import ExtractionError
    from alnm_ray.extract.job import run_extraction
    from alnm_ray.extract.params import load_params
    from alnm_ray.preprocess.config import load_plan
    from alnm_ray.runtime import RayConfig, ray_session
    from alnm_ray.store import FeatureStore

    t0 = time.perf_counter()
    folder = Path(phantom_dir) if phantom_dir is not None else default_phantom_dir()
    _check_phantom(folder)
    image, mask = folder / PHANTOM_FILES[0], folder / PHANTOM_FILES[1]
    n_voxels = int(sitk.GetArrayFromImage(sitk.ReadImage(str(mask))).astype(bool).sum())
    work = Path(keep_store) if keep_store is not None else Path(tempfile.mkdtemp(prefix="alnm-ibsi-"))
    manifest = pd.DataFrame([{"cohort": "ibsi", "center": "ibsi", "patient_id": "phantom",
                              "sequence": "IBSI_PHANTOM", "reader": "A", "image": str(image.resolve()),
                              "mask": str(mask.resolve()), "mask_label": 1}])
    store = FeatureStore(work / "store")
    rows: list[dict[str, Any]] = []
    versions: dict[str, str] = {}
    all_params = {mode: load_params(_params(mode)) for mode in PASSES}  # fail before Ray starts
    try:
        with ray_session(ray_config or RayConfig(num_cpus=1, quiet=quiet)):
            for mode, params in all_params.items():
                table = f"ibsi_phantom_{mode.replace('.', '_').lower()}"
                report = run_extraction(manifest, store, params=params, plan=load_plan("none"), table=table,
                                        lineage={"ibsi_phantom": str(folder)}, quiet=quiet, num_cpus=1)
                if report.failed:
                    message = "; ".join(report.errors["message"].astype(str).head(2))
                    raise ExtractionError(f"IBSI phantom ({mode}): the extraction failed: {message}. Check the "
                                          "phantom files and the PyRadiomics install (make setup).")
                versions[table] = report.version.version
                values = store.read(table).to_pandas().iloc[0]
                for column, value in values.items():
                    parts = str(column).split("_")
                    if len(parts) != 3 or parts[0] != "original":
                        continue
                    rows.append(classify(parts[1], parts[2], float(value), mode, n_voxels=n_voxels))
    finally:
        if keep_store is None:
            shutil.rmtree(work, ignore_errors=True)
    frame = pd.DataFrame(rows)
    return PhantomReport(rows=frame, seconds=time.perf_counter() - t0, store_versions=versions)
