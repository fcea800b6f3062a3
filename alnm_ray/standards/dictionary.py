"""The store's ``feature_dictionary`` table: what every feature column is.

One row per (feature table, sequence, column) of the latest version of every feature
table (radiomics, deep, clinical, imported tables): the sequence, image type / filter
and its parameters, feature class, PyRadiomics name, IBSI code and name (or "no IBSI
equivalent"), texture aggregation, discretisation and the IBSI conformance statement
under the extraction's own settings.  It is an ordinary store table, so ``alnm-ray sql
"SELECT … FROM feature_dictionary"`` sees it; a new version is written after each
extraction or embedding (nothing is written when nothing changed).

Example:
    >>> import pandas as pd, tempfile
    >>> from alnm_ray.store import FeatureStore
    >>> store = FeatureStore(tempfile.mkdtemp())
    >>> _ = store.write_version("radiomics", pd.DataFrame({"patient_id": ["p1"], "sequence": ["T2WI"],
    ...                                                     "original_firstorder_Mean": [1.0]}))
    >>> info = write_feature_dictionary(store)
    >>> store.read("feature_dictionary").to_pandas()["ibsi_code"].tolist()
    ['Q4LE']
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from alnm_ray import constants as C
from alnm_ray.standards.mapping import (NOT_IN_IBSI, conformance, filter_parameters, filters_ibsi2,
                                        ibsi_features, parse_column)

logger = logging.getLogger(__name__)

TABLE = "feature_dictionary"
NO_IBSI = "no IBSI equivalent"
#: Columns of the dictionary, in order.
COLUMNS: tuple[str, ...] = (
    "table", "version", "sequence", "column", "wide_column", "source", "image_type", "filter_parameters",
    "filter_ibsi2", "feature_class", "pyradiomics_name", "ibsi_code", "ibsi_name", "ibsi_family",
    "aggregation", "discretisation", "conformance", "notes")
KEY: tuple[str, ...] = ("table", "sequence", "column")


def _aggregation(cls: str, two_d: bool, settings: dict[str, Any]) -> str:
    distances = settings.get("distances", [1])
    dist = "" if list(distances) == [1] else f"; averaged over distances {list(distances)}"
    if cls in ("glcm", "glrlm"):
        if two_d:
            return "2D: per direction (4), averaged (IBSI BTW3)" + dist
        if settings.get("force2D"):
            return "2.5D: slices merged per direction, averaged over directions (IBSI JJUI)" + dist
        return "3D: per direction (13), averaged (IBSI ITBB)" + dist
    if cls in ("glszm", "gldm", "ngtdm"):
        if two_d:
            return "2D: one matrix (IBSI 8QNN)" + dist
        if settings.get("force2D"):
            return "2.5D: one matrix over all slices (IBSI 62GR)" + dist
        return "3D: one matrix (IBSI KOBO)" + dist
    if cls == "shape2D":
        return "2D shape (not an IBSI aggregation)"
    return "whole ROI (IBSI DHQ4)"


def _discretisation(cls: str, feature: str, settings: dict[str, Any]) -> str:
    if cls not in ("glcm", "glrlm", "glszm", "gldm", "ngtdm") and not (
            cls == "firstorder" and feature in ("Entropy", "Uniformity")):
        return "none (intensities as they are)"
    if settings.get("binCount"):
        return f"fixed bin number {settings['binCount']} (IBSI FBN, K15C)"
    return (f"fixed bin size {settings.get('binWidth', 25):g} (PyRadiomics variant of IBSI FBS Q3RU: edges at "
            "multiples of the width from 0)")


def _pyradiomics_row(parsed, two_d: bool, settings: dict[str, Any], image_settings: dict[str, Any]) -> dict:
    feat = ibsi_features()[(parsed.feature_class, parsed.feature)]
    eff = {**settings, **image_settings.get(parsed.image_type, {})}
    has_ibsi = feat.conformance != "none"
    filt = filters_ibsi2().get(parsed.image_type, {})
    return {
        "source": "pyradiomics", "image_type": parsed.image_type,
        "filter_parameters": filter_parameters(parsed, eff),
        "filter_ibsi2": "" if parsed.image_type == "Original" else
        f"{filt.get('ibsi2', 'none')}{' (' + filt['ibsi2_code'] + ')' if filt.get('ibsi2_code') else ''}",
        "feature_class": parsed.feature_class, "pyradiomics_name": parsed.feature,
        "ibsi_code": feat.ibsi_code if has_ibsi else NO_IBSI, "ibsi_name": feat.ibsi_name if has_ibsi else NO_IBSI,
        "ibsi_family": feat.ibsi_family if has_ibsi else "",
        "aggregation": _aggregation(parsed.feature_class, two_d, eff),
        "discretisation": _discretisation(parsed.feature_class, parsed.feature, eff),
        "conformance": conformance(parsed.feature_class, parsed.feature, image_type=parsed.image_type,
                                   settings=eff),
        "notes": feat.note,
    }


def _deep_row(params: dict[str, Any]) -> dict:
    embed = params.get("embed") or {}
    model = str(params.get("model") or "3-D ResNet-18")
    return {"source": "deep", "image_type": "deep embedding",
            "filter_parameters": f"grid {embed.get('grid')}; margin {embed.get('margin_mm')} mm; weights "
                                 f"{params.get('weights') or 'random (seeded)'}",
            "filter_ibsi2": "", "feature_class": "deep", "pyradiomics_name": "", "ibsi_code": NO_IBSI,
            "ibsi_name": NO_IBSI, "ibsi_family": "", "aggregation": "global average pool of the last block",
            "discretisation": "none", "conformance": NOT_IN_IBSI,
            "notes": f"extractor: {model.split(';')[0]}; layer: 512-channel global average pool (fc removed)"}


def _other_row(table: str) -> dict:
    kind = "clinical" if table == C.TABLE_CLINICAL else "imported"
    return {"source": kind, "image_type": "", "filter_parameters": "", "filter_ibsi2": "", "feature_class": kind,
            "pyradiomics_name": "", "ibsi_code": NO_IBSI, "ibsi_name": NO_IBSI, "ibsi_family": "",
            "aggregation": "", "discretisation": "", "conformance": NOT_IN_IBSI,
            "notes": "clinical variable" if kind == "clinical" else "column of an imported table"}


def _feature_columns(frame: pd.DataFrame) -> list[str]:
    from alnm_ray.store.wide import NON_FEATURE_COLUMNS

    return [c for c in frame.columns if c not in NON_FEATURE_COLUMNS and c != C.COL_PATIENT
            and not str(c).startswith("_")]


def table_dictionary(store: Any, table: str, version: str | None = None) -> pd.DataFrame:
    """Dictionary rows of one table version (the latest by default).

    Args:
        store: A :class:`~alnm_ray.store.FeatureStore`.
        table: The feature table.
        version: Version id or prefix; ``None`` for the latest.

    Returns:
        Rows with :data:`COLUMNS`; PyRadiomics and deep columns get one row per sequence
        that has values in them, other columns one row with an empty sequence.
    """
    info = store.resolve(table if version is None else f"{table}@{version}")
    frame = store.read(table, version=info.version).to_pandas()
    params = info.params or {}
    settings = dict((params.get("pyradiomics_params") or {}).get("setting") or {})
    image_settings = {k: dict(v or {}) for k, v in
                      ((params.get("pyradiomics_params") or {}).get("imageType") or {}).items()}
    features = _feature_columns(frame)
    if C.COL_SEQUENCE in frame.columns:  # case tables: numeric feature columns (not device/node labels)
        features = [c for c in features if pd.api.types.is_numeric_dtype(frame[c])
                    and not pd.api.types.is_bool_dtype(frame[c])]
    rows: list[dict[str, Any]] = []
    if C.COL_SEQUENCE in frame.columns and len(frame):
        present = frame[features].notna().groupby(frame[C.COL_SEQUENCE].astype(str)).any()
        shape2d = [c for c in features if "_shape2D_" in str(c)]
        sequences = list(present.index)
    else:
        present, shape2d, sequences = None, [], [""]
    for sequence in sequences:
        two_d = sequence in C.TWO_D_SEQUENCES or bool(shape2d and present is not None
                                                       and present.loc[sequence, shape2d].any())
        for column in features:
            if present is not None and not present.loc[sequence, column]:
                continue
            parsed = parse_column(str(column))
            if parsed.source == "pyradiomics":
                body = _pyradiomics_row(parsed, two_d, settings, image_settings)
            elif parsed.source == "deep":
                body = _deep_row(params)
            else:
                body = _other_row(table)
            rows.append({"table": table, "version": info.version, "sequence": sequence, "column": str(column),
                         "wide_column": f"{sequence}{C.WIDE_SEP}{column}" if sequence else str(column), **body})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def feature_tables(store: Any) -> list[str]:
    """Store tables that hold features (role ``feature``), without the IBSI phantom's tables."""
    return [t for t in store.feature_tables() if not t.startswith("ibsi_phantom")]


