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
from alnm_ray.manifest.ids import ID_COLUMNS
from alnm_ray.manifest.masks import (
    COL_MASK_COLOR_TOLERANCE, COL_MASK_THRESHOLD, MaskDecoding, MaskSpecError,
)
from alnm_ray.manifest.paths import file_kind_problem, root_problem
from alnm_ray.manifest.problems import ValidationReport
from alnm_ray.manifest.schema import (
    check_columns, check_duplicates, check_ids, check_patient_consistency, check_rows, clinical_schema,
    manifest_schema,
)
from alnm_ray.manifest.table import read_table, resolve_path
from alnm_ray.typing import PathLike

logger = logging.getLogger(__name__)


def _decodings(df: pd.DataFrame, report: ValidationReport) -> dict[int, MaskDecoding]:
    """Each row's mask decoding (rows whose mask columns are wrong are reported and left out)."""
    flagged = {(p.row, p.column) for p in report.problems}
    out: dict[int, MaskDecoding] = {}
    for idx, row in df.iterrows():
        rownum = int(idx) + 1
        try:
            out[rownum] = MaskDecoding.from_columns(row.get(COL_MASK_LABEL), row.get(COL_MASK_COLOR_TOLERANCE),
                                                    row.get(COL_MASK_THRESHOLD))
        except MaskSpecError as err:
            if (rownum, err.column) not in flagged:  # the schema check may have said it already
                report.add(rownum, err.column, err.expected, err.found, err.fix)
    return out


def _check_paths(df: pd.DataFrame, base: Path, report: ValidationReport, data_root: Path | None,
                 check_files: bool, max_workers: int, decodings: dict[int, MaskDecoding],
                 allow_partial_roi: bool = False) -> pd.DataFrame:
    """Resolve image/mask paths; confine them to ``data_root``; refuse special files; check the files.

    Special files (FIFOs, devices) are refused from ``os.stat`` alone, even
    with ``check_files=False``: nothing ever opens them.
    """
    df = df.copy()
    items: dict[int, FileCheck] = {}
    for idx, row in df.iterrows():
        rownum = int(idx) + 1
        paths = {}
        for col in (COL_IMAGE, COL_MASK):
            value = row[col]
            if pd.isna(value) or not str(value).strip():
                continue  # already reported by the schema check
            resolved = resolve_path(str(value), base).resolve()
            escape = root_problem(resolved, data_root)
            if escape is not None:
                report.add(rownum, col, escape[0], str(value), escape[1])
                continue
            kind = file_kind_problem(resolved, allow_dir=True)
            if kind is not None:
                report.add(rownum, col, *kind)
                continue
            paths[col] = resolved
            df.at[idx, col] = str(resolved)
        if check_files and len(paths) == 2 and rownum in decodings:
            items[rownum] = FileCheck(paths[COL_IMAGE], paths[COL_MASK], decodings[rownum],
                                      allow_partial_roi=allow_partial_roi)
    for rownum, issues in sorted(check_all(items, max_workers=max_workers).items()):
        for column, expected, found, fix in issues:
            report.add(rownum, column, expected, found, fix)
    return df


def _check_clinical(clinical: pd.DataFrame, manifest: pd.DataFrame, report: ValidationReport) -> None:
    if not check_columns(clinical, report, required=(COL_PATIENT,)):
        return
    check_rows(clinical, clinical_schema(), report)
    check_ids(clinical, report, columns=(COL_PATIENT,))
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
                      max_workers: int = 4, allow_partial_roi: bool = False
                      ) -> tuple[ValidationReport, pd.DataFrame]:
    """Check a manifest (and optionally its clinical table) and report every problem.

    Args:
        path: Manifest CSV or Parquet; relative image/mask paths resolve against its folder.
        clinical: Optional clinical table keyed by ``patient_id``.
        check_files: Open every image and mask (existence, readability, mask
            decoding and ROI, geometry, finite non-constant intensities).
            Paths are always confined to ``data_root`` and checked with
            ``os.stat`` (special files such as FIFOs are refused unopened).
        extra_sequences: Sequence names allowed besides the built-in ones.
        data_root: When given, every image/mask must lie inside this folder
            (after resolving symbolic links).
        max_workers: Threads used to read files.
        allow_partial_roi: Do not report ROIs covering less than half of the
            mask's foreground (masks that label several structures on purpose).

    Returns:
        The report and the manifest with absolute paths and defaults filled
        in; ``mask_label`` holds each row's decoding token
        (:meth:`~alnm_ray.manifest.masks.MaskDecoding.token`: the integer
        label, ``"R,G,B~T"`` or ``">T"``).

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
    labels = df[COL_MASK_LABEL].astype(object)  # integers or colours "R,G,B"
    df[COL_MASK_LABEL] = labels.where(labels.notna(), DEFAULT_MASK_LABEL)
    if check_columns(df, report):
        check_rows(df, manifest_schema(extra_sequences), report)
        check_ids(df, report, columns=ID_COLUMNS)
        check_duplicates(df, report)
        check_patient_consistency(df, report)
        decodings = _decodings(df, report)
        df = _check_paths(df, path.parent, report, Path(data_root) if data_root else None,
                          check_files, max_workers, decodings, allow_partial_roi)
        report.n_patients = int(df[COL_PATIENT].nunique())
        report.n_centers = int(df[COL_CENTER].nunique())
        report.n_cohorts = int(df[COL_COHORT].nunique())
        report.sequences = tuple(sorted(df[COL_SEQUENCE].dropna().unique()))
    if clinical is not None:
        _check_clinical(read_table(clinical, kind="clinical table"), df, report)
    if report.ok:
        tokens = [decodings[int(i) + 1].token() for i in df.index]
        df[COL_MASK_LABEL] = pd.Series(tokens, index=df.index, dtype=object)
        if all(isinstance(t, int) for t in tokens):
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
