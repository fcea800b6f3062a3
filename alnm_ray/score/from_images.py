"""How each feature table is re-computed from images with a bundle's own settings.

The bundle keeps the ``params`` each training feature table recorded
(PyRadiomics parameters, preprocessing plan, embedding config and weights
checksum).  :data:`RECOMPUTE_FROM_IMAGES` maps a table to the job that makes it
from a manifest with exactly those settings (``radiomics``: extraction,
``deep``: embedding); both jobs are incremental, so cases already in the store
with the same content hash (same files, same settings, same library versions)
are reused rather than recomputed.  Tables not in the registry (clinical,
imported) are read from the store as they are
(:func:`alnm_ray.score.sources.manifest_sources`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import pandas as pd

from alnm_ray import constants as C
from alnm_ray.exceptions import ConfigError
from alnm_ray.score.bundle import Bundle

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
               weights: str | None = None, quiet: bool, debug: bool) -> tuple[Any, pd.DataFrame, dict[str, int]]:
    """Extraction with the bundle's PyRadiomics params and preprocessing plan (``weights`` unused)."""
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
    """Embedding with the bundle's embed config and plan; ``weights`` must match its checksum."""
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


#: How a table is made again from a manifest: ``(bundle, store, manifest, lineage, *,
#: weights, quiet, debug) -> (VersionInfo, error rows, computed/cached/failed counts)``.
Recompute = Callable[..., tuple[Any, pd.DataFrame, dict[str, int]]]
#: Table -> how it is re-computed from images with the bundle's settings.
RECOMPUTE_FROM_IMAGES: Mapping[str, Recompute] = MappingProxyType({
    C.TABLE_RADIOMICS: _radiomics,
    C.TABLE_DEEP: _deep,
})
