"""Reading the feature tables a feature set needs, as wide per-patient frames.

Shared by training (all training cohorts at once) and scoring (one cohort at
a time, because patient ids are only unique within a cohort).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from alnm_ray import constants as C
from alnm_ray.exceptions import SchemaMismatchError


def table_parts(feature_set: str) -> list[tuple[str, str | None]]:
    """``(table, column kind or None)`` for each part of a feature set, in order.

    Example:
        >>> table_parts("clinical+combined")
        [('clinical', None), ('radiomics', 'radiomics'), ('deep', 'deep')]
    """
    from alnm_ray.model.feature_sets import _TOKENS  # the set grammar lives there; one definition

    tokens = [t.strip() for t in str(feature_set).split("+") if t.strip()]
    return [part for token in tokens for part in _TOKENS.get(token, [(token, None)])]


def required_tables(feature_set: str) -> list[str]:
    """Store tables a feature set reads, without repeats."""
    return list(dict.fromkeys(table for table, _ in table_parts(feature_set)))


@dataclass(frozen=True)
class LongTables:
    """Store versions read for a feature set.

    Attributes:
        infos: ``{table: VersionInfo}`` of the versions read.
        longs: ``{table: DataFrame}`` as stored (one row per case, or per patient).
    """

    infos: dict[str, Any]
    longs: dict[str, pd.DataFrame]

    @property
    def reader_table(self) -> pd.DataFrame | None:
        """The long radiomics rows of every reader (for the ICC filter), when read."""
        return self.longs.get(C.TABLE_RADIOMICS)

    def cohorts(self) -> list[str]:
        """Cohorts present in any table (sorted)."""
        found: set[str] = set()
        for df in self.longs.values():
            if C.COL_COHORT in df.columns:
                found |= {str(v) for v in df[C.COL_COHORT].dropna().unique()}
        return sorted(found)


def read_tables(store: Any, tables: Iterable[str], *, versions: Mapping[str, str] | None = None) -> LongTables:
    """Read one version of each table (``versions[table]`` or the latest).

    Raises:
        StoreError: Unknown table or version (the message lists what exists).
    """
    versions = dict(versions or {})
    infos, longs = {}, {}
    for table in tables:
        ref = f"{table}@{versions[table]}" if versions.get(table) else table
        info = store.resolve(ref)
        infos[table] = info
        longs[table] = store.read(table, info.version).to_pandas()
    return LongTables(infos, longs)


def widen(long_tables: LongTables, *, reader: str = C.PRIMARY_READER,
          cohorts: Sequence[str] = ()) -> dict[str, pd.DataFrame]:
    """Wide per-patient frames (index ``patient_id``), restricted to ``cohorts`` when given.

    Case tables (with a ``sequence`` column) go through
    :func:`alnm_ray.store.to_wide` for ``reader``; per-patient tables
    (clinical, imported) are indexed by patient as they are.

    Raises:
        SchemaMismatchError: A table has neither ``sequence`` nor one row per patient.
    """
    from alnm_ray.store import to_wide

    out = {}
    for table, df in long_tables.longs.items():
        if cohorts and C.COL_COHORT in df.columns:
            df = df[df[C.COL_COHORT].astype(str).isin([str(c) for c in cohorts])]
        if C.COL_SEQUENCE in df.columns:
            wide = to_wide(df, reader=reader)
        else:
            if C.COL_PATIENT not in df.columns:
                raise SchemaMismatchError(
                    f"table {table!r}: expected a {C.COL_PATIENT!r} column (one row per patient) or case "
                    f"rows with a 'sequence' column; found columns {list(df.columns)[:8]}. Import it "
                    "with `alnm-ray features import --key patient_id`.")
            wide = df.set_index(C.COL_PATIENT)
            if wide.index.has_duplicates:
                dup = sorted({str(i) for i in wide.index[wide.index.duplicated()]})[:5]
                raise SchemaMismatchError(
                    f"table {table!r}: expected one row per patient; found repeated ids {', '.join(dup)}. "
                    "Restrict to one cohort or de-duplicate the table.")
        wide.index = wide.index.astype(str)
        wide.index.name = C.COL_PATIENT
        out[table] = wide
    return out


def used_inputs(pipeline: Any, inputs: Sequence[str], selected: Sequence[str]) -> tuple[list[str], list[str]]:
    """Input columns the fitted pipeline depends on, and those it imputes itself.

    Args:
        pipeline: The fitted selection pipeline.
        inputs: Its input columns.
        selected: Its output columns (what the classifier sees).

    Returns:
        ``(used, imputed)``: ``used`` are inputs kept as they are or one-hot
        encoded (``"grade"`` for ``"grade=3"``), in input order; ``imputed`` are
        inputs the pipeline's clinical encoder fills when missing (all inputs
        when the pipeline starts with an encoder, else none).
    """
    chosen = set(selected)
    encoded = {s.split("=", 1)[0] for s in selected if "=" in s}
    used = [f for f in inputs if f in chosen or f in encoded]
    has_encoder = any(name == "encode" for name, _ in getattr(pipeline, "steps", []))
    return used, (list(inputs) if has_encoder else [])
