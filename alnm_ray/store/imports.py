"""Registering a feature table computed elsewhere as a versioned store table.

An imported table is per patient: ``patient_id`` (renamed from ``--key``),
optional ``center`` and ``label`` (renamed from ``--center``/``--label``),
``cohort``/``split`` when the file has them, then one float64 column per
feature.  Its version id is the hash of the file's bytes and the import
options, so importing the same file twice is a no-op, and its catalog entry
records the source path and checksum as lineage, like any extracted table.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from alnm_ray._validation import did_you_mean
from alnm_ray._version import __version__
from alnm_ray.constants import COL_CENTER, COL_COHORT, COL_LABEL, COL_PATIENT, COL_SPLIT
from alnm_ray.exceptions import ConfigError, SchemaMismatchError
from alnm_ray.manifest.ids import ID_EXPECTED, id_problem
from alnm_ray.store.feature_store import FeatureStore
from alnm_ray.store.versions import ROLE_FEATURE, VersionInfo, check_role, check_table_name, content_hash

logger = logging.getLogger(__name__)

#: File suffixes read as CSV and as Parquet.
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
#: String columns kept as metadata rather than rejected as non-numeric features.
META_COLUMNS = (COL_COHORT, COL_SPLIT)
_SHOW = 5


@dataclass(frozen=True)
class ImportResult:
    """Outcome of :func:`import_table`.

    Attributes:
        info: The table version holding the import.
        new: False when the same file and options were imported before.
        features: Number of feature columns.
    """

    info: VersionInfo
    new: bool
    features: int


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read(path: str, string_columns: list[str]) -> tuple[pa.Table, str]:
    from alnm_ray.manifest.paths import file_kind

    lower = path.lower()
    try:
        kind = file_kind(path)  # os.stat only: a FIFO would block the reader forever
    except FileNotFoundError as err:
        raise ConfigError(f"import: file {path!r} not found; check the path.") from err
    if kind is not None:
        raise ConfigError(f"import: {path!r}: expected a regular file (a CSV or Parquet table); found {kind}. "
                          "Pass the path of the table file itself.")
    try:
        if lower.endswith(CSV_SUFFIXES):
            import pyarrow.csv as pacsv

            parse = pacsv.ParseOptions(delimiter="\t" if lower.endswith(".tsv") else ",")
            convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in string_columns})
            return pacsv.read_csv(path, parse_options=parse, convert_options=convert), "csv"
        if lower.endswith(PARQUET_SUFFIXES):
            import pyarrow.parquet as pq

            return pq.read_table(path), "parquet"
    except (pa.ArrowInvalid, OSError) as err:
        if isinstance(err, FileNotFoundError) or not os.path.exists(path):
            raise ConfigError(f"import: file {path!r} not found; check the path.") from err
        raise SchemaMismatchError(
            f"import: could not read {path!r} as {'CSV' if lower.endswith(CSV_SUFFIXES) else 'Parquet'}"
            f" ({err}). Check the file is a valid table with a header row."
        ) from err
    raise ConfigError(
        f"import: file {path!r}: expected a .csv/.tsv/.csv.gz or .parquet file; got "
        f"{os.path.splitext(path)[1] or 'no suffix'!r}. Convert it to CSV or Parquet first."
    )


def _label_problem(column: pa.ChunkedArray, name: str) -> str | None:
    if column.null_count:
        return (f"label column {name!r}: expected 0/1 in every row; found {column.null_count} "
                "empty value(s). Fill them, or import without --label for an unlabelled cohort.")
    if pa.types.is_boolean(column.type):
        return None
    values = pc.unique(column).to_pylist()
    bad = [v for v in values if not (isinstance(v, (int, float)) and not isinstance(v, bool)
                                     and v in (0, 1))]
    if bad:
        shown = ", ".join(repr(v) for v in sorted(bad, key=str)[:_SHOW])
        return (f"label column {name!r}: expected only 0 and 1 (1 = ALNM positive); found {shown}. "
                "Recode the label as 0/1 before importing.")
    return None


def validate_import(table: pa.Table, *, key: str, label: str | None, center: str | None
                    ) -> list[str]:
    """Problems that stop ``table`` from being imported (empty list when fine)."""
    names = table.schema.names
    problems = []
    for option, col in (("--key", key), ("--label", label), ("--center", center)):
        if col is not None and col not in names:
            problems.append(f"{option} column {col!r} not found; the file has columns "
                            f"{', '.join(names[:8])}{'…' if len(names) > 8 else ''}."
                            f"{did_you_mean(col, names)}")
    renames = {key: COL_PATIENT, label: COL_LABEL, center: COL_CENTER}
    for source, target in renames.items():
        if source is not None and source != target and target in names:
            problems.append(f"column {target!r} already exists and would clash with the renamed "
                            f"{source!r}; rename or drop one of them in the file.")
    if key in names:
        ids = pc.cast(table.column(key), pa.string())
        if ids.null_count:
            problems.append(f"key column {key!r}: expected an id in every row; found "
                            f"{ids.null_count} empty value(s).")
        bad_ids = [(i + 1, problem) for i, value in enumerate(ids.to_pylist()) if value is not None
                   and (problem := id_problem(value)) is not None]
        if bad_ids:
            shown = "; ".join(f"row {r}: {p}" for r, p in bad_ids[:_SHOW])
            problems.append(f"key column {key!r}: expected {ID_EXPECTED}; found {len(bad_ids)} invalid id(s): "
                            f"{shown}{' …' if len(bad_ids) > _SHOW else ''}. Rename them using only letters, "
                            "digits, '_', '.' and '-' (the rule manifests and clinical tables follow).")
        counts = pa.table({"k": ids}).group_by("k").aggregate([([], "count_all")])
        dups = counts.filter(pc.greater(counts["count_all"], 1))
        if dups.num_rows:
            shown = ", ".join(f"{r['k']} (×{r['count_all']})" for r in dups.slice(0, _SHOW).to_pylist())
            problems.append(f"key column {key!r}: expected unique ids (one row per patient); found "
                            f"{dups.num_rows} duplicated: {shown}. Keep one row per patient.")
    if COL_COHORT in names and COL_COHORT not in (key, label, center):
        cohorts = pc.cast(table.column(COL_COHORT), pa.string()).to_pylist()
        bad_cohorts = sorted({p for v in cohorts if v is not None and (p := id_problem(v)) is not None})
        if bad_cohorts:
            problems.append(f"column {COL_COHORT!r}: expected {ID_EXPECTED}; found {len(bad_cohorts)} invalid "
                            f"name(s): {'; '.join(bad_cohorts[:_SHOW])}. Rename the cohort using only letters, "
                            "digits, '_', '.' and '-'.")
    if label is not None and label in names:
        problem = _label_problem(table.column(label), label)
        if problem:
            problems.append(problem)
    special = {key, label, center, *META_COLUMNS}
    features = [n for n in names if n not in special]
    bad = []
    for name in features:
        kind = table.schema.field(name).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                or pa.types.is_decimal(kind) or pa.types.is_boolean(kind) or pa.types.is_null(kind)):
            example = next((v for v in table.column(name).to_pylist() if v is not None), None)
            bad.append(f"{name} ({kind}, e.g. {example!r})")
    if bad:
        problems.append(f"feature columns must be numeric; found {len(bad)} non-numeric column(s): "
                        f"{'; '.join(bad[:_SHOW])}{' …' if len(bad) > _SHOW else ''}. Encode them as "
                        "numbers (e.g. one-hot) or drop them before importing.")
    if len(features) == len(bad):
        problems.append("no feature columns: expected at least one numeric column besides the "
                        "key/label/center columns.")
    return problems


def import_table(store: FeatureStore, path: str | os.PathLike[str], *, name: str,
                 key: str = COL_PATIENT, label: str | None = None,
                 center: str | None = None, role: str = ROLE_FEATURE) -> ImportResult:
    """Import a CSV/Parquet feature table as a new version of table ``name``.

    Args:
        store: The store to write to.
        path: A ``.csv``/``.tsv``/``.csv.gz`` or ``.parquet`` file, one row
            per patient.
        name: Table name (lower-case identifier, e.g. ``clinical``).
        key: Column holding the patient id (stored as ``patient_id``).
        label: Column holding the 0/1 outcome (stored as ``label``).
        center: Column holding the centre (stored as ``center``).
        role: What the table holds, recorded with the version: ``feature``
            (modelled by tune, train and score), ``output`` or ``dictionary``.

    Returns:
        The :class:`ImportResult`.

    Raises:
        SchemaMismatchError: Missing/duplicate keys, non-numeric features,
            labels other than 0/1 (every problem listed).
        ConfigError: Bad table name, unknown file type, missing file.
    """
    check_table_name(name)
    check_role(role)
    path = os.path.abspath(os.fspath(path))
    table, fmt = _read(path, [c for c in (key, center) if c])
    problems = validate_import(table, key=key, label=label, center=center)
    if problems:
        raise SchemaMismatchError(
            f"import {os.path.basename(path)} as {name!r}: {len(problems)} problem(s):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    columns = {COL_PATIENT: pc.cast(table.column(key), pa.string())}
    if center:
        columns[COL_CENTER] = pc.cast(table.column(center), pa.string())
    if label:
        columns[COL_LABEL] = pc.cast(table.column(label), pa.int64())
    for meta in META_COLUMNS:
        if meta in table.schema.names and meta not in (key, label, center):
            columns[meta] = pc.cast(table.column(meta), pa.string())
    features = [n for n in table.schema.names if n not in {key, label, center, *META_COLUMNS}]
    for feat in features:
        columns[feat] = pc.cast(table.column(feat), pa.float64())
    data = pa.table(columns)
    source_sha = _sha256(path)
    options = {"key": key, "label": label, "center": center, "format": fmt}
    # the role joins the hash only when it is not the default, so earlier imports keep their ids
    version_id = content_hash({"table": name, "source_sha256": source_sha, "options": options,
                               "package": __version__, **({"role": role} if role != ROLE_FEATURE else {})})
    existed = store.log.get(name, version_id) if store.exists() else None
    previous = store.latest(name) if store.exists() else None
    info = store.write_version(
        name, data, version_id=version_id, key=(COL_PATIENT,),
        params={"import": options, "features": len(features)},
        lineage={"source": path, "source_sha256": source_sha, "source_rows": table.num_rows},
        parent=previous.version if previous is not None and previous.version != version_id else None,
        counts={"imported": data.num_rows}, role=role,
    )
    return ImportResult(info=info, new=existed is None, features=len(features))
