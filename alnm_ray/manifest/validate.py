"""Validating a cohort manifest (and its clinical table) before any work starts."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from alnm_ray.constants import (
    COL_CENTER, COL_COHORT, COL_IMAGE, COL_LABEL, COL_MASK, COL_MASK_LABEL, COL_PATIENT,
    COL_SEQUENCE, DEFAULT_MASK_LABEL,
)
from alnm_ray.manifest.files import FileCheck, check_all
from alnm_ray.manifest.problems import ValidationReport
from alnm_ray.manifest.schema import (
    check_columns, check_duplicates, check_patient_consistency, check_rows, load_schema,
    manifest_schema,
)
from alnm_ray.manifest.table import read_table, resolve_path
from alnm_ray.typing import PathLike

logger = logging.getLogger(__name__)


def _mask_label(value: object) -> int:
    try:
        return int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return DEFAULT_MASK_LABEL


def _check_paths(df: pd.DataFrame, base: Path, report: ValidationReport,
                 data_root: Path | None, check_files: bool, max_workers: int) -> pd.DataFrame:
    """Resolve image/mask paths; confine them to ``data_root``; check the files."""
    df = df.copy()
    items: dict[int, FileCheck] = {}
    root = data_root.resolve() if data_root else None
    for idx, row in df.iterrows():
        rownum = int(idx) + 1
        paths = {}
        for col in (COL_IMAGE, COL_MASK):
            value = row[col]
            if pd.isna(value) or not str(value).strip():
                continue  # already reported by the schema check
            resolved = resolve_path(str(value), base).resolve()
            if root is not None and not resolved.is_relative_to(root):
                report.add(rownum, col, f"a path inside the data root {str(root)!r}", str(value),
                           "move the file under --data-root or widen --data-root.")
                continue
            paths[col] = resolved
            df.at[idx, col] = str(resolved)
        if check_files and len(paths) == 2:
            items[rownum] = FileCheck(paths[COL_IMAGE], paths[COL_MASK], _mask_label(row.get(COL_MASK_LABEL)))
    for rownum, issues in sorted(check_all(items, max_workers=max_workers).items()):
        for column, expected, found, fix in issues:
            report.add(rownum, column, expected, found, fix)
    return df


def _check_clinical(clinical: pd.DataFrame, manifest: pd.DataFrame, report: ValidationReport) -> None:
    if not check_columns(clinical, report, required=(COL_PATIENT,)):
        return
    check_rows(clinical, load_schema("clinical"), report)
    dup = clinical[clinical.duplicated(COL_PATIENT, keep=False)]
    for pid, group in dup.groupby(COL_PATIENT):
        report.add(int(group.index[1]) + 1, COL_PATIENT, "one clinical row per patient",
                   f"{len(group)} rows for {pid!r}", "merge or remove the duplicate rows.")
    if COL_PATIENT in manifest.columns:
        missing = sorted(set(manifest[COL_PATIENT].dropna()) - set(clinical[COL_PATIENT].dropna()))
        if missing:
            shown = ", ".join(missing[:5]) + (f" … ({len(missing)} in all)" if len(missing) > 5 else "")
            report.add(None, COL_PATIENT, "a clinical row for every manifest patient",
                       f"no clinical row for {shown}", "add the patients to the clinical table.")


def validate_manifest(path: PathLike, clinical: PathLike | None = None, *, check_files: bool = True,
                      extra_sequences: Iterable[str] = (), data_root: PathLike | None = None,
                      max_workers: int = 4) -> tuple[ValidationReport, pd.DataFrame]:
    """Check a manifest (and optionally its clinical table) and report every problem.

    Args:
        path: Manifest CSV or Parquet; relative image/mask paths resolve against its folder.
        clinical: Optional clinical table keyed by ``patient_id``.
        check_files: Open every image and mask (existence, readability, mask label,
            geometry, finite non-constant intensities).
        extra_sequences: Sequence names allowed besides the built-in ones.
        data_root: When given, every image/mask must lie inside this folder.
        max_workers: Threads used to read files.

    Returns:
        The report and the manifest with absolute paths and defaults filled in.

    Example:
        >>> report, df = validate_manifest("cohort/manifest.csv")  # doctest: +SKIP
        >>> report.raise_if_failed()  # doctest: +SKIP
    """
    path = Path(path)
    df = read_table(path, kind="manifest")
    report = ValidationReport(source=str(path), n_rows=len(df))
    if df.empty:
        report.add(None, "rows", "at least one row", "an empty manifest", "add one row per case.")
        return report, df
    if COL_MASK_LABEL not in df.columns:
        df[COL_MASK_LABEL] = DEFAULT_MASK_LABEL
    df[COL_MASK_LABEL] = df[COL_MASK_LABEL].fillna(DEFAULT_MASK_LABEL)
    if check_columns(df, report):
        check_rows(df, manifest_schema(extra_sequences), report)
        check_duplicates(df, report)
        check_patient_consistency(df, report)
        df = _check_paths(df, path.parent, report, Path(data_root) if data_root else None,
                          check_files, max_workers)
        report.n_patients = int(df[COL_PATIENT].nunique())
        report.n_centers = int(df[COL_CENTER].nunique())
        report.n_cohorts = int(df[COL_COHORT].nunique())
        report.sequences = tuple(sorted(df[COL_SEQUENCE].dropna().unique()))
    if clinical is not None:
        _check_clinical(read_table(clinical, kind="clinical table"), df, report)
    if report.ok:
        df[COL_MASK_LABEL] = df[COL_MASK_LABEL].astype(int)
        if COL_LABEL in df.columns:
            df[COL_LABEL] = pd.to_numeric(df[COL_LABEL]).astype("Int64")
    logger.debug("%s", report.summary())
    return report, df


def read_manifest(path: PathLike, clinical: PathLike | None = None, **kwargs: object) -> pd.DataFrame:
    """Validate a manifest and return it with absolute paths.

    Raises:
        ManifestError: Listing every problem, when there is any.
    """
    report, df = validate_manifest(path, clinical, **kwargs)  # type: ignore[arg-type]
    report.raise_if_failed()
    return df
