"""Stored feature tables read for scoring in bounded partitions: :class:`StoredTables`.

``score --features`` never gathers the cohort on the driver.  Each table's
Delta snapshot is scanned as a :mod:`pyarrow.dataset` with only the columns
the bundle needs (keys, label, centre, and the stored columns behind the
bundle's features) and only the cohorts scored.  Record batches are
hash-partitioned by ``patient_id`` into ``K`` Arrow IPC spill files per table
in a private temporary folder, so every row of a patient -- all sequences,
readers and tables, whichever data files an append or merge wrote them to --
lies in one partition.  Partitions are then widened, checked and scored one
at a time: the driver holds one partition, never the cohort.

The partition count comes from the rows to read and the columns read
(:data:`PARTITION_VALUES` values per partition, or
``$ALNM_RAY_SCORE_PARTITION_ROWS`` stored rows); one partition is read
straight into memory without spill files.

Hashing by patient alone (not cohort + patient) keeps a per-patient table
without a ``cohort`` column (clinical, imported) in the same partition as the
patient's image features.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from alnm_ray import constants as C
from alnm_ray.exceptions import ConfigError, SchemaAlignedWarning
from alnm_ray.model.cohort import LongTables
from alnm_ray.runtime import env_int

logger = logging.getLogger(__name__)

#: Values (rows x columns read) per partition: ~32 MB of float64, a few times that once widened in
#: pandas; small enough for any driver, large enough that per-partition overhead (~ms) stays negligible.
PARTITION_VALUES = 4_000_000
#: Environment variable fixing the stored rows per partition instead (tests force tiny partitions).
ENV_PARTITION_ROWS = "ALNM_RAY_SCORE_PARTITION_ROWS"
#: Columns read from every table that has them, besides the features.
KEY_COLUMNS: tuple[str, ...] = (C.COL_COHORT, C.COL_CENTER, C.COL_PATIENT, C.COL_SEQUENCE, C.COL_READER,
                                C.COL_LABEL)
#: Most partitions (open spill files per table).
MAX_PARTITIONS = 4096
#: Record batches decoded ahead of the spill (pyarrow's default, 16 batches of each of 4 files, holds
#: memory that grows with the number of files read).
SPILL_READAHEAD = 2


def partition_rows(n_columns: int) -> int:
    """Stored rows per partition: ``$ALNM_RAY_SCORE_PARTITION_ROWS``, else :data:`PARTITION_VALUES` / columns.

    Raises:
        ConfigError: The variable is not an integer >= 1.

    Example:
        >>> partition_rows(40)
        100000
    """
    return env_int(ENV_PARTITION_ROWS, max(1, PARTITION_VALUES // max(1, n_columns)), minimum=1,
                    meaning="stored rows per scoring partition")


def _is_number(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind))


def needed_columns(bundle: Any, table: str, schema: pa.Schema, *, align: bool) -> list[str]:
    """The stored columns of ``table`` scoring reads, in stored order.

    Keys (:data:`KEY_COLUMNS`), the harmonisation batch column, and every
    column behind one of the bundle's features: ``SEQ__name`` reads ``name``
    of a case table (one with a ``sequence`` column), a per-patient table's
    feature is read by its own name.  Stored columns that would be features
    of this table's parts but that the bundle does not know are read too
    unless ``align`` (so the schema check names them, as for a whole table);
    with ``align`` they are left unread, with one :class:`SchemaAlignedWarning`.

    Example:
        >>> from types import SimpleNamespace
        >>> b = SimpleNamespace(features=["T2WI__original_firstorder_Mean"], metadata={
        ...     "feature_set": "radiomics"})
        >>> s = pa.schema([("cohort", pa.string()), ("patient_id", pa.string()), ("sequence", pa.string()),
        ...                ("case_hash", pa.string()), ("original_firstorder_Mean", pa.float64())])
        >>> needed_columns(b, "radiomics", s, align=False)
        ['cohort', 'patient_id', 'sequence', 'original_firstorder_Mean']
    """
    from alnm_ray.model.feature_spec import FeatureSetSpec
    from alnm_ray.select.columns import feature_kind, is_meta
    from alnm_ray.store.wide import NON_FEATURE_COLUMNS

    names = list(schema.names)
    cased = C.COL_SEQUENCE in names
    wanted = {f.split(C.WIDE_SEP, 1)[1] if cased and C.WIDE_SEP in f else f for f in bundle.features}
    excluded = {f.split(C.WIDE_SEP, 1)[1] if cased and C.WIDE_SEP in f else f
                for f in bundle.metadata.get("excluded_features") or ()}
    harm = bundle.metadata.get("harmonization") or {}
    keys = set(KEY_COLUMNS) | ({str(harm["batch_column"])} if harm.get("batch_column") else set())
    kinds = {p.kind for p in FeatureSetSpec.parse(bundle.metadata["feature_set"]).parts if p.table == table}
    extra = []
    for name in names:
        if name in keys or name in wanted or name in excluded or name == C.COL_PATIENT:
            continue
        wide = f"X{C.WIDE_SEP}{name}" if cased else name
        if cased and (name in NON_FEATURE_COLUMNS or not _is_number(schema.field(name).type)):
            continue
        if is_meta(wide) or feature_kind(wide) not in kinds:
            continue
        extra.append(name)
    if extra and align:
        message = (f"table {table!r}: {len(extra)} stored feature column(s) the bundle was not trained on "
                   f"are not read ({', '.join(extra[:10])}{' …' if len(extra) > 10 else ''}).")
        warnings.warn(message, SchemaAlignedWarning, stacklevel=3)
        logger.warning(message)
    read = keys | wanted | ({*extra} if not align else set())
    return [n for n in names if n in read]


@dataclass
class StoredTables:
    """The versions a stored-features run reads, streamed in partitions.

    Args:
        store: The feature store.
        infos: ``{table: VersionInfo}`` of the versions read.
        columns: ``{table: stored columns read}`` (see :func:`needed_columns`).
        cohorts: Cohorts read (empty: all).

    Attributes:
        found_cohorts: Cohorts present in the tables read (after :meth:`scan`).
        rows: Stored rows to read, over every table (after :meth:`scan`).
    """

    store: Any
    infos: dict[str, Any]
    columns: dict[str, list[str]]
    cohorts: tuple[str, ...] = ()
    found_cohorts: list[str] = field(default_factory=list)
    rows: int = 0
    _datasets: dict[str, Any] = field(default_factory=dict, repr=False)

    def _dataset(self, table: str) -> Any:
        if table not in self._datasets:
            self._datasets[table] = self.store.dataset(self.infos[table])
        return self._datasets[table]

    def _filter(self, table: str) -> Any:
        import pyarrow.dataset as pads

        if self.cohorts and C.COL_COHORT in self.columns[table]:
            return pads.field(C.COL_COHORT).isin(list(self.cohorts))
        return None

    def scanner(self, table: str, columns: Sequence[str], **options: Any) -> Any:
        """A scanner of ``table`` reading ``columns`` of the scored cohorts only (``options``: pyarrow's)."""
        return self._dataset(table).scanner(columns=list(columns), filter=self._filter(table), **options)

    def scan(self) -> StoredTables:
        """Find the cohorts and count the rows to read (one pass over the ``cohort`` column only)."""
        import pyarrow.compute as pc

        found: set[str] = set()
        self.rows = 0
        for table, columns in self.columns.items():
            if C.COL_COHORT not in columns:
                self.rows += self.scanner(table, []).count_rows()
                continue
            whole = self._dataset(table).scanner(columns=[C.COL_COHORT])
            for batch in whole.to_batches():
                values = pc.unique(batch.column(0).cast(pa.string())).drop_null().to_pylist()
                found.update(str(v) for v in values)
            self.rows += self.scanner(table, []).count_rows()
        self.found_cohorts = sorted(found)
        return self

    def n_partitions(self) -> int:
        """Partitions for :attr:`rows` (at least 1, at most :data:`MAX_PARTITIONS`)."""
        width = max((len(c) for c in self.columns.values()), default=1)
        return max(1, min(MAX_PARTITIONS, math.ceil(self.rows / partition_rows(width))))

    def partitions(self, n: int | None = None) -> Iterator[LongTables]:
        """Yield the tables one partition at a time (every row of a patient in one partition).

        Args:
            n: Partitions (default :meth:`n_partitions`).  With 1 the projected
                tables are read straight into memory.
        """
        n = self.n_partitions() if n is None else int(n)
        if n <= 1:
            yield LongTables(dict(self.infos), {t: _to_pandas(self.scanner(t, c).to_table())
                                                for t, c in self.columns.items()})
            return
        with tempfile.TemporaryDirectory(prefix="alnm-ray-score-") as folder:  # mode 0700: private
            schemas = {t: self._spill(t, n, folder) for t in self.columns}
            for part in range(n):
                longs = {t: _to_pandas(_read_spill(os.path.join(folder, f"{t}-{part:05d}.arrow"), schemas[t]))
                         for t in self.columns}
                if any(len(df) for df in longs.values()):
                    yield LongTables(dict(self.infos), longs)

    def _spill(self, table: str, n: int, folder: str) -> pa.Schema:
        """Hash-partition ``table``'s projected rows by patient into ``n`` IPC files; their schema."""
        # batches are consumed one at a time: pyarrow's default read-ahead (16 batches of 4 files)
        # held ~600 MB of decoded batches at 2,000,000 patients, growing with the table's files
        scanner = self.scanner(table, self.columns[table], batch_readahead=SPILL_READAHEAD,
                               fragment_readahead=1)
        schema = scanner.projected_schema
        writers: dict[int, Any] = {}
        try:
            for batch in scanner.to_batches():
                if not batch.num_rows:
                    continue
                part = patient_partition(batch.column(C.COL_PATIENT), n)
                order = np.argsort(part, kind="stable")
                bounds = np.searchsorted(part[order], np.arange(n + 1))
                taken = batch.take(pa.array(order))
                for p in np.flatnonzero(np.diff(bounds)):
                    if p not in writers:
                        writers[p] = pa.ipc.new_file(os.path.join(folder, f"{table}-{p:05d}.arrow"), schema)
                    writers[p].write_batch(taken.slice(bounds[p], bounds[p + 1] - bounds[p]))
        finally:
            for writer in writers.values():
                writer.close()
        return schema


def patient_partition(patients: Any, n: int) -> np.ndarray:
    """Partition number (0..n-1) of each patient id: a fixed hash of its text, so every table agrees.

    Example:
        >>> patient_partition(pa.array(["p1", "p2", "p1"]), 4).tolist()[0] == \\
        ...     patient_partition(pa.array(["p1"]), 4).tolist()[0]
        True
    """
    text = pa.array(patients).cast(pa.string()).to_numpy(zero_copy_only=False).astype(object)
    return (pd.util.hash_array(text) % np.uint64(n)).astype(np.int64)


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """``table`` as pandas with text as Python objects: widening iterates ids and keys element by
    element, which is ~10x slower over Arrow-backed strings (measured 1.3 s per 800,000 rows)."""
    frame = table.to_pandas()
    text = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    return frame.astype({c: object for c in text}) if text else frame


def _read_spill(path: str, schema: pa.Schema) -> pa.Table:
    if not os.path.exists(path):  # no row of this table hashed to this partition
        return schema.empty_table()
    with pa.OSFile(path, "rb") as source:  # copied into memory: the file goes with the folder
        return pa.ipc.open_file(source).read_all()
