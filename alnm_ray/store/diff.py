"""Comparing two table versions: columns, rows, and per-feature value changes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from alnm_ray.constants import CASE_KEY, COL_EXTRACTED_AT
from alnm_ray.store.feature_store import FeatureStore
from alnm_ray.store.versions import VersionInfo

#: Columns that differ between versions by design and do not make a row "changed".
IGNORED_FOR_CHANGES: frozenset[str] = frozenset({COL_EXTRACTED_AT})


@dataclass(frozen=True)
class FeatureChange:
    """How one numeric column changed on the rows both versions share."""

    column: str
    max_abs_diff: float
    changed: int


@dataclass(frozen=True)
class VersionDiff:
    """The difference between versions ``a`` and ``b`` (``b`` relative to ``a``).

    Attributes:
        a, b: The compared versions.
        key: Columns used to match rows (empty: rows not matched).
        added_columns: In ``b`` only.  removed_columns: in ``a`` only.
        type_changes: ``(column, type in a, type in b)``.
        rows_a, rows_b: Row counts.
        only_a, only_b: Rows whose key is in one version only.
        common: Rows whose key is in both.
        changed_rows: Common rows where any shared non-key column differs.
        features: Shared numeric columns that changed, largest difference first.
    """

    a: VersionInfo
    b: VersionInfo
    key: tuple[str, ...]
    added_columns: list[str]
    removed_columns: list[str]
    type_changes: list[tuple[str, str, str]]
    rows_a: int
    rows_b: int
    only_a: int | None = None
    only_b: int | None = None
    common: int | None = None
    changed_rows: int | None = None
    features: list[FeatureChange] = field(default_factory=list)
    unchanged_features: int = 0


def _key(a: VersionInfo, b: VersionInfo) -> tuple[str, ...]:
    if a.key and a.key == b.key:
        return a.key
    shared = set(a.column_names) & set(b.column_names)
    return tuple(c for c in CASE_KEY if c in shared) if all(c in shared for c in CASE_KEY) else ()


def _numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


def _compare_numeric(x: pa.ChunkedArray, y: pa.ChunkedArray, tol: float) -> tuple[np.ndarray, float]:
    xa = x.to_numpy(zero_copy_only=False).astype("float64")
    ya = y.to_numpy(zero_copy_only=False).astype("float64")
    nan_x, nan_y = np.isnan(xa), np.isnan(ya)
    with np.errstate(invalid="ignore"):
        diff = np.abs(xa - ya)
    both = ~nan_x & ~nan_y
    changed = (nan_x ^ nan_y) | (both & (diff > tol))
    finite = diff[both & np.isfinite(diff)]
    biggest = float(finite.max()) if finite.size else 0.0
    if (nan_x ^ nan_y).any():
        biggest = float("inf")
    return changed, biggest


def diff_versions(store: FeatureStore, a: str, b: str, *, tolerance: float = 0.0) -> VersionDiff:
    """Compare two versions, given as ``"table"`` (latest) or ``"table@version"`` references.

    Rows are matched on the tables' key (their recorded key, or
    ``constants.CASE_KEY``); without one only columns and row counts are
    compared.

    Args:
        store: The store holding both versions.
        a, b: References; ``b`` is described relative to ``a``.
        tolerance: Absolute difference under which numbers count as equal.

    Returns:
        The :class:`VersionDiff`.

    Raises:
        StoreError: Unknown table or version.
    """
    info_a, info_b = store.resolve(a), store.resolve(b)
    types_a, types_b = dict(info_a.columns), dict(info_b.columns)
    key = _key(info_a, info_b)
    base = VersionDiff(
        a=info_a, b=info_b, key=key,
        added_columns=[c for c in info_b.column_names if c not in types_a],
        removed_columns=[c for c in info_a.column_names if c not in types_b],
        type_changes=[(c, types_a[c], types_b[c]) for c in info_a.column_names
                      if c in types_b and types_a[c] != types_b[c]],
        rows_a=info_a.rows, rows_b=info_b.rows,
    )
    if not key:
        return base
    names = list(key)
    shared = [c for c in info_a.column_names if c in types_b and c not in key
              and c not in IGNORED_FOR_CHANGES]
    ta = store.read(info_a.table, info_a.version, columns=names + shared)
    tb = store.read(info_b.table, info_b.version, columns=names + shared)
    ta = ta.rename_columns(names + [f"{c}@@a" for c in shared])
    tb = tb.rename_columns(names + [f"{c}@@b" for c in shared])
    joined = ta.join(tb, keys=names, join_type="inner")
    common = joined.num_rows
    row_changed = np.zeros(common, dtype=bool)
    features, unchanged = [], 0
    for col in shared:
        x, y = joined.column(f"{col}@@a"), joined.column(f"{col}@@b")
        if _numeric(x.type) and _numeric(y.type):
            changed, biggest = _compare_numeric(x, y, tolerance)
            if changed.any():
                features.append(FeatureChange(col, biggest, int(changed.sum())))
            else:
                unchanged += 1
        else:
            xs, ys = x.to_pylist(), y.to_pylist()
            changed = np.fromiter((p != q for p, q in zip(xs, ys)), dtype=bool, count=common)
        row_changed |= changed
    features.sort(key=lambda f: (-f.max_abs_diff, f.column))
    return dataclasses.replace(
        base, only_a=info_a.rows - common, only_b=info_b.rows - common, common=common,
        changed_rows=int(row_changed.sum()), features=features, unchanged_features=unchanged)
