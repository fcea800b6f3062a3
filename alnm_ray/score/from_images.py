"""Replay a bundle's own preprocessing and extraction on new manifests.

The bundle keeps the ``params`` each training feature table recorded
(PyRadiomics parameters, preprocessing plan, embedding config and weights
checksum).  For every manifest this module runs the extraction and embedding
jobs with exactly those settings; both jobs are incremental, so cases already
in the store with the same content hash (same files, same settings, same
library versions) are reused rather than recomputed.  Tables that are not
extracted from images (clinical, imported) are read from the store as they are.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd

from alnm_ray import constants as C
from alnm_ray.exceptions import ConfigError
from alnm_ray.score.bundle import Bundle
from alnm_ray.score.job import Source
from alnm_ray.score.tables import LongTables, required_tables

logger = logging.getLogger(__name__)


def _table_params(bundle: Bundle, table: str) -> dict[str, Any]:
    config = bundle.configs.get(table)
    if not isinstance(config, dict) or not isinstance(config.get("params"), dict):
        raise ConfigError(
            f"bundle {bundle.bundle_id}: expected the {table!r} table's extraction settings in "
            f"config/{table}.yaml; none recorded. Score from stored features (--features) instead, or "
            "re-train the bundle from a store written by `alnm-ray extract` / `alnm-ray embed`.")
    return config["params"]


def _radiomics(bundle: Bundle, store: Any, manifest: pd.DataFrame, lineage: dict[str, Any], *,
               quiet: bool, debug: bool) -> tuple[Any, pd.DataFrame, dict[str, int]]:
    from alnm_ray.extract.job import run_extraction
    from alnm_ray.extract.params import load_params
    from alnm_ray.preprocess.config import PreprocessPlan

    params = _table_params(bundle, C.TABLE_RADIOMICS)
    if "pyradiomics_params" not in params or "preprocess" not in params:
        raise ConfigError(f"bundle {bundle.bundle_id}: config/radiomics.yaml lacks 'pyradiomics_params' or "
                          "'preprocess'; expected a table written by `alnm-ray extract`. Score with --features.")
    report = run_extraction(manifest, store, params=load_params(params["pyradiomics_params"]),
                            plan=PreprocessPlan.from_dict(params["preprocess"], source="bundle preprocess"),
                            lineage=lineage, quiet=quiet, debug=debug)
    return _report_parts(report)


def _deep(bundle: Bundle, store: Any, manifest: pd.DataFrame, lineage: dict[str, Any], *,
          weights: str | None, quiet: bool, debug: bool) -> tuple[Any, pd.DataFrame, dict[str, int]]:
    from alnm_ray.embed.config import EmbedConfig
    from alnm_ray.embed.job import run_embedding
    from alnm_ray.extract.hashing import sha256_file
    from alnm_ray.preprocess.config import PreprocessPlan

    params = _table_params(bundle, C.TABLE_DEEP)
    expected_sha = params.get("weights_sha256")
    config = EmbedConfig.from_dict(params["embed"])
    if expected_sha is None:
        config = config.with_(weights=None)  # random weights: the recorded seed reproduces them
    else:
        if weights is None:
            raise ConfigError(f"--weights: the bundle's deep features used weights with SHA-256 "
                              f"{expected_sha}; none given. Pass --weights PATH to that checkpoint.")
        found = sha256_file(weights)
        if found != expected_sha:
            raise ConfigError(f"--weights {weights}: expected the checkpoint with SHA-256 {expected_sha} "
                              f"(the bundle's); found {found}. Pass the checkpoint the bundle was trained with.")
        config = config.with_(weights=str(weights))
    summary = run_embedding(manifest, store, config,
                            plan=PreprocessPlan.from_dict(params["preprocess"], source="bundle preprocess"),
                            lineage=lineage, quiet=quiet, debug=debug)
    return _report_parts(summary)


def _report_parts(report: Any) -> tuple[Any, pd.DataFrame, dict[str, int]]:
    """``(VersionInfo, error rows, counts)`` of an extraction or embedding report."""
    errors = report.errors if report.errors is not None else pd.DataFrame(columns=list(C.ERROR_COLUMNS))
    errors = errors[[c for c in C.ERROR_COLUMNS if c in errors.columns]]
    return report.version, errors, {"computed": int(report.computed), "cached": int(report.cached),
                                    "failed": int(report.failed)}


def manifest_sources(bundle: Bundle, store: Any, manifests: Sequence[str], *, weights: str | None = None,
                     quiet: bool = True, debug: bool = False) -> tuple[list[Source], dict[str, dict]]:
    """Extract/embed each manifest with the bundle's settings; one :class:`Source` per manifest.

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

    frames = {m: read_manifest(m, check_files=False) for m in manifests}  # all validated before any work
    reader = str(bundle.metadata.get("reader") or C.PRIMARY_READER)
    sources, work = [], {}
    for path, df in frames.items():
        lineage = {"manifest": str(path), "manifest_sha256": sha256_file(path), "bundle_id": bundle.bundle_id,
                   "purpose": "score"}
        infos, longs, errors, counts = {}, {}, [], {}
        for table in required_tables(bundle.metadata["feature_set"]):
            if table == C.TABLE_RADIOMICS:
                info, errs, counts[table] = _radiomics(bundle, store, df, lineage, quiet=quiet, debug=debug)
            elif table == C.TABLE_DEEP:
                info, errs, counts[table] = _deep(bundle, store, df, lineage, weights=weights, quiet=quiet,
                                                  debug=debug)
            else:
                info, errs = store.resolve(table), pd.DataFrame(columns=list(C.ERROR_COLUMNS))
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
            else pd.DataFrame(columns=list(C.ERROR_COLUMNS))
        if len(upstream):
            upstream = upstream[upstream[C.COL_READER].astype(str) == reader]
        sources.append(Source(name=str(path), tables=LongTables(infos, longs), expected=expected,
                              upstream_errors=upstream.astype(str)))
        work[str(path)] = counts
        logger.info("%s: %s", path, counts)
    return sources, work
