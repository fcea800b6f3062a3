"""Row-level checks of a manifest or clinical table against the JSON Schemas in ``schemas/``."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema
import pandas as pd

from alnm_ray._validation import did_you_mean
from alnm_ray.constants import COL_LABEL, COL_MASK_LABEL, MANIFEST_KEY, MANIFEST_REQUIRED
from alnm_ray.manifest.ids import ID_COLUMNS, ID_EXPECTED, ID_FIX, id_problem
from alnm_ray.manifest.masks import COL_MASK_COLOR_TOLERANCE, COL_MASK_THRESHOLD, DEFAULT_COLOR_TOLERANCE
from alnm_ray.manifest.problems import ValidationReport

#: Columns that hold integers in the schema (CSV gives text).
_INTEGER_COLUMNS = (COL_MASK_LABEL, COL_LABEL, COL_MASK_COLOR_TOLERANCE)
#: Columns that hold numbers in the schema.
_NUMBER_COLUMNS = (COL_MASK_THRESHOLD,)


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    """Load ``schemas/<name>.schema.json`` shipped with the package."""
    text = resources.files("alnm_ray").joinpath("schemas", f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def _without_id_patterns(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without the id columns' ``pattern``: :func:`check_ids` applies the one id rule instead.

    (JSON Schema patterns are searched, not matched: ``^…$`` accepts a
    trailing newline.  The files keep the pattern for other tools.)
    """
    for column in ID_COLUMNS:
        schema["properties"].get(column, {}).pop("pattern", None)
    return schema


def manifest_schema(extra_sequences: Iterable[str] = ()) -> dict[str, Any]:
    """The manifest row schema, with configured extra sequence names allowed (ids checked by :func:`check_ids`)."""
    schema = _without_id_patterns(copy.deepcopy(load_schema("manifest")))
    extra = [s for s in extra_sequences if s not in schema["properties"]["sequence"]["enum"]]
    schema["properties"]["sequence"]["enum"] += extra
    return schema


def clinical_schema() -> dict[str, Any]:
    """The clinical table row schema (ids checked by :func:`check_ids`)."""
    return _without_id_patterns(copy.deepcopy(load_schema("clinical")))


def check_ids(df: pd.DataFrame, report: ValidationReport, columns: Iterable[str] = ID_COLUMNS) -> None:
    """Report every id that breaks the id rule (:func:`~alnm_ray.manifest.ids.id_problem`).

    Empty cells are left to the schema's ``required`` check.
    """
    for column in columns:
        if column not in df.columns:
            continue
        for idx, value in df[column].items():
            if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
                continue
            problem = id_problem(value)
            if problem is not None:
                report.add(int(idx) + 1, column, ID_EXPECTED, problem, ID_FIX)


