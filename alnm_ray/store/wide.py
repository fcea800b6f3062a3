"""The wide per-patient view that modelling uses.

Feature tables are long: one row per case (patient × sequence × reader).
Models want one row per patient with every sequence's features side by side,
named ``<SEQUENCE>__<feature>`` (``constants.WIDE_SEP``), as the reference
method concatenates the features of all sequences.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from alnm_ray.constants import (COL_CASE_HASH, COL_CENTER, COL_COHORT, COL_EXTRACTED_AT,
                                COL_LABEL, COL_MASK_LABEL, COL_PATIENT, COL_READER, COL_SEQUENCE,
                                COL_SPLIT, COL_VERSION, SEQUENCES, WIDE_SEP)
from alnm_ray.exceptions import SchemaMismatchError

#: Per-patient columns carried into the wide view (when present), in this order.
PATIENT_COLUMNS: tuple[str, ...] = (COL_COHORT, COL_CENTER, COL_LABEL, COL_SPLIT)
#: Columns of a long table that are never features.
NON_FEATURE_COLUMNS: frozenset[str] = frozenset({
    COL_COHORT, COL_CENTER, COL_PATIENT, COL_SEQUENCE, COL_READER, COL_LABEL, COL_SPLIT,
    COL_MASK_LABEL, COL_CASE_HASH, COL_EXTRACTED_AT, COL_VERSION,
})
_SHOW = 5


def feature_columns(frame: pd.DataFrame, *, key: str = COL_PATIENT) -> list[str]:
    """Numeric columns of a long table that are features (not keys or provenance)."""
    return [c for c in frame.columns
            if c not in NON_FEATURE_COLUMNS and c != key
            and (pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]))]


def _sequence_order(sequences: list[str]) -> list[str]:
    known = [s for s in SEQUENCES if s in sequences]
    return known + sorted(s for s in sequences if s not in SEQUENCES)


def to_wide(long_table: Any, *, reader: str | None = "A", key: str = COL_PATIENT) -> pd.DataFrame:
    """Pivot long feature rows to one row per patient.

    Args:
        long_table: pyarrow Table or pandas DataFrame with ``key``,
            ``sequence``, optional ``reader``/``cohort``/``center``/
            ``label``/``split`` and numeric feature columns.
        reader: Keep only this reader's rows (``None`` keeps all; then each
            (patient, sequence) must still be unique).
        key: The patient column.

    Returns:
        DataFrame indexed by ``key`` (sorted), with ``cohort``, ``center``,
        ``label``, ``split`` when present, then ``<SEQUENCE>__<feature>``
        float columns (sequences in ``constants.SEQUENCES`` order, features
        in table order).  A patient missing a sequence gets NaN there.

    Raises:
        SchemaMismatchError: Missing ``key``/``sequence`` columns, a
            patient with several rows for one sequence, or a per-patient
            column (label, center…) that differs between a patient's rows.

    Example:
        >>> import pandas as pd
        >>> long = pd.DataFrame({"patient_id": ["p1", "p1"], "sequence": ["T2WI", "ADC"],
        ...                      "reader": ["A", "A"], "f": [1.0, 2.0]})
        >>> list(to_wide(long).columns)
        ['T2WI__f', 'ADC__f']
    """
    frame = long_table.to_pandas() if isinstance(long_table, pa.Table) else pd.DataFrame(long_table)
    missing = [c for c in (key, COL_SEQUENCE) if c not in frame.columns]
    if missing:
        raise SchemaMismatchError(
            f"to_wide: expected columns {missing} in the long feature table; it has "
            f"{list(frame.columns)[:8]}. Pass a radiomics/deep table (one row per case)."
        )
    if reader is not None and COL_READER in frame.columns:
        frame = frame[frame[COL_READER] == reader]
    dup_mask = frame.duplicated([key, COL_SEQUENCE], keep=False)
    if dup_mask.any():
        dups = (frame.loc[dup_mask, [key, COL_SEQUENCE]].drop_duplicates()
                .sort_values([key, COL_SEQUENCE]))
        shown = ", ".join(f"{p}/{s}" for p, s in dups.head(_SHOW).itertuples(index=False))
        raise SchemaMismatchError(
            f"to_wide: expected one row per ({key}, sequence){f' for reader {reader!r}' if reader else ''}; "
            f"found {len(dups)} duplicated pair(s): {shown}. Filter to one cohort/reader "
            "(e.g. reader='A', or a WHERE cohort = ... query) or remove the duplicate cases."
        )
    features = feature_columns(frame, key=key)
    sequences = _sequence_order(sorted(frame[COL_SEQUENCE].astype(str).unique()))
    meta = [c for c in PATIENT_COLUMNS if c in frame.columns]
    grouped = frame.groupby(key, sort=True)
    if meta:
        per_patient = grouped[meta].nunique(dropna=False)
        for col in meta:
            bad = per_patient.index[per_patient[col] > 1]
            if len(bad):
                raise SchemaMismatchError(
                    f"to_wide: column {col!r}: expected one value per patient; found "
                    f"{len(bad)} patient(s) with differing values across sequences "
                    f"({', '.join(map(str, bad[:_SHOW]))}). Fix the manifest so every row of a "
                    "patient agrees."
                )
    head = grouped[meta].first() if meta else pd.DataFrame(index=sorted(frame[key].unique()))
    order = [(feat, seq) for seq in sequences for feat in features]
    if order:
        wide = frame.pivot(index=key, columns=COL_SEQUENCE, values=features)
        block = wide.reindex(columns=pd.MultiIndex.from_tuples(order)).astype("float64")
        block.columns = [f"{seq}{WIDE_SEP}{feat}" for feat, seq in order]
        out = pd.concat([head, block], axis=1)
    else:
        out = head
    out.index.name = key
    return out.sort_index()
