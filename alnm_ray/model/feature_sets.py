"""Assemble the modelling tables (one row per patient) for named feature sets.

Inputs are wide per-patient DataFrames keyed by table name -- what
``alnm_ray.store.to_wide`` returns for ``radiomics`` and ``deep`` (columns
``<SEQ>__original_...`` / ``<SEQ>__deep_000``), the clinical table, or any
imported table -- indexed by ``patient_id`` (a ``patient_id`` column is moved
to the index).  Key and provenance columns (cohort, center, label, split ...)
are never features.

Set names are ``+``-joined tokens:

* ``radiomics`` -- PyRadiomics columns of the ``radiomics`` table;
* ``deep`` -- ``deep_*`` columns of the ``deep`` table;
* ``combined`` -- radiomics + deep (pre-fusion; ICC still applies to the
  radiomics part inside each fold, deep columns bypass it);
* ``clinical`` -- every feature column of the ``clinical`` table (categorical
  columns are one-hot encoded *inside* each fold by
  :class:`~alnm_ray.select.encode.ClinicalEncoder`);
* any other table name -- all its feature columns (an imported table);

e.g. ``clinical+radiomics``.  Post-fusion sets are not tables: pass their
components to ``run_cv(..., fusion={"post:clinical+radiomics+deep": [...]})``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from alnm_ray import constants as C
from alnm_ray._validation import capped
from alnm_ray.exceptions import ConfigError, FallbackWarning, SchemaMismatchError
from alnm_ray.select.columns import KIND_DEEP, KIND_RADIOMICS, feature_kind, is_meta

#: Feature sets of Guo 2024 plus the clinical combinations of the related studies.
DEFAULT_FEATURE_SETS: tuple[str, ...] = (
    "radiomics", "deep", "combined", "clinical", "clinical+radiomics", "clinical+deep",
    "clinical+combined")
#: Token -> (source table, column kind or None for all feature columns).
_TOKENS: dict[str, list[tuple[str, str | None]]] = {
    "radiomics": [(C.TABLE_RADIOMICS, KIND_RADIOMICS)],
    "deep": [(C.TABLE_DEEP, KIND_DEEP)],
    "combined": [(C.TABLE_RADIOMICS, KIND_RADIOMICS), (C.TABLE_DEEP, KIND_DEEP)],
    "clinical": [(C.TABLE_CLINICAL, None)],
}
JOINS: tuple[str, ...] = ("strict", "inner")
logger = logging.getLogger(__name__)


def _indexed(name: str, df: Any) -> pd.DataFrame:
    if hasattr(df, "to_pandas") and not isinstance(df, pd.DataFrame):
        df = df.to_pandas()
    if C.COL_PATIENT in df.columns:
        df = df.set_index(C.COL_PATIENT)
    if df.index.has_duplicates:
        dup = sorted({str(i) for i in df.index[df.index.duplicated()]})
        raise SchemaMismatchError(
            f"table {name!r}: patient id(s) {capped(dup)} appear more than once; expected one row "
            "per patient (a wide table). Use alnm_ray.store.to_wide on long feature tables.")
    df.index = df.index.astype(str)
    df.index.name = C.COL_PATIENT
    return df


def feature_columns(df: pd.DataFrame, kind: str | None = None) -> list[str]:
    """Feature columns of a wide table (meta excluded), optionally only one kind."""
    cols = [str(c) for c in df.columns if not is_meta(str(c)) and str(c) != C.COL_PATIENT]
    return cols if kind is None else [c for c in cols if feature_kind(c) == kind]


def assemble_feature_set(name: str, tables: Mapping[str, Any], *, join: str = "strict"
                         ) -> pd.DataFrame:
    """Build one feature set's table.

    Args:
        name: Set name (see module docstring), e.g. "combined", "clinical+deep".
        tables: Table name -> wide per-patient DataFrame.
        join: "strict" (all parts must hold the same patients) or "inner" (keep
            patients present everywhere; the drop is announced with a FallbackWarning).

    Returns:
        DataFrame indexed by patient id (str), feature columns only.

    Raises:
        SchemaMismatchError: Missing table, no feature columns, patients differ
            (strict), or a column name in two parts.
    """
    if join not in JOINS:
        raise ConfigError(f"join: expected one of {JOINS}; got {join!r}.")
    tokens = [t.strip() for t in str(name).split("+") if t.strip()]
    if not tokens:
        raise ConfigError(f"feature set: expected a name like 'radiomics' or 'clinical+deep'; got {name!r}.")
    parts: list[tuple[str, pd.DataFrame]] = []
    for token in tokens:
        for table, kind in _TOKENS.get(token, [(token, None)]):
            if table not in tables:
                raise SchemaMismatchError(
                    f"feature set {name!r}: needs table {table!r}; got tables "
                    f"{sorted(tables)}. Read it from the store (alnm-ray extract/embed/import).")
            df = _indexed(table, tables[table])
            cols = feature_columns(df, kind)
            if not cols:
                raise SchemaMismatchError(
                    f"feature set {name!r}: table {table!r} has no {kind or 'feature'} columns; "
                    f"expected names like 'T2WI__original_...' / 'T2WI__deep_000'. Got "
                    f"{capped(sorted(map(str, df.columns)))}.")
            parts.append((f"{token}:{table}", df[cols]))
    index = parts[0][1].index
    for label, df in parts[1:]:
        if not index.equals(df.index) and set(index) != set(df.index):
            if join == "strict":
                a, b = index.difference(df.index), df.index.difference(index)
                raise SchemaMismatchError(
                    f"feature set {name!r}: patients differ between {parts[0][0]} and {label}: "
                    f"{len(a)} only in the first ({capped(sorted(a))}), {len(b)} only in the "
                    f"second ({capped(sorted(b))}). Re-run extraction for the missing patients or "
                    "pass join='inner'.")
            index = index.intersection(df.index)
    if join == "inner" and any(len(df) != len(index) for _, df in parts):
        dropped = sorted(set().union(*[set(df.index) for _, df in parts]) - set(index))
        warnings.warn(f"feature set {name!r}: join='inner' dropped {len(dropped)} patient(s) "
                      f"missing from some part: {capped(dropped)}", FallbackWarning, stacklevel=2)
    frames = [df.loc[index] for _, df in parts]
    out = pd.concat(frames, axis=1)
    if out.columns.has_duplicates:
        dup = sorted({str(c) for c in out.columns[out.columns.duplicated()]})
        raise SchemaMismatchError(f"feature set {name!r}: column(s) {capped(dup)} come from two "
                                  "parts; expected distinct names. Rename the imported columns.")
    # Structurally empty columns (e.g. 3-D shape features of 2-D mammograms, which
    # PyRadiomics computes as shape2D) carry nothing to learn from.  Dropping them
    # looks at no label and no value, so it is safe outside the folds.
    empty = [str(c) for c in out.columns if out[c].isna().all()]
    if empty:
        logger.info("feature set %r: dropped %d column(s) that are empty for every patient "
                    "(e.g. %s)", name, len(empty), ", ".join(empty[:3]))
        out = out.drop(columns=empty)
        out.attrs["dropped_empty"] = empty
    return out


def assemble_feature_sets(names: Sequence[str] = DEFAULT_FEATURE_SETS,
                          tables: Mapping[str, Any] | None = None, *, join: str = "strict"
                          ) -> dict[str, pd.DataFrame]:
    """:func:`assemble_feature_set` for several names -> ``{name: DataFrame}``."""
    return {n: assemble_feature_set(n, tables or {}, join=join) for n in names}


def labels_from(tables: Mapping[str, Any], column: str = C.COL_LABEL) -> pd.Series:
    """The 0/1 label per patient, checked to agree across every table that has it.

    Raises:
        SchemaMismatchError: When no table has labels or two tables disagree.
    """
    found: list[tuple[str, pd.Series]] = []
    for name, df in tables.items():
        df = _indexed(name, df)
        if column in df.columns:
            found.append((name, df[column]))
    if not found:
        raise SchemaMismatchError(
            f"labels: no table has a {column!r} column; expected the manifest's labels in the "
            f"wide tables or the clinical table. Tables: {sorted(tables)}.")
    base_name, base = found[0]
    for name, s in found[1:]:
        common = base.index.intersection(s.index)
        diff = [i for i in common if base[i] != s[i] and not (pd.isna(base[i]) and pd.isna(s[i]))]
        if diff:
            raise SchemaMismatchError(
                f"labels: tables {base_name!r} and {name!r} disagree for {len(diff)} patient(s) "
                f"({capped(sorted(diff))}); expected one label per patient. Fix the manifest.")
    return base.rename(column)


def centers_from(tables: Mapping[str, Any]) -> pd.Series:
    """The centre per patient from the first table with a ``center`` column."""
    for name, df in tables.items():
        df = _indexed(name, df)
        if C.COL_CENTER in df.columns:
            return df[C.COL_CENTER].astype(str)
    raise SchemaMismatchError(f"centers: no table has a {C.COL_CENTER!r} column; got "
                              f"{sorted(tables)}.")