def _coerce(value: Any, column: str) -> Any:
    """Turn CSV text into the JSON type the schema expects; leave bad values for the schema to flag."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if column in _INTEGER_COLUMNS:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return value
        return int(number) if number.is_integer() else number
    if column in _NUMBER_COLUMNS:
        try:
            return float(value)
        except (TypeError, ValueError):
            return value
    return value if isinstance(value, (str, int, float, bool)) else str(value)


def _record(row: pd.Series, columns: Iterable[str]) -> dict[str, Any]:
    rec = {c: _coerce(row[c], c) for c in columns}
    return {k: v for k, v in rec.items() if v is not None or k in (COL_MASK_LABEL, COL_LABEL)}


def _expected(error: jsonschema.ValidationError) -> str:
    keyword, spec = error.validator, error.validator_value
    column = str(error.path[0]) if error.path else ""
    if column == COL_MASK_LABEL and keyword in ("type", "pattern", "minimum"):
        return ("an integer label >= 1 (e.g. 1), a colour R,G,B with 0-255 per channel (e.g. 255,0,0) or a "
                "DICOM segment/ROI name (e.g. Tumor)")
    if keyword == "enum":
        return "one of " + ", ".join(str(v) for v in spec if v is not None)
    if keyword == "type":
        return f"a value of type {spec if isinstance(spec, str) else ' or '.join(spec)}"
    if keyword == "pattern":
        return "letters, digits, '_', '.' or '-' only"
    if keyword == "minLength":
        return "a non-empty value"
    if keyword == "minimum":
        return f"a number >= {spec}"
    if keyword == "maximum":
        return f"a number <= {spec}"
    if keyword == "required":
        return "a value"
    return f"{keyword} {spec}"


def _fix(column: str, keyword: str, value: Any, enum: list[Any] | None) -> str:
    if column == COL_LABEL:
        return "labels are 1 (ALNM) or 0 (no ALNM); leave empty when unknown."
    if keyword == "enum" and enum:
        hint = did_you_mean(str(value), [str(v) for v in enum if v is not None]).strip()
        extra = " or declare the name with --extra-sequence" if column == "sequence" else ""
        return f"use an allowed value{extra}." + (f" {hint}" if hint else "")
    if column == COL_MASK_LABEL:
        return ("give the integer value of the lesion in a grey mask (default 1), or its colour R,G,B in a "
                "colour-coded mask.")
    if column == COL_MASK_COLOR_TOLERANCE:
        return (f"give the largest per-channel difference from the colour (0-254, default "
                f"{DEFAULT_COLOR_TOLERANCE}), or leave the cell empty.")
    if column == COL_MASK_THRESHOLD:
        return "give the value above which a pixel is foreground (e.g. 127), or leave the cell empty."
    return f"correct the '{column}' value."


def check_columns(df: pd.DataFrame, report: ValidationReport,
                  required: Iterable[str] = MANIFEST_REQUIRED) -> bool:
    """Report missing required columns; ``False`` when any is missing."""
    missing = [c for c in required if c not in df.columns]
    for col in missing:
        hint = did_you_mean(col, list(df.columns)).strip()
        report.add(None, col, "a column named " + repr(col), "no such column (columns: "
                   + ", ".join(sorted(map(str, df.columns))[:10]) + ")",
                   f"add the column or rename yours. {hint}".strip())
    return not missing


def check_rows(df: pd.DataFrame, schema: dict[str, Any], report: ValidationReport) -> None:
    """Validate every row against ``schema``; report each violation."""
    validator = jsonschema.Draft202012Validator(schema)
    props = schema["properties"]
    columns = [c for c in df.columns if c in props]
    for idx, row in df.iterrows():
        record = _record(row, columns)
        seen: set[str] = set()
        for error in validator.iter_errors(record):
            if error.validator == "required":
                missing = [c for c in error.validator_value if c not in record]
                for col in missing:
                    report.add(int(idx) + 1, col, "a value", "an empty cell", f"fill in '{col}'.")
                continue
            column = str(error.path[0]) if error.path else "?"
            if column in seen:  # one problem per cell: 'x' as a label fails both type and enum
                continue
            seen.add(column)
            value = record.get(column)
            report.add(int(idx) + 1, column, _expected(error), repr(value) if isinstance(value, str) else value,
                       _fix(column, error.validator, record.get(column), props.get(column, {}).get("enum")))


def check_duplicates(df: pd.DataFrame, report: ValidationReport,
                     key: Iterable[str] = MANIFEST_KEY) -> None:
    """Report rows that share a key (same cohort, patient, sequence and reader)."""
    key = [k for k in key if k in df.columns]
    dup = df[df.duplicated(key, keep=False)]
    for values, group in dup.groupby(key, sort=True, dropna=False):
        rows = [int(i) + 1 for i in group.index]
        report.add(rows[1], "+".join(key), "one row per (" + ", ".join(key) + ")",
                   f"{len(rows)} rows with {dict(zip(key, map(str, values)))} (rows {', '.join(map(str, rows[:5]))})",
                   "remove the duplicate rows or give them different readers.")


def check_patient_consistency(df: pd.DataFrame, report: ValidationReport) -> None:
    """A patient has one centre and one label across all of its rows."""
    for column in ("center", COL_LABEL):
        if column not in df.columns:
            continue
        values = df[["cohort", "patient_id", column]].dropna()
        counts = values.groupby(["cohort", "patient_id"])[column].nunique()
        for (cohort, patient), n in counts[counts > 1].items():
            rows = values[(values.cohort == cohort) & (values.patient_id == patient)]
            found = sorted(map(str, rows[column].unique()))
            report.add(int(rows.index[0]) + 1, column, f"one {column} per patient",
                       f"patient {patient!r} has {', '.join(found)}",
                       f"make '{column}' agree across all rows of the patient.")
