"""One cohort's per-patient data read from the store: :func:`read_cohort`.

Tune, train and score all model from the same thing: the store tables a
feature set needs (one version each, pinned or latest), restricted to some
cohorts, widened to one row per patient for one reader, with the label,
centre, split and cohort name of every patient.  This module reads and shapes
that once; :func:`alnm_ray.model.feature_sets.assemble_feature_set` then picks
each set's columns.

The per-patient columns (``label``, ``center``, ``split``, ``cohort``) may be
in several tables (the manifest's columns are copied into every extracted
table; a clinical or imported table may carry its own).  One rule for all of
them: **a patient's value is the first non-missing one, in the order the
tables are read**.  For labels two tables giving a patient different values
is an error, and every label must be 0 or 1.

Each table is read a block of columns at a time (:func:`read_frame`), and
with ``cohorts`` only the rows of those cohorts are converted: the driver
holds about one frame of each table, not the Arrow table, its sorted copy
and the frame at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray import constants as C
from alnm_ray._validation import capped
from alnm_ray.exceptions import ConfigError, SchemaMismatchError
from alnm_ray.model.feature_sets import indexed_by_patient
from alnm_ray.model.feature_spec import FeatureSetSpec, tables_needed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LongTables:
    """Store versions read, as stored (one row per case, or per patient).

    Attributes:
        infos: ``{table: VersionInfo}`` of the versions read.
        longs: ``{table: DataFrame}``.
    """

    infos: dict[str, Any]
    longs: dict[str, pd.DataFrame]

    def cohorts(self) -> list[str]:
        """Cohorts present in any table (sorted)."""
        found: set[str] = set()
        for df in self.longs.values():
            if C.COL_COHORT in df.columns:
                found |= {str(v) for v in df[C.COL_COHORT].dropna().unique()}
        return sorted(found)


def read_tables(store: Any, tables: Iterable[str], *, pins: Mapping[str, str] | None = None) -> LongTables:
    """Read one version of each table: ``pins[table]`` (an id or unique prefix) or the latest.

    Raises:
        StoreError: Unknown table or version (the message lists what exists).
    """
    infos = _resolve(store, tables, pins)
    return LongTables(infos, {table: read_frame(store, info) for table, info in infos.items()})


def _resolve(store: Any, tables: Iterable[str], pins: Mapping[str, str] | None) -> dict[str, Any]:
    pins = dict(pins or {})
    return {table: store.resolve(f"{table}@{pins[table]}" if pins.get(table) else table) for table in tables}


#: Bytes of float64 values per block of columns :func:`read_frame` reads at a time, and the
#: fewest columns of a block (each block is one read of the version, about 40 ms).
READ_BLOCK_BYTES = 4 << 20
READ_BLOCK_MIN_COLUMNS = 16
#: Arrow types (as :attr:`VersionInfo.columns` names them) whose pandas dtype never depends on the values.
_FLOAT_TYPES: dict[str, Any] = {"double": np.dtype("float64"), "float": np.dtype("float32")}


class _NotAsPlanned(Exception):
    """A column's type is not the one the version's metadata names (read the whole table instead)."""


def read_frame(store: Any, info: Any, mask: np.ndarray | None = None) -> pd.DataFrame:
    """One stored version as pandas, read a block of columns at a time.

    The same frame as ``store.read(info.table, info.version).to_pandas()``
    (then ``[mask]``, a boolean per row of it, when given): values, dtypes,
    column order and index.  Reading the whole table holds the Arrow table,
    its sorted copy and the frame at once (and Parquet's buffers of every
    column); here the key columns are read and sorted once (the order
    :meth:`FeatureStore.read` gives), then each block of about
    :data:`READ_BLOCK_BYTES` of columns is read, taken in that order
    (``mask``'s rows only), converted, and its float columns written into one
    preallocated 2-D block per dtype, the block pandas keeps: the peak is
    about the frame plus one block of columns.  A version whose columns
    are not as its log says, or that Arrow cannot decode, is read whole by
    :meth:`FeatureStore.read` (whose errors name the damage).

    Raises:
        StoreError: Unreadable files (as :meth:`FeatureStore.read`).
    """
    names = list(info.column_names)
    rows = max(int(info.rows), 1)
    width = max(READ_BLOCK_MIN_COLUMNS, READ_BLOCK_BYTES // (8 * rows), 1)
    key = [k for k in info.key if k in names]
    create = _block_frame_factory()
    if create is None or len(names) <= width + len(key) or len(key) < len(info.key) or not info.rows:
        return _whole_frame(store, info, mask)
    try:
        return _frame_by_blocks(store, info, names, key, width, mask, create)
    except _NotAsPlanned:
        return _whole_frame(store, info, mask)
    finally:
        _release_freed()


def _release_freed() -> None:
    """Hand memory freed by the reads back to the system.

    Arrow's pool keeps freed pages, and the reading threads' malloc arenas
    keep the Delta reader's freed buffers (tens of MiB at 10,000 patients)
    where the driver's later NumPy allocations cannot reuse them.
    """
    import ctypes

    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL(None).malloc_trim(0)  # glibc; absent elsewhere (macOS, musl)
    except (AttributeError, OSError):
        pass


def _whole_frame(store: Any, info: Any, mask: np.ndarray | None) -> pd.DataFrame:
    df = store.read(info.table, info.version).to_pandas()
    return df if mask is None else df[pd.Series(mask, index=df.index)]


def _block_frame_factory() -> Any:
    try:  # pandas >= 3 (what pyarrow's own conversion uses)
        from pandas.api.internals import create_dataframe_from_blocks
    except ImportError:
        return None
    return create_dataframe_from_blocks


def _frame_by_blocks(store: Any, info: Any, names: list[str], key: list[str], width: int,
                     mask: np.ndarray | None, create: Any) -> pd.DataFrame:
    import pyarrow as pa

    try:
        return _blocks_of(store, info, names, key, width, mask, create)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError):
        raise _NotAsPlanned(info.short)  # whole, by FeatureStore.read: its errors name the damage


def _blocks_of(store: Any, info: Any, names: list[str], key: list[str], width: int,
               mask: np.ndarray | None, create: Any) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    from alnm_ray.store._writer import sort_order

    dataset = store.dataset(info)  # its files checked, as FeatureStore.read checks them
    # On a local disk each column chunk is read when decoded (not the block's bytes of a row group
    # buffered first); a remote store keeps Arrow's coalesced range requests.
    local = bool(getattr(getattr(store, "location", None), "is_local", False))
    scan = pads.ParquetFragmentScanOptions(pre_buffer=not local)

    def read(columns: list[str]) -> Any:
        return dataset.to_table(columns=columns, fragment_scan_options=scan)

    order = sort_order(tuple(info.key))  # the rows in FeatureStore.read's order
    ranks = None
    if order:
        keys = read(order)
        if keys.num_rows:
            ranks = pc.sort_indices(keys, sort_keys=[(k, "ascending") for k in order]).to_numpy()
        del keys
    if mask is not None:
        ranks = np.flatnonzero(mask) if ranks is None else ranks[mask]
    take = None if ranks is None else pa.array(ranks)
    types = dict(info.columns)
    rest = [c for c in names if c not in key]
    planned: dict[str, Any] = {c: _FLOAT_TYPES[types[c]] for c in rest if types.get(c) in _FLOAT_TYPES}
    slots: dict[Any, dict[str, int]] = {}
    for c, dtype in planned.items():
        slots.setdefault(dtype, {})[c] = len(slots.get(dtype, {}))
    blocks: dict[Any, np.ndarray] = {}
    others: dict[str, pd.Series] = {}
    fields: dict[str, Any] = {}
    n = -1
    for start in range(0, len(rest), width):
        part = read((key if not start else []) + rest[start:start + width])
        if take is not None:
            part = part.take(take)
        fields.update((f.name, f) for f in part.schema)
        if n < 0:
            n = part.num_rows
            blocks = {dtype: np.empty((len(cols), n), dtype=dtype) for dtype, cols in slots.items()}
        elif part.num_rows != n:
            raise _NotAsPlanned(info.short)
        frame = part.to_pandas(split_blocks=True, self_destruct=True)
        del part
        for c in frame.columns:
            values = frame[c]
            dtype = planned.get(c)
            if dtype is None:
                others[c] = values
            elif values.dtype != dtype:
                raise _NotAsPlanned(info.short)
            else:
                blocks[dtype][slots[dtype][c]] = values.to_numpy()
        del frame
    position = {c: i for i, c in enumerate(names)}
    placed = [(block, np.array([position[c] for c in slots[dtype]], dtype=np.intp))
              for dtype, block in blocks.items()]
    by_dtype: dict[Any, list[str]] = {}
    for c, values in others.items():
        if isinstance(values.dtype, np.dtype):
            by_dtype.setdefault(values.dtype, []).append(c)
        else:  # an extension array (text, categories, ...) is a block of its own
            placed.append((values.array, np.array([position[c]], dtype=np.intp)))
    for cols in by_dtype.values():
        placed.append((np.vstack([others[c].to_numpy() for c in cols]),
                       np.array([position[c] for c in cols], dtype=np.intp)))
    del others
    columns = pa.schema([fields[c] for c in names]).empty_table().to_pandas().columns
    index = pd.RangeIndex(n) if mask is None else _masked_index(mask)
    return create(placed, index=index, columns=columns)


def _masked_index(mask: np.ndarray) -> pd.Index:
    """The index ``df[mask]`` gives a frame read whole (a default range index)."""
    empty = pd.DataFrame(index=pd.RangeIndex(len(mask)))
    return empty[pd.Series(mask, index=empty.index)].index


def wide_table(table: str, df: pd.DataFrame, reader: str) -> pd.DataFrame:
    """One stored table as one row per patient (index ``patient_id``, str).

    Case tables (with a ``sequence`` column) are pivoted by
    :func:`alnm_ray.store.to_wide` for ``reader``; per-patient tables
    (clinical, imported) are indexed by patient as they are.

    Raises:
        SchemaMismatchError: Neither a ``sequence`` nor a ``patient_id`` column,
            or a patient on several rows.
    """
    from alnm_ray.store import to_wide

    if C.COL_SEQUENCE in df.columns:
        wide = to_wide(df, reader=reader)
    else:
        if C.COL_PATIENT not in df.columns:
            raise SchemaMismatchError(
                f"table {table!r}: expected a {C.COL_PATIENT!r} column (one row per patient) or case "
                f"rows with a 'sequence' column; found {capped(list(map(str, df.columns)))}. Import it "
                "with `alnm-ray features import --key patient_id`.")
        wide = df.set_index(C.COL_PATIENT)
    wide.index = wide.index.astype(str)
    wide.index.name = C.COL_PATIENT
    if wide.index.has_duplicates:
        dup = sorted({str(i) for i in wide.index[wide.index.duplicated()]})
        raise SchemaMismatchError(
            f"table {table!r}: expected one row per patient; patient id(s) {capped(dup)} repeat (two "
            "cohorts sharing ids?). Restrict to one cohort (--cohort) or de-duplicate the table.")
    return wide


def first_values(tables: Mapping[str, pd.DataFrame], column: str) -> pd.Series | None:
    """``column`` per patient: the first non-missing value in table order (None: no table has it).

    Example:
        >>> a = pd.DataFrame({"center": ["A", None]}, index=["p1", "p2"])
        >>> b = pd.DataFrame({"center": ["B", "B"]}, index=["p2", "p3"])
        >>> first_values({"a": a, "b": b}, "center").tolist()
        ['A', 'B', 'B']
    """
    found = [indexed_by_patient(t, w)[column] for t, w in tables.items()
             if column in w.columns or column in getattr(w, "column_names", [])]
    if not found:
        return None
    return _first_over(found, _sorted_union([s.index for s in found])).rename(column)


def _sorted_union(indexes: Sequence[pd.Index]) -> pd.Index:
    """The sorted union of patient indexes (each without duplicates), named ``patient_id``.

    Sorted by pandas (Arrow or NumPy) rather than by Python over a set of ids:
    the same order for text ids (UTF-8 byte order is code-point order).
    """
    if not indexes or not sum(len(i) for i in indexes):
        return pd.Index([], name=C.COL_PATIENT)
    both = indexes[0].append(list(indexes[1:])).unique() if len(indexes) > 1 else indexes[0]
    return pd.Index(both.sort_values(), name=C.COL_PATIENT)


def _first_over(found: Sequence[pd.Series], index: pd.Index) -> pd.Series:
    """The first non-missing value of ``found`` (in order) per patient of ``index`` (object dtype).

    A patient missing everywhere keeps the last series' missing marker (None
    where it has the patient, NaN where it has not), as filling table by table did.
    """
    out = pd.Series(None, index=index, dtype=object)
    for s in found:
        s = s.astype(object).where(s.notna(), None)
        out = out.where(out.notna(), s.reindex(out.index))
    return out


def labels_from(tables: Mapping[str, Any], column: str = C.COL_LABEL) -> pd.Series:
    """The 0/1 label per patient from every table that has one (float; NaN: unlabelled).

    A patient's label is the first non-missing value in table order; two tables
    giving a patient different labels is an error.

    Raises:
        SchemaMismatchError: No table has labels, two tables disagree, or a label is not 0/1.

    Example:
        >>> a = pd.DataFrame({"patient_id": ["p1", "p2"], "label": [1, None]})
        >>> b = pd.DataFrame({"patient_id": ["p2", "p3"], "label": [0, None]})
        >>> labels_from({"radiomics": a, "clinical": b}).tolist()
        [1.0, 0.0, nan]
    """
    wides = {t: indexed_by_patient(t, w) for t, w in tables.items()}
    found = [(t, w[column]) for t, w in wides.items() if column in w.columns]
    if not found:
        raise SchemaMismatchError(
            f"labels: no table has a {column!r} column; expected the manifest's labels in the "
            f"feature tables (or a label column in the clinical table). Tables read: "
            f"{sorted(wides)}. Add labels to the manifest and re-run extraction, or pass a "
            "clinical table with a label column.")
    return _labels_over(found, _sorted_union([w.index for w in wides.values()])).rename(column)


def _labels_over(found: Sequence[tuple[str, pd.Series]], index: pd.Index) -> pd.Series:
    """:func:`labels_from`'s rule over ``(table, labels)`` pairs, per patient of ``index`` (float)."""
    label = pd.Series(np.nan, index=index, dtype=float)
    for table, s in found:
        s = pd.to_numeric(s, errors="coerce")
        both = label.index.intersection(s.index[s.notna().to_numpy()])
        known = both[label.loc[both].notna().to_numpy()]
        differ = (label.loc[known] != s.loc[known]).to_numpy(dtype=bool)
        if differ.any():
            clash = known[differ].tolist()
            raise SchemaMismatchError(f"labels: table {table!r} disagrees with another table for "
                                      f"{len(clash)} patient(s) ({capped(sorted(clash))}); expected one "
                                      "label per patient. Fix the manifest or clinical table.")
        label.loc[s.index] = label.loc[s.index].fillna(s)
    bad = sorted({str(v) for v in label.dropna().unique()} - {"0.0", "1.0"})
    if bad:
        raise SchemaMismatchError(f"labels: expected 0/1 values; found {capped(bad)}. Recode the "
                                  "outcome as 1 = ALNM, 0 = no ALNM.")
    return label


