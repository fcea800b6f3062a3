"""Assemble the modelling tables (one row per patient) for named feature sets.

Inputs are wide per-patient DataFrames keyed by table name -- what
``alnm_ray.store.to_wide`` returns for ``radiomics`` and ``deep`` (columns
``<SEQ>__original_...`` / ``<SEQ>__deep_000``), the clinical table, or any
imported table -- indexed by ``patient_id`` (a ``patient_id`` column is moved
to the index).  Key and provenance columns (cohort, center, label, split ...)
are never features.

Set names follow the grammar of :mod:`alnm_ray.model.feature_spec` (``radiomics``,
``deep``, ``combined``, ``clinical``, any imported table, ``+``-joined, e.g.
``clinical+radiomics``).  Post-fusion sets (``post:…``) are not tables: pass
their components to ``run_cv(..., fusion={"post:clinical+radiomics+deep": [...]})``.
Labels, centres and splits per patient: :mod:`alnm_ray.model.cohort`.
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
from alnm_ray.model.feature_spec import FeatureSetSpec
from alnm_ray.select.columns import feature_kind, is_meta

#: Feature sets of Guo 2024 plus the clinical combinations of the related studies.
DEFAULT_FEATURE_SETS: tuple[str, ...] = (
    "radiomics", "deep", "combined", "clinical", "clinical+radiomics", "clinical+deep",
    "clinical+combined")
JOINS: tuple[str, ...] = ("strict", "inner")
logger = logging.getLogger(__name__)


def indexed_by_patient(name: str, df: Any) -> pd.DataFrame:
    """``df`` (pandas or Arrow) indexed by ``patient_id`` as str, checked one row per patient.

    Raises:
        SchemaMismatchError: A patient id appears more than once.

    Example:
        >>> indexed_by_patient("t", pd.DataFrame({"patient_id": [1, 2], "x": [0.5, 0.7]})).index.tolist()
        ['1', '2']
    """
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


def drop_empty_columns(X: pd.DataFrame, name: str) -> tuple[pd.DataFrame, list[str]]:
    """Drop the columns of ``X`` that hold no value in any row.

    Structurally empty columns (e.g. 3-D shape features of 2-D mammograms, which
    PyRadiomics computes as shape2D, or a column empty once unlabelled patients
    are left out) carry nothing to learn from and cannot be imputed inside a
    fold.  Dropping them looks at no label and no other value, so it is safe
    outside the folds; the drop is logged, never silent.

    Args:
        X: Rows to model (patients x features).
        name: The feature set, for the log line.

    Returns:
        ``(X without the empty columns, their names)``.

    Example:
        >>> X, dropped = drop_empty_columns(pd.DataFrame({"a": [1.0], "b": [None]}), "demo")
        >>> list(X.columns), dropped
        (['a'], ['b'])
    """
    empty = [str(c) for c in X.columns[X.isna().all().to_numpy()]] if len(X.columns) else []
    if empty:
        logger.info("feature set %r: dropped %d column(s) that are empty for every patient "
                    "(e.g. %s)", name, len(empty), ", ".join(empty[:3]))
        X = X.drop(columns=empty)
    return X, empty


def assemble_feature_set(name: str | FeatureSetSpec, tables: Mapping[str, Any], *,
                         join: str = "strict") -> pd.DataFrame:
    """Build one feature set's table.

    Args:
        name: Set name or parsed spec, e.g. "combined", "clinical+deep" (a plain set).
        tables: Table name -> wide per-patient DataFrame.
        join: "strict" (all parts must hold the same patients) or "inner" (keep
            patients present everywhere; the drop is announced with a FallbackWarning).

    Returns:
        DataFrame indexed by patient id (str), feature columns only; columns
        empty for every patient are dropped (:func:`drop_empty_columns`) and
        listed in ``attrs["dropped_empty"]``.

    Raises:
        ConfigError: Unknown join, empty name, or a post-fusion name.
        SchemaMismatchError: Missing table, no feature columns, patients differ
            (strict), or a column name in two parts.
    """
    if join not in JOINS:
        raise ConfigError(f"join: expected one of {JOINS}; got {join!r}.")
    spec = FeatureSetSpec.parse(name)
    name = spec.name
    if spec.is_fusion:
        raise ConfigError(f"feature set {name!r}: a post-fusion set is not one table; expected a plain set. "
                          "Assemble each member and stack them with run_cv(..., fusion=...).")
    parts: list[tuple[str, pd.DataFrame]] = []
    for part in spec.parts:
        table, kind = part.table, part.kind
        if table not in tables:
            raise SchemaMismatchError(
                f"feature set {name!r}: needs table {table!r}; got tables "
                f"{sorted(tables)}. Read it from the store (alnm-ray extract/embed/import).")
        df = indexed_by_patient(table, tables[table])
        cols = feature_columns(df, kind)
        if not cols:
            raise SchemaMismatchError(
                f"feature set {name!r}: table {table!r} has no {kind or 'feature'} columns; "
                f"expected names like 'T2WI__original_...' / 'T2WI__deep_000'. Got "
                f"{capped(sorted(map(str, df.columns)))}.")
        parts.append((f"{part.token}:{table}", df[cols]))
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
    out, empty = drop_empty_columns(out, name)
    if empty:
        out.attrs["dropped_empty"] = empty
    return out


def assemble_feature_sets(names: Sequence[str] = DEFAULT_FEATURE_SETS,
                          tables: Mapping[str, Any] | None = None, *, join: str = "strict"
                          ) -> dict[str, pd.DataFrame]:
    """:func:`assemble_feature_set` for several names -> ``{name: DataFrame}``."""
    return {n: assemble_feature_set(n, tables or {}, join=join) for n in names}