def build_feature_dictionary(store: Any, tables: list[str] | None = None) -> pd.DataFrame:
    """Dictionary rows of the latest version of every feature table (or of ``tables``)."""
    parts = [table_dictionary(store, t) for t in (tables if tables is not None else feature_tables(store))]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=list(COLUMNS))
    return pd.concat(parts, ignore_index=True).sort_values(list(KEY), kind="stable").reset_index(drop=True)


def write_feature_dictionary(store: Any) -> Any:
    """Write a new ``feature_dictionary`` version covering every feature table.

    Called by ``alnm-ray extract``, ``embed`` and ``tune`` after they write; the version
    id is a hash of the content, so nothing is written when nothing changed.

    Args:
        store: A :class:`~alnm_ray.store.FeatureStore` or its URI.

    Returns:
        The :class:`~alnm_ray.store.VersionInfo`, or ``None`` when the store has no feature table.
    """
    from alnm_ray.store import FeatureStore
    from alnm_ray.store.versions import ROLE_DICTIONARY

    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    tables = feature_tables(store)
    inputs = {t: store.latest(t).version for t in tables}
    current = store.latest(TABLE) if TABLE in store.tables() else None
    from alnm_ray._version import __version__

    # the same table versions, written by this release (same mapping): nothing to read again
    if current is not None and current.lineage.get("inputs") == inputs and current.package_version == __version__:
        return current
    frame = build_feature_dictionary(store, tables)
    if frame.empty:
        return None
    info = store.write_version(TABLE, frame.astype("string"), key=KEY, lineage={"inputs": inputs},
                               params={"kind": "alnm-ray feature dictionary", "mapping": "pyradiomics_ibsi.csv"},
                               role=ROLE_DICTIONARY)
    logger.info("feature dictionary: %d rows over %d table(s)", len(frame), len(tables))
    return info