def centers_from(tables: Mapping[str, Any]) -> pd.Series:
    """The centre per patient (first non-missing value in table order), as str.

    Raises:
        SchemaMismatchError: No table has a ``center`` column.
    """
    centers = first_values({t: indexed_by_patient(t, w) for t, w in tables.items()}, C.COL_CENTER)
    if centers is None:
        raise SchemaMismatchError(f"centers: no table has a {C.COL_CENTER!r} column; got "
                                  f"{sorted(tables)}.")
    return centers.dropna().astype(str)


@dataclass(frozen=True)
class Cohort:
    """The per-patient data of some cohorts, for one reader (see :func:`read_cohort`).

    Attributes:
        tables: ``{table: wide frame}`` indexed by ``patient_id`` (str).
        longs: ``{table: rows as stored}``, restricted to the cohorts (the
            radiomics rows of every reader feed the ICC filter).
        versions: ``{table: VersionInfo}`` of the versions read.
        patients: Every patient of any table, sorted.
        labels: 0/1 per patient as float, NaN when unlabelled (None: no table has labels).
        centers, splits, cohort_names: Per patient, None where unknown (None: no
            table has the column).
    """

    tables: dict[str, pd.DataFrame]
    longs: dict[str, pd.DataFrame]
    versions: dict[str, Any] = field(default_factory=dict)
    patients: pd.Index = field(default_factory=lambda: pd.Index([], name=C.COL_PATIENT))
    labels: pd.Series | None = None
    centers: pd.Series | None = None
    splits: pd.Series | None = None
    cohort_names: pd.Series | None = None

    @property
    def pins(self) -> dict[str, str]:
        """``{table: version id}`` read: pass them back to :func:`read_cohort` to read the same data."""
        return {t: info.version for t, info in self.versions.items()}

    @property
    def reader_table(self) -> pd.DataFrame | None:
        """The radiomics rows of every reader (for the ICC filter), when read."""
        return self.longs.get(C.TABLE_RADIOMICS)

    def require_labels(self) -> pd.Series:
        """:attr:`labels`, or the error naming the fix when no table has labels.

        Raises:
            SchemaMismatchError: No table has a ``label`` column.
        """
        if self.labels is None:
            labels_from(self.tables)  # raises the message that names the fix
        assert self.labels is not None
        return self.labels

    def feature_set(self, spec: str | FeatureSetSpec, *, join: str = "strict") -> pd.DataFrame:
        """One plain set's feature table (see :func:`~alnm_ray.model.feature_sets.assemble_feature_set`)."""
        from alnm_ray.model.feature_sets import assemble_feature_set

        return assemble_feature_set(spec, self.tables, join=join)


