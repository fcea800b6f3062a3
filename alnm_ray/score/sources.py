"""What a scoring run scores: :class:`Source`, from stored tables or from new images.

* :func:`feature_sources` -- ``TABLE[@VERSION]`` references to the store;
* :func:`manifest_sources` -- manifests whose images are re-processed with the
  bundle's own settings, table by table, through
  :data:`alnm_ray.score.from_images.RECOMPUTE_FROM_IMAGES` (tables no job
  re-computes -- clinical, imported -- are read from the store as they are).

Both give the scoring job (:mod:`alnm_ray.score.job`) the same thing: the
table versions read and, for manifests, the patients that must come out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from alnm_ray import constants as C
from alnm_ray.exceptions import ConfigError
from alnm_ray.model.cohort import LongTables, read_tables
from alnm_ray.model.feature_spec import FeatureSetSpec
from alnm_ray.score.bundle import Bundle
from alnm_ray.score.stream import StoredTables, needed_columns

logger = logging.getLogger(__name__)


def _no_errors() -> pd.DataFrame:
    return pd.DataFrame(columns=list(C.ERROR_COLUMNS))


@dataclass
class Source:
    """One input of a scoring run: table versions plus the patients expected from them.

    Attributes:
        name: For messages (``"radiomics@ab12cd34"`` or a manifest path).
        tables: The versions read.
        expected: ``cohort, center, patient_id`` rows that must come out (None:
            the patients found in the tables).
        upstream_errors: Error rows of the extraction/embedding for these patients.
    """

    name: str
    tables: LongTables
    expected: pd.DataFrame | None = None
    upstream_errors: pd.DataFrame = field(default_factory=_no_errors)
    stored: StoredTables | None = None

    def cohort_names(self) -> list[str]:
        """Cohorts to score: the manifest's, else those found in the tables (sorted)."""
        if self.expected is not None:
            return sorted(self.expected[C.COL_COHORT].astype(str).unique())
        if self.stored is not None:
            return list(self.stored.found_cohorts)
        return self.tables.cohorts()

    def partitions(self) -> Iterator[LongTables]:
        """The tables one partition at a time (stored: streamed; else all at once)."""
        if self.stored is None:
            yield self.tables
        else:
            yield from self.stored.partitions()

    @property
    def rows(self) -> int:
        """Stored rows this source scores (every table, the cohorts read)."""
        if self.stored is not None:
            return self.stored.rows
        return int(sum(len(df) for df in self.tables.longs.values()))


def bundle_tables(bundle: Bundle) -> tuple[str, ...]:
    """The store tables the bundle's feature set reads."""
    return FeatureSetSpec.parse(bundle.metadata["feature_set"]).tables


def feature_sources(store: Any, bundle: Bundle, refs: Sequence[str], *, stream: bool = False,
                    cohorts: Sequence[str] = (), align: bool = False) -> list[Source]:
    """One source from ``TABLE[@VERSION]`` references (the bundle's other tables: latest versions).

    Args:
        store: The feature store.
        bundle: The loaded bundle.
        refs: ``TABLE[@VERSION]`` references.
        stream: Do not read the tables: the source streams them in partitions
            (:class:`~alnm_ray.score.stream.StoredTables`, only the columns
            the bundle needs, only ``cohorts``); else they are read whole.
        cohorts: With ``stream``, the cohorts read (empty: all).
        align: With ``stream``, leave unread the stored features the bundle does not know.

    Raises:
        ConfigError: A reference names a table the bundle does not use.
        StoreError: Unknown table or version.
    """
    from alnm_ray.store.versions import split_ref

    needed = bundle_tables(bundle)
    pins: dict[str, str] = {}
    for ref in refs:
        table, version = split_ref(ref)
        if table not in needed:
            raise ConfigError(f"--features {ref}: expected one of the tables the bundle uses "
                              f"({', '.join(needed)}); got {table!r}. Name one of those tables.")
        pins[table] = version or ""
    for table in needed:
        if table not in pins:
            logger.info("--features does not name %r: using its latest version", table)
    if stream:
        infos = {t: store.resolve(f"{t}@{pins[t]}" if pins.get(t) else t) for t in needed}
        datasets = {t: store.dataset(i) for t, i in infos.items()}  # checked: files present, of their size
        columns = {t: needed_columns(bundle, t, d.schema, align=align) for t, d in datasets.items()}
        stored = StoredTables(store, infos, columns, cohorts=tuple(str(c) for c in cohorts),
                              _datasets=datasets).scan()
        tables = LongTables(infos, {})
    else:
        stored, tables = None, read_tables(store, needed, pins=pins)
    name = ", ".join(i.short if hasattr(i, "short") else f"{t}@{i.version[:12]}" for t, i in tables.infos.items())
    upstream = [store.read_errors(t, i.version).to_pandas() for t, i in tables.infos.items()]
    upstream = [e[list(C.ERROR_COLUMNS)].astype(str) for e in upstream if len(e)]
    return [Source(name=name, tables=tables, stored=stored,
                   upstream_errors=pd.concat(upstream, ignore_index=True) if upstream else _no_errors())]