def dictionary_for_columns(store: Any, columns: list[str]) -> pd.DataFrame:
    """Dictionary rows of the given feature columns (e.g. a bundle's features).

    Args:
        store: A :class:`~alnm_ray.store.FeatureStore` (or URI) holding ``feature_dictionary``.
        columns: Wide (``T2WI__original_glcm_Idm``) or long column names.

    Returns:
        The matching rows (the latest dictionary), in the order of ``columns``; a column
        the dictionary lacks gets a row from the mapping alone (``table`` empty).
    """
    from alnm_ray.store import FeatureStore

    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    known = store.read(TABLE).to_pandas() if store.latest(TABLE) is not None else pd.DataFrame(columns=list(COLUMNS))
    by_wide = known.drop_duplicates("wide_column").set_index("wide_column")
    rows = []
    for column in map(str, columns):
        if column in by_wide.index:
            rows.append(by_wide.loc[column].to_dict() | {"wide_column": column})
            continue
        parsed = parse_column(column)
        body = _pyradiomics_row(parsed, False, {}, {}) if parsed.source == "pyradiomics" else \
            _deep_row({}) if parsed.source == "deep" else _other_row("")
        body.update(aggregation="", discretisation="")
        rows.append({"table": "", "version": "", "sequence": parsed.sequence, "column": parsed.name,
                     "wide_column": column, **body})
    return pd.DataFrame(rows, columns=list(COLUMNS))