def cohort_from(long_tables: LongTables, *, cohorts: Sequence[str] = (),
                reader: str = C.PRIMARY_READER) -> Cohort:
    """Widen tables already read to a :class:`Cohort` (rows of ``cohorts`` only, when given).

    Tables without a ``cohort`` column (clinical, imported) are kept whole.

    Raises:
        SchemaMismatchError: A table is not per patient or per case, or labels disagree / are not 0/1.
    """
    wanted = [str(c) for c in cohorts]
    longs = {}
    for table, df in long_tables.longs.items():
        if wanted and C.COL_COHORT in df.columns:
            df = df[df[C.COL_COHORT].astype(str).isin(wanted)]
        longs[table] = df
    wides = {t: wide_table(t, df, reader) for t, df in longs.items()}
    patients = _sorted_union([w.index for w in wides.values()])

    def first(column: str) -> pd.Series | None:
        found = [w[column] for w in wides.values() if column in w.columns]
        return _first_over(found, patients).rename(column) if found else None

    labelled = [(t, w[C.COL_LABEL]) for t, w in wides.items() if C.COL_LABEL in w.columns]
    return Cohort(tables=wides, longs=longs, versions=dict(long_tables.infos), patients=patients,
                  labels=_labels_over(labelled, patients).rename(C.COL_LABEL) if labelled else None,
                  centers=first(C.COL_CENTER), splits=first(C.COL_SPLIT), cohort_names=first(C.COL_COHORT))


