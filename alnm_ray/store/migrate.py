"""``alnm-ray features migrate``: a store of the old layout to Delta Lake tables.

The old layout (format 1) kept each version as a folder of Parquet files
plus a JSON entry in ``_catalog/``.  :func:`migrate` moves ``_catalog/`` and
``tables/`` into ``_legacy_v1/``, then writes every version, oldest first,
as one Delta commit of its table under its own id, with its params, lineage,
counts, parent, key, role, creation time and error rows.  Versions already
in the Delta log are skipped, so an interrupted migration is finished by
running it again; the old files are left in ``_legacy_v1/`` for the user
to delete once ``features verify`` is happy.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

import pyarrow.dataset as pads
import pyarrow.fs as pafs

from alnm_ray.exceptions import StoreError
from alnm_ray.store import _fs
from alnm_ray.store.delta_log import TABLES_DIR
from alnm_ray.store.feature_store import LEGACY_CATALOG_DIR, MARKER, STORE_FORMAT, FeatureStore
from alnm_ray.store.legacy import Catalog
from alnm_ray.store.versions import utc_now

logger = logging.getLogger(__name__)

#: Where the old layout's folders go, below the store root.
LEGACY_DIR = "_legacy_v1"


@dataclass
class MigrateResult:
    """What :func:`migrate` did: versions written per table, where the old files are."""

    tables: dict[str, int] = field(default_factory=dict)
    legacy: str = ""
    seconds: float = 0.0


def migrate(uri: str) -> MigrateResult:
    """Convert the old-layout store at ``uri`` in place (see the module docstring).

    Raises:
        StoreError: Not a store, a damaged old catalog entry or data folder
            (the message names it and says to run the old release's
            ``features repair`` first), or the store cannot be written.
    """
    t0 = time.perf_counter()
    store = FeatureStore(uri)
    loc, fs = store.location, store.location.fs
    legacy_root = loc.path(LEGACY_DIR)
    result = MigrateResult(legacy=loc.display(LEGACY_DIR))

    def kind(rel: str) -> pafs.FileType:
        return store._io(lambda: fs.get_file_info(loc.path(rel)).type, "read the store")

    if kind("") == pafs.FileType.NotFound:
        store.check_is_store()  # the "does not exist" message
    if kind(LEGACY_CATALOG_DIR) == pafs.FileType.Directory:
        if kind(LEGACY_DIR) == pafs.FileType.Directory and \
                kind(f"{LEGACY_DIR}/{LEGACY_CATALOG_DIR}") == pafs.FileType.Directory:
            raise StoreError(
                f"store {store.uri!r}: expected either the old catalog ({LEGACY_CATALOG_DIR}/) or a "
                f"migration in progress ({LEGACY_DIR}/{LEGACY_CATALOG_DIR}/); found both. Move one "
                "of them away (keep the one with the newer entries) and run migrate again.")
        for sub in (LEGACY_CATALOG_DIR, TABLES_DIR, "_tmp"):
            if kind(sub) == pafs.FileType.Directory:
                store._io(lambda s=sub: _fs.move_tree(fs, loc.path(s), f"{legacy_root}/{s}"),
                          "move the old layout into " + LEGACY_DIR)
        store._io(lambda: _fs.write_bytes(fs, loc.path(MARKER), json.dumps(
            {"alnm_ray_store": STORE_FORMAT, "format": "delta", "created": utc_now(),
             "migrated_from": 1}).encode("utf-8")), "write the store marker")
    if kind(f"{LEGACY_DIR}/{LEGACY_CATALOG_DIR}") != pafs.FileType.Directory:
        store.check_is_store()
        return result
    old = Catalog(_fs.StoreLocation(loc.display(LEGACY_DIR), fs, legacy_root, loc.is_local))
    entries, broken = store._io(old.scan, "read the old catalog")
    if broken:
        raise StoreError(broken[0].message(store.uri).replace(
            "Run `alnm-ray features verify", "Migrate moved it into " + LEGACY_DIR +
            "/; fix or remove that entry there, then run migrate again (`alnm-ray features verify"))
    for info in entries:  # oldest first: Delta versions keep the old order
        if store.log.get(info.table, info.version) is not None:
            continue
        paths = [f"{legacy_root}/{info.data_dir}/{f}" for f in info.files]
        data = store._io(lambda p=paths: pads.dataset(p, filesystem=fs, format="parquet").to_table(),
                         f"read {info.short} of the old layout")
        errors = None
        if info.errors_file:
            errors = store._io(lambda i=info: pads.dataset(
                f"{legacy_root}/{i.data_dir}/{i.errors_file}", filesystem=fs,
                format="parquet").to_table(), f"read the errors of {info.short}")
        store.write_version(info.table, data, version_id=info.version, params=info.params,
                            lineage=info.lineage, counts=info.counts, key=info.key, role=info.role,
                            errors=errors, created=info.created,
                            parent=info.parent if info.parent and store.log.get(
                                info.table, info.parent) is not None else None)
        result.tables[info.table] = result.tables.get(info.table, 0) + 1
        logger.info("migrated %s", info.short)
    result.seconds = time.perf_counter() - t0
    return result