def manifest_sources(bundle: Bundle, store: Any, manifests: Sequence[str], *, weights: str | None = None,
                     quiet: bool = True, debug: bool = False) -> tuple[list[Source], dict[str, dict]]:
    """Re-compute each manifest's tables with the bundle's settings; one :class:`Source` per manifest.

    Args:
        bundle: The loaded bundle.
        store: The feature store (new versions are written to it).
        manifests: Manifest paths (CSV/Parquet), validated before any work.
        weights: Deep-model checkpoint (must match the bundle's recorded SHA-256).
        quiet: No progress bars.
        debug: Re-raise a case's original error.

    Returns:
        ``(sources, work)`` where ``work[manifest][table]`` counts computed /
        cached / failed cases.

    Raises:
        ManifestError: A manifest fails validation (checked for all manifests first).
        ConfigError: The bundle lacks extraction settings, or the weights do not match.
    """
    from alnm_ray.extract.hashing import sha256_file
    from alnm_ray.manifest import read_manifest
    from alnm_ray.score.from_images import RECOMPUTE_FROM_IMAGES

    frames = {m: read_manifest(m, check_files=False) for m in manifests}  # all validated before any work
    reader = str(bundle.metadata.get("reader") or C.PRIMARY_READER)
    sources, work = [], {}
    for path, df in frames.items():
        lineage = {"manifest": str(path), "manifest_sha256": sha256_file(path), "bundle_id": bundle.bundle_id,
                   "purpose": "score"}
        infos, longs, errors, counts = {}, {}, [], {}
        for table in bundle_tables(bundle):
            recompute = RECOMPUTE_FROM_IMAGES.get(table)
            if recompute is None:  # not made from images (clinical, imported): as stored
                info, errs = store.resolve(table), _no_errors()
            else:
                info, errs, counts[table] = recompute(bundle, store, df, lineage, weights=weights, quiet=quiet,
                                                      debug=debug)
            infos[table] = info
            longs[table] = store.read(table, info.version).to_pandas()
            errors.append(errs)
        rows = df[df[C.COL_READER].astype(str) == reader]
        if rows.empty:
            raise ConfigError(f"manifest {path}: expected rows for reader {reader!r} (the bundle's reader); "
                              "found none. Add the primary reader's masks.")
        expected = rows[[C.COL_COHORT, C.COL_CENTER, C.COL_PATIENT]].astype(str).drop_duplicates(
            [C.COL_COHORT, C.COL_PATIENT])
        upstream = pd.concat([e for e in errors if len(e)], ignore_index=True) if any(len(e) for e in errors) \
            else _no_errors()
        if len(upstream):
            upstream = upstream[upstream[C.COL_READER].astype(str) == reader]
        sources.append(Source(name=str(path), tables=LongTables(infos, longs), expected=expected,
                              upstream_errors=upstream.astype(str)))
        work[str(path)] = counts
        logger.info("%s: %s", path, counts)
    return sources, work