def read_cohort(store: Any, spec: str | FeatureSetSpec | Sequence[str | FeatureSetSpec],
                pins: Mapping[str, str] | None = None, cohorts: Sequence[str] = (),
                reader: str = C.PRIMARY_READER) -> Cohort:
    """Read what one or more feature sets need, for some cohorts and one reader.

    Args:
        store: A :class:`~alnm_ray.store.FeatureStore` or its path/URI.
        spec: A feature set (name or :class:`FeatureSetSpec`) or several; every
            table any of them needs is read once (post-fusion: its members' tables).
        pins: ``{table: version id or unique prefix}``; other tables are read at
            their latest version.  The versions read are ``Cohort.pins``.
        cohorts: Keep these cohorts' rows (empty: every cohort).  A table without
            a ``cohort`` column (clinical, imported) keeps the rows of the patients
            the other tables hold for those cohorts.
        reader: Whose delineations feed the wide rows (``A`` by default).

    Returns:
        A :class:`Cohort`: wide tables, labels, centres, splits, cohort names and the versions read.

    Raises:
        StoreError: Unknown table or pinned version.
        ConfigError: A table has no rows of the requested cohorts.
        SchemaMismatchError: A table not per patient/case, disagreeing or non-0/1 labels.

    Example:
        >>> import tempfile
        >>> from alnm_ray.store import FeatureStore
        >>> store = FeatureStore(tempfile.mkdtemp())
        >>> _ = store.write_version("radiomics", pd.DataFrame({
        ...     "cohort": ["c1", "c1", "c2"], "center": ["A", "A", "B"], "patient_id": ["p1", "p2", "p3"],
        ...     "sequence": ["T2WI"] * 3, "reader": ["A"] * 3, "label": [1, 0, 1],
        ...     "original_firstorder_Mean": [1.0, 2.0, 3.0]}))
        >>> _ = store.write_version("clinical", pd.DataFrame({"patient_id": ["p1", "p2", "p3"],
        ...                                                   "age": [50.0, 61.0, 47.0]}))
        >>> cohort = read_cohort(store, "clinical+radiomics", cohorts=["c1"])
        >>> list(cohort.patients), cohort.labels.tolist(), cohort.centers.tolist()
        (['p1', 'p2'], [1.0, 0.0], ['A', 'A'])
        >>> sorted(cohort.pins) == ["clinical", "radiomics"]
        True
        >>> cohort.feature_set("clinical+radiomics").columns.tolist()
        ['age', 'T2WI__original_firstorder_Mean']
    """
    from alnm_ray.store import FeatureStore

    store = store if isinstance(store, FeatureStore) else FeatureStore(str(store))
    specs = [spec] if isinstance(spec, (str, FeatureSetSpec)) else list(spec)
    infos = _resolve(store, tables_needed(specs), pins)
    wanted = [str(c) for c in cohorts]
    if not wanted:
        return cohort_from(LongTables(infos, {t: read_frame(store, info) for t, info in infos.items()}),
                           reader=reader)
    masks = _cohort_rows(store, infos, wanted)
    longs = {t: read_frame(store, info, masks.get(t)) for t, info in infos.items()}
    return cohort_from(LongTables(infos, longs), reader=reader)


