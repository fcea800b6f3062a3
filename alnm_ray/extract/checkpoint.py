"""Case checkpoints: a killed driver's finished cases are not computed again.

Finished cases are written in batches, one Parquet file per batch, to
``STORE/_cache/<table>/batch-<uuid>.parquet`` (a one-case batch is named
``<case hash>.parquet``), under a temporary name renamed into place on
local/NFS stores and as one PUT on object stores: a reader never sees half a
file.  A Ray actor writes one file per block of cases it ran; the local path's
driver one per chunk of cases a worker returns.  A later run of the same job looks
its pending case hashes up there first and only computes the others; once the
version holding those rows is committed, the files whose cases it holds are
deleted (the store has the rows now), so a finished run leaves no checkpoint.

The case hash covers the image and mask bytes, the params, the preprocessing
and the library versions, so a checkpoint can only stand in for exactly the
same work.  Failed cases are not checkpointed: a transient failure (a worker
out of memory, a network mount hiccup) deserves a retry on the next run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

#: Folder below the store root holding the checkpoints (ignored by readers of the catalog).
CACHE_DIR = "_cache"
_SUFFIX = ".parquet"
#: Name prefix of a file holding several cases.
_BATCH_PREFIX = "batch-"


@dataclass(frozen=True)
class CaseCheckpoint:
    """Where one table's case checkpoints live; picklable, so Ray actors get a copy.

    Args:
        location: The store's :class:`~alnm_ray.store._fs.StoreLocation`.
        table: The table being written.
    """

    location: Any
    table: str

    @classmethod
    def for_store(cls, store: Any, table: str) -> "CaseCheckpoint":
        """The checkpoint folder of ``table`` in ``store`` (a :class:`~alnm_ray.store.FeatureStore`)."""
        return cls(store.location, table)

    @property
    def folder(self) -> str:
        return self.location.path(CACHE_DIR, self.table)

    def _path(self, case_hash: str) -> str:
        return f"{self.folder}/{case_hash}{_SUFFIX}"

    def save(self, record: pa.Table, case_hash: str) -> None:
        """Write one case's record (a one-row table) atomically; errors only logged (it is a cache)."""
        self._write(record, f"{case_hash}{_SUFFIX}", case_hash)

    def save_batch(self, records: pa.Table) -> None:
        """Write several cases' records (one row each, with ``case_hash``) as one file; errors only logged."""
        if records.num_rows == 0:
            return
        if records.num_rows == 1:
            self.save(records, str(records.column("case_hash")[0].as_py()))
            return
        self._write(records, f"{_BATCH_PREFIX}{uuid.uuid4().hex}{_SUFFIX}", f"{records.num_rows} cases")

    def _write(self, table: pa.Table, name: str, what: str) -> None:
        fs = self.location.fs
        final = f"{self.folder}/{name}"
        try:
            fs.create_dir(self.folder, recursive=True)
            if self.location.is_local:
                tmp = f"{self.folder}/.{name}.{uuid.uuid4().hex}.tmp"
                pq.write_table(table, tmp, filesystem=fs)
                fs.move(tmp, final)  # rename(2): the file appears complete or not at all
            else:
                pq.write_table(table, final, filesystem=fs)  # one PUT
        except OSError as err:  # a full disk must not fail the case: the version write will say so
            logger.debug("could not checkpoint %s: %s", what, err)

    def _files(self) -> list[Any]:
        fs = self.location.fs
        if fs.get_file_info(self.folder).type != pafs.FileType.Directory:
            return []
        return [i for i in fs.get_file_info(pafs.FileSelector(self.folder, allow_not_found=True))
                if i.base_name.endswith(_SUFFIX) and not i.base_name.startswith(".")]

    def load(self, case_hashes: Iterable[str]) -> list[dict[str, Any]]:
        """Records of the cases among ``case_hashes`` that have a checkpoint (unreadable ones skipped)."""
        fs = self.location.fs
        wanted = set(case_hashes)
        if not wanted:
            return []
        found: dict[str, dict[str, Any]] = {}
        for info in self._files():
            stem = info.base_name[: -len(_SUFFIX)]
            batch = stem.startswith(_BATCH_PREFIX)
            if not batch and stem not in wanted:
                continue
            try:
                rows = pq.read_table(info.path, filesystem=fs).to_pylist()
            except (OSError, pa.ArrowInvalid) as err:
                logger.debug("ignoring unreadable checkpoint %s: %s", info.path, err)
                continue
            if not batch:  # a one-case file must hold exactly the case it is named after
                rows = rows if len(rows) == 1 and rows[0].get("case_hash") == stem else []
            for row in rows:
                if row.get("case_hash") in wanted:
                    found.setdefault(row["case_hash"], row)
        return list(found.values())

    def discard(self, case_hashes: Iterable[str]) -> None:
        """Delete the checkpoints of ``case_hashes`` (their rows are in a committed version).

        A batch file goes once every case it holds is among ``case_hashes``;
        on a local store the emptied folder goes too.
        """
        fs = self.location.fs
        done = set(case_hashes)
        files = self._files()
        left = len(files)
        for info in files:
            stem = info.base_name[: -len(_SUFFIX)]
            if stem.startswith(_BATCH_PREFIX):
                try:
                    held = set(pq.read_table(info.path, columns=["case_hash"], filesystem=fs)
                               .column("case_hash").to_pylist())
                except (OSError, pa.ArrowInvalid, KeyError) as err:
                    logger.debug("leaving unreadable checkpoint %s: %s", info.path, err)
                    continue
                if not held <= done:
                    continue
            elif stem not in done:
                continue
            try:
                fs.delete_file(info.path)
                left -= 1
            except FileNotFoundError:
                left -= 1
            except OSError as err:
                logger.debug("could not remove checkpoint %s: %s", info.path, err)
        if files and not left and self.location.is_local:
            with contextlib.suppress(OSError):  # not empty (another run's files): it stays
                os.rmdir(self.folder)
