"""Per-case checkpoints: a killed driver's finished cases are not computed again.

Each Ray actor writes a case's feature record as soon as it has one, to
``STORE/_cache/<table>/<case hash>.parquet`` (a temporary name renamed into
place on local/NFS stores, one PUT on object stores: a reader never sees half
a file).  A later run of the same job looks its pending case hashes up there
first and only computes the others; once the version holding those rows is
committed, their checkpoint files are deleted (the store has the rows now).

The case hash covers the image and mask bytes, the params, the preprocessing
and the library versions, so a checkpoint can only stand in for exactly the
same work.  Failed cases are not checkpointed: a transient failure (a worker
out of memory, a network mount hiccup) deserves a retry on the next run.
"""

from __future__ import annotations

import logging
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
        fs = self.location.fs
        final = self._path(case_hash)
        try:
            fs.create_dir(self.folder, recursive=True)
            if self.location.is_local:
                tmp = f"{self.folder}/.{case_hash}.{uuid.uuid4().hex}.tmp"
                pq.write_table(record, tmp, filesystem=fs)
                fs.move(tmp, final)  # rename(2): the file appears complete or not at all
            else:
                pq.write_table(record, final, filesystem=fs)  # one PUT
        except OSError as err:  # a full disk must not fail the case: the version write will say so
            logger.debug("could not checkpoint case %s: %s", case_hash, err)

    def load(self, case_hashes: Iterable[str]) -> list[dict[str, Any]]:
        """Records of the cases among ``case_hashes`` that have a checkpoint (unreadable ones skipped)."""
        fs = self.location.fs
        wanted = set(case_hashes)
        if not wanted or fs.get_file_info(self.folder).type != pafs.FileType.Directory:
            return []
        present = [i for i in fs.get_file_info(pafs.FileSelector(self.folder, allow_not_found=True))
                   if i.base_name.endswith(_SUFFIX) and i.base_name[: -len(_SUFFIX)] in wanted]
        records = []
        for info in present:
            try:
                rows = pq.read_table(info.path, filesystem=fs).to_pylist()
            except (OSError, pa.ArrowInvalid) as err:
                logger.debug("ignoring unreadable checkpoint %s: %s", info.path, err)
                continue
            if len(rows) == 1 and rows[0].get("case_hash") == info.base_name[: -len(_SUFFIX)]:
                records.append(rows[0])
        return records

    def discard(self, case_hashes: Iterable[str]) -> None:
        """Delete the checkpoints of ``case_hashes`` (their rows are in a committed version)."""
        fs = self.location.fs
        for case_hash in set(case_hashes):
            try:
                fs.delete_file(self._path(case_hash))
            except FileNotFoundError:
                continue
            except OSError as err:
                logger.debug("could not remove checkpoint %s: %s", case_hash, err)