def _cohort_rows(store: Any, infos: Mapping[str, Any], wanted: list[str]) -> dict[str, np.ndarray]:
    """Per table, the rows (a boolean per stored row) :func:`read_cohort` keeps for ``wanted``.

    The rows of ``wanted`` cohorts; a table without a ``cohort`` column keeps
    the rows of the patients the tables with one hold for them.  Only the key,
    ``cohort`` and ``patient_id`` columns are read.

    Raises:
        ConfigError: A table has no rows of the requested cohorts.
    """
    heads = {}
    for table, info in infos.items():
        names = list(info.column_names)
        wanted_columns = [c for c in (*info.key, C.COL_COHORT, C.COL_PATIENT) if c in names]
        if names and all(k in names for k in info.key):  # read sorted as the whole table is
            heads[table] = store.read(table, info.version, columns=list(dict.fromkeys(wanted_columns))).to_pandas()
        else:
            heads[table] = store.read(table, info.version).to_pandas()
    masks = {t: h[C.COL_COHORT].astype(str).isin(wanted).to_numpy(dtype=bool)
             for t, h in heads.items() if C.COL_COHORT in h.columns}
    for table, mask in masks.items():
        if not mask.any():
            raise ConfigError(f"--cohort: table {table}@{infos[table].version[:12]} has no rows of "
                              f"cohort(s) {wanted}; check the names with `alnm-ray sql`.")
    if masks:  # a table without a cohort column holds every cohort's patients: keep the cohorts' ones
        ids = set().union(*[set(heads[t][C.COL_PATIENT][m].astype(str)) for t, m in masks.items()
                            if C.COL_PATIENT in heads[t].columns])
        for table, head in heads.items():
            if table not in masks and C.COL_PATIENT in head.columns:
                masks[table] = head[C.COL_PATIENT].astype(str).isin(ids).to_numpy(dtype=bool)
    return masks
