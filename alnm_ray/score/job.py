"""The scoring job: a bundle applied to stored features or to new images.

From stored features (``TABLE[@VERSION]`` references) each table's Delta
snapshot is streamed in partitions of whole patients, reading only the columns
the bundle needs (:mod:`alnm_ray.score.stream`); each partition is widened,
checked against the bundle's feature schema and scored, so the driver holds
one partition of features, never the cohort.  Runs of at most
:data:`~alnm_ray.score._execution.LOCAL_MAX_ROWS` stored rows (1,000,000;
``$ALNM_RAY_SCORE_LOCAL_MAX_ROWS``) without a cluster address score in this
process without starting Ray; larger runs, or any run given ``--address`` /
``RAY_ADDRESS``, score in a pool of Ray actors.  Both give the same
predictions.  From manifests the
bundle's own preprocessing, PyRadiomics parameters and embedding config are
replayed through the extract / embed jobs (cases already in the store with the
same content hash are reused, not recomputed), then the new versions are
scored the same way.

Accounting: every patient in (a manifest's patients, or the patients of the
tables for the cohorts scored) comes out either as one prediction or as one
error row (stage, type, message), never silently dropped.  Predictions go to
the ``--out`` Parquet file and to a new version of the store's ``predictions``
table (previous rows of the same bundle and patient are replaced); reports go
next to ``--out`` (see :mod:`alnm_ray.score.report`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from alnm_ray import constants as C
from alnm_ray.exceptions import ConfigError, SchemaMismatchError
from alnm_ray.score.bundle import Bundle, BundleFiles, load_bundle_files, read_bundle_files
from alnm_ray.score.drift import drift_report
from alnm_ray.model.cohort import LongTables
from alnm_ray.score.predict import DEFAULT_BATCH_SIZE
from alnm_ray.score.report import DEFAULT_N_BOOT, external_validation, write_reports
from alnm_ray.score.schema_check import check_feature_schema
from alnm_ray.score.signing import TrustPolicy, write_trust_record
from alnm_ray.score.sources import Source, feature_sources, manifest_sources
from alnm_ray.store.versions import content_hash

logger = logging.getLogger(__name__)

#: Columns of the ``predictions`` table and of the output file.
PREDICTION_COLUMNS: tuple[str, ...] = (
    C.COL_COHORT, C.COL_CENTER, C.COL_PATIENT, C.COL_LABEL, "probability", "predicted_label", "threshold",
    "bundle_id", "scored_at",
)
#: Cohort name given to patients of tables that have no ``cohort`` column (e.g. an imported clinical table).
DEFAULT_COHORT = "default"
#: Key of the ``predictions`` table: one row per bundle and patient.
PREDICTION_KEY: tuple[str, ...] = ("bundle_id", C.COL_COHORT, C.COL_PATIENT)


@dataclass(frozen=True)
class ScoreOptions:
    """How to score.

    Args:
        batch_size: Patients per chunk scored on a Ray actor, or in this process with ``explain``
            (else this process scores a partition's patients at once: its size is bounded).
        max_actors: Cap of the scoring actor pool (default: from the cluster's CPUs).
        align: Accept extra / re-ordered feature columns (dropped / reordered).
        cohorts: Score only these cohorts of the tables (empty: all).
        n_boot: Bootstrap replicates of the validation intervals.
        seed: Bootstrap seed.
        write_store: Also write a version of the store's ``predictions`` table.
        quiet: No progress output.
        explain: Add each patient's ``explain`` largest SHAP contributions to the output file (0: none).
        ray_config: How to reach Ray when the run is too large to score in this process
            (:class:`~alnm_ray.runtime.RayConfig`; its address also forces Ray).  None:
            ``RAY_ADDRESS`` or an embedded local Ray.
    """

    batch_size: int = DEFAULT_BATCH_SIZE
    max_actors: int | None = None
    align: bool = False
    cohorts: tuple[str, ...] = ()
    n_boot: int = DEFAULT_N_BOOT
    seed: int = 0
    write_store: bool = True
    quiet: bool = True
    explain: int = 0
    ray_config: Any = None


@dataclass(frozen=True)
class ScoreResult:
    """What a scoring run produced.

    The predictions are not held: they are in the ``out`` file (and the store's
    ``predictions`` version).  :attr:`n_predictions` counts them;
    :attr:`predictions` reads them back from ``out`` on first use.
    """

    bundle_id: str
    n_predictions: int
    errors: pd.DataFrame
    drift: pd.DataFrame
    validation: dict[str, Any]
    rows_in: int
    out: str
    reports: list[str]
    version: str | None
    seconds: float
    work: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    signature: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def predictions(self) -> pd.DataFrame:
        """Every prediction (:data:`PREDICTION_COLUMNS`), sorted by cohort and patient, read from ``out``."""
        from alnm_ray.score._execution import empty_predictions, read_predictions

        if not self.n_predictions:
            return empty_predictions(PREDICTION_COLUMNS)
        return read_predictions(self.out, PREDICTION_COLUMNS)


def _error_row(stage: str, cohort: str, center: str, patient: str, reader: str, etype: str, message: str
               ) -> dict[str, str]:
    return {"stage": stage, C.COL_COHORT: cohort, C.COL_CENTER: center, C.COL_PATIENT: patient,
            C.COL_SEQUENCE: "", C.COL_READER: reader, "error_type": etype, "message": message}


def _assemble_cohort(bundle: Bundle, source: Source, cohort: str, *, align: bool, tables: LongTables | None = None,
                     with_drift: bool = True) -> tuple[pd.DataFrame, list[dict[str, str]], pd.DataFrame]:
    """Rows to score, error rows and drift rows for one cohort of one source.

    Args:
        bundle: The loaded bundle.
        source: Where the rows come from (name, expected patients, upstream errors).
        cohort: The cohort.
        align: Accept extra / re-ordered features.
        tables: One partition of the source's tables (default: all of ``source.tables``);
            every row of a patient must be in it.
        with_drift: Also compute the drift rows (else an empty frame).
    """
    from alnm_ray.model.cohort import cohort_from
    from alnm_ray.model.feature_sets import feature_columns
    from alnm_ray.model.feature_spec import FeatureSetSpec

    reader = str(bundle.metadata.get("reader") or C.PRIMARY_READER)
    tables = source.tables if tables is None else tables
    data = cohort_from(tables, cohorts=[cohort], reader=reader)
    wides = data.tables
    centers = None if data.centers is None else data.centers.dropna()
    labels = data.labels
    expected = source.expected
    if expected is not None:
        expected = expected[expected[C.COL_COHORT] == cohort]
        ids = pd.Index(expected[C.COL_PATIENT].astype(str).unique())
        exp_centers = expected.drop_duplicates(C.COL_PATIENT).set_index(C.COL_PATIENT)[C.COL_CENTER].astype(str)
        centers = exp_centers if centers is None else centers.combine_first(exp_centers)
    else:  # tables without a cohort column (clinical) hold every cohort's patients: not a source of ids
        cased = [w for t, w in wides.items() if C.COL_COHORT in tables.longs[t].columns] or list(wides.values())
        ids = pd.Index(np.unique(np.concatenate([w.index.to_numpy(dtype=object) for w in cased]).astype(str))
                       if cased else [], dtype=object)  # sorted, vectorised: 200,000 ids in a Python loop cost 0.2 s
    center_by_id = (pd.Series(centers.astype(str).to_numpy(dtype=object), index=centers.index.astype(str))
                    if centers is not None else pd.Series([], dtype=object))
    center_by_id = center_by_id[~center_by_id.index.duplicated()]
    upstream = source.upstream_errors
    if len(upstream):  # this cohort's failures of the bundle's reader (other readers' cases do not matter)
        upstream = upstream[(upstream[C.COL_COHORT].astype(str) == cohort)
                            & upstream[C.COL_READER].astype(str).isin([reader, "", "nan", "None"])]
    used_sequences = sorted({f.split(C.WIDE_SEP, 1)[0] for f in bundle.selected_features if C.WIDE_SEP in f})
    gaps: dict[str, list[str]] = {}  # patient -> what is missing (a whole table, or a table's sequence)
    for table, wide in wides.items():
        for pid in ids.difference(wide.index):
            gaps.setdefault(str(pid), []).append(table)
        long = tables.longs[table]
        if C.COL_SEQUENCE not in long.columns:
            continue
        keep = pd.Series(True, index=long.index)
        if C.COL_READER in long.columns:
            keep &= long[C.COL_READER].astype(str) == reader
        if C.COL_COHORT in long.columns:
            keep &= long[C.COL_COHORT].astype(str) == cohort
        cases = long.loc[keep, [C.COL_PATIENT, C.COL_SEQUENCE]].astype(str)
        for seq in used_sequences:
            with_seq = pd.Index(cases.loc[cases[C.COL_SEQUENCE] == seq, C.COL_PATIENT].unique())
            for pid in ids.intersection(wide.index).difference(with_seq):
                gaps.setdefault(str(pid), []).append(f"{table} {seq}")
    errors = []
    center_of = center_by_id.reindex(list(gaps)).dropna().to_dict() if gaps else {}
    for pid in sorted(gaps):
        causes = upstream[upstream[C.COL_PATIENT].astype(str) == pid] if len(upstream) else upstream
        detail = "; ".join(f"{r.stage} {r[C.COL_SEQUENCE]}: {r.message}" for _, r in causes.head(3).iterrows())
        errors.append(_error_row(
            str(causes["stage"].iloc[0]) if len(causes) else "assemble", cohort, center_of.get(pid, ""), pid,
            reader, str(causes["error_type"].iloc[0]) if len(causes) else "MissingFeatures",
            f"{pid}: no {', '.join(gaps[pid])} features for reader {reader} in {source.name}"
            + (f" ({detail})" if detail else "; the case was not extracted or its extraction failed "
               "(see `alnm-ray sql \"SELECT * FROM errors\"`)")))
    complete = ids[~ids.astype(str).isin(list(gaps))].astype(str) if gaps else ids.astype(str)
    if not len(complete):  # nothing to check in this partition: its patients are all error rows (or none)
        empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in (C.COL_COHORT, C.COL_CENTER, C.COL_PATIENT)})
        return empty.assign(_label=pd.Series([], dtype=float)), errors, pd.DataFrame()
    parts = [wides[p.table].loc[complete, feature_columns(wides[p.table], p.kind)]
             for p in FeatureSetSpec.parse(bundle.metadata["feature_set"]).parts]
    X = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=pd.Index(complete))
    excluded = [c for c in bundle.metadata.get("excluded_features") or () if c in X.columns]
    X = check_feature_schema(bundle.features, X.drop(columns=excluded), what=f"cohort {cohort!r} ({source.name})",
                             align=align)
    drift = drift_report(bundle.summary, X) if len(X) and with_drift else pd.DataFrame()
    if len(drift):
        drift.insert(0, C.COL_COHORT, cohort)
    rows = X.copy()
    rows.insert(0, C.COL_PATIENT, rows.index.astype(str))
    rows.insert(0, C.COL_CENTER, center_by_id.reindex(rows.index.astype(str)).fillna("").to_numpy(dtype=object))
    rows.insert(0, C.COL_COHORT, cohort)
    rows["_label"] = labels.reindex(rows.index).to_numpy() if labels is not None else np.nan
    return rows.reset_index(drop=True), errors, drift


def _cohorts_of(source: Source, options: ScoreOptions, n_sources: int) -> list[str]:
    cohorts = source.cohort_names() or [DEFAULT_COHORT]
    if options.cohorts:
        unknown = sorted(set(options.cohorts) - set(cohorts))
        if unknown and n_sources == 1:
            raise ConfigError(f"--cohort: expected cohorts of {source.name} ({', '.join(cohorts)}); "
                              f"got {', '.join(unknown)}. Check the names with `alnm-ray sql`.")
        cohorts = [c for c in cohorts if c in options.cohorts]
    return cohorts


def score_sources(files: BundleFiles, bundle: Bundle, store: Any, sources: Sequence[Source], *, out: str,
                  options: ScoreOptions = ScoreOptions()) -> ScoreResult:
    """Score every cohort of every source, partition by partition; write predictions and reports.

    Each source yields its tables in partitions (a stored source streams them,
    see :mod:`alnm_ray.score.stream`; a manifest source is one partition).
    Every partition is widened, schema-checked and split into prediction rows
    and error rows, then scored: in this process when the run reads at most
    :data:`~alnm_ray.score._execution.LOCAL_MAX_ROWS` stored rows and no
    cluster address is given, else in a pool of Ray actors.  Predictions are
    appended to ``out`` as they are made.  The validation summary uses every
    prediction; the drift report a uniform sample of at most
    :data:`~alnm_ray.score._execution.DRIFT_SAMPLE_ROWS` patients per cohort
    (all of them in smaller cohorts).

    Args:
        files: The bundle's bytes (shipped to the actors, which verify them again).
        bundle: The same bundle, loaded (verified) in this process.
        store: The feature store (a ``predictions`` version is written to it).
        sources: Inputs to score.
        out: Output Parquet path; reports are written next to it.
        options: How to score.

    Raises:
        SchemaMismatchError: A cohort's features do not match the bundle's, or
            a patient appears in two sources.
        BundleIntegrityError: The bundle was altered.
        ConfigError: Bad options or ``$ALNM_RAY_SCORE_*`` settings.
    """
    import contextlib

    from alnm_ray.runtime import RayConfig, ray_session
    from alnm_ray.score._execution import DriftSample, PredictionSink, RayPool, scores_locally
    from alnm_ray.score.predict import score_chunk
    from alnm_ray.store.versions import utc_now

    if int(options.batch_size) < 1:
        raise ConfigError(f"batch_size: expected an integer >= 1; got {options.batch_size}.")
    start = time.monotonic()
    timings = {"assemble_s": 0.0, "predict_s": 0.0}
    plans = [(source, _cohorts_of(source, options, len(sources))) for source in sources]
    local = scores_locally(sum(s.rows for s in sources), options.ray_config)
    out_path = Path(out)
    sink = PredictionSink(out_path, bundle, PREDICTION_COLUMNS, utc_now())
    sample = DriftSample(bundle.summary.feature_names_ if bundle.summary is not None else [], seed=options.seed)
    seen: dict[tuple[str, str], str] | None = {} if len(sources) > 1 else None  # one source: ids are unique
    errors: list[dict[str, str]] = []
    rows_in = 0
    session = contextlib.nullcontext() if local else ray_session(options.ray_config or RayConfig(quiet=True))
    with session:
        pool = None if local else RayPool(files, sum(s.rows for s in sources), batch_size=options.batch_size,
                                          max_actors=options.max_actors, explain=options.explain,
                                          seed=options.seed)
        for source, cohorts in plans:
            t0 = time.monotonic()
            for tables in source.partitions():
                for cohort in cohorts:
                    rows, errs, _ = _assemble_cohort(bundle, source, cohort, align=options.align, tables=tables,
                                                     with_drift=False)
                    if seen is not None:
                        _check_once(seen, source.name, cohort, list(rows[C.COL_PATIENT]) +
                                    [e[C.COL_PATIENT] for e in errs])
                    rows_in += len(rows) + len(errs)
                    errors += errs
                    sample.add(cohort, rows)
                    timings["assemble_s"] += time.monotonic() - t0
                    t0 = time.monotonic()
                    if pool is not None:
                        pool.add(rows, sink)
                    else:
                        step = int(options.batch_size) if options.explain else max(1, len(rows))
                        for i in range(0, len(rows), step):  # a partition at once: its size is bounded
                            sink.add(score_chunk(bundle, rows.iloc[i:i + step], explain=options.explain,
                                                 seed=options.seed))
                    timings["predict_s"] += time.monotonic() - t0
                    t0 = time.monotonic()
                timings["assemble_s"] += time.monotonic() - t0
                t0 = time.monotonic()
        if pool is not None:
            t0 = time.monotonic()
            pool.finish(sink)
            timings["predict_s"] += time.monotonic() - t0
    logger.info("scored %d patient(s) %s", rows_in, "in this process" if local else "on Ray")
    n_preds = sink.close()
    errors += sink.errors
    error_frame = pd.DataFrame(errors, columns=list(C.ERROR_COLUMNS)).sort_values(
        [C.COL_COHORT, C.COL_PATIENT], kind="stable").reset_index(drop=True)
    if rows_in != n_preds + len(error_frame):  # the accounting promise; a bug if it breaks
        raise RuntimeError(f"rows in ({rows_in}) != predictions ({n_preds}) + errors ({len(error_frame)})")
    mark = time.monotonic()
    drift_all = sample.report(bundle.summary, [c for _, cohorts in plans for c in cohorts])
    validation = external_validation(sink.labelled_rows(), threshold=bundle.threshold, model_name=bundle.bundle_id,
                                     n_boot=options.n_boot, seed=options.seed)
    timings["validate_s"] = time.monotonic() - mark
    mark = time.monotonic()
    reports = write_reports(out_path, bundle_id=bundle.bundle_id, validation=validation, drift=drift_all,
                            errors=error_frame)
    reports.append(write_trust_record(out_path, bundle_id=bundle.bundle_id, bundle_path=bundle.path,
                                      check=bundle.signature))
    version = None
    if options.write_store:
        version = _write_predictions(store, bundle, sink, error_frame, sources, rows_in)
    timings["write_s"] = time.monotonic() - mark
    logger.info("scored %d patient(s): %s", rows_in, ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    return ScoreResult(bundle.bundle_id, n_preds, error_frame, drift_all, validation, rows_in, str(out_path),
                       [str(p) for p in reports], version, time.monotonic() - start, timings=timings,
                       signature=bundle.signature.to_dict() if bundle.signature else {})


def _check_once(seen: dict[tuple[str, str], str], name: str, cohort: str, patients: Sequence[str]) -> None:
    """Record ``patients`` of ``cohort`` as scored from ``name``; refuse one already scored from another source."""
    for pid in patients:
        if (cohort, pid) in seen:
            raise SchemaMismatchError(
                f"patient {cohort}/{pid}: expected once per scoring run; found in {seen[(cohort, pid)]} "
                f"and {name}. Score the two inputs in separate runs or remove the duplicate.")
        seen[(cohort, pid)] = name


def _write_predictions(store: Any, bundle: Bundle, sink: Any, errors: pd.DataFrame,
                       sources: Sequence[Source], rows_in: int) -> str:
    """New ``predictions`` version: earlier rows, minus this bundle's re-scored patients, plus these.

    Only this run's rows are written (:meth:`~alnm_ray.store.FeatureStore.upsert`: an append, or a
    merge by bundle, cohort and patient); patients of this run that failed lose this bundle's
    earlier prediction.  The earlier predictions are not read, only their keys.  This run's rows
    are read back from the ``--out`` file (sorted by cohort and patient) as Arrow columns, never
    as Python objects.
    """
    table = C.TABLE_PREDICTIONS
    latest = store.latest(table)
    failed = errors[[C.COL_COHORT, C.COL_PATIENT]].astype(str).assign(bundle_id=bundle.bundle_id)
    version_id = content_hash({
        "table": table, "parent": latest.version if latest is not None else None,
        "bundle_id": bundle.bundle_id, "rows": sink.content_hash(),
        "failed": sorted(map(list, failed.itertuples(index=False)))})
    data = sink.store_rows() if sink.count else pa.Table.from_pandas(
        _typed_empty(sink.columns), preserve_index=False)
    info = store.upsert(
        table, data, key=PREDICTION_KEY, version_id=version_id,
        delete=failed[list(PREDICTION_KEY)] if len(failed) else None,
        params={"bundle_id": bundle.bundle_id, "threshold": bundle.threshold,
                "feature_set": bundle.metadata["feature_set"], "classifier": bundle.metadata["classifier"]},
        lineage={"bundle": bundle.path, "bundle_id": bundle.bundle_id,
                 "bundle_signature": bundle.signature.to_dict() if bundle.signature else None,
                 "sources": [s.name for s in sources],
                 "inputs": {t: i.version for s in sources for t, i in s.tables.infos.items()}},
        errors=errors, counts={"rows_in": rows_in, "scored": sink.count, "failed": len(errors)})
    return info.version


def _typed_empty(columns: Sequence[str]) -> pd.DataFrame:
    """No prediction rows (label Int64, as written rows have)."""
    from alnm_ray.score._execution import empty_predictions

    empty = empty_predictions(columns)
    empty[C.COL_LABEL] = pd.array([], dtype="Int64")
    return empty


def default_out(bundle_id: str) -> str:
    """``score-<bundle id>-<UTC time>.parquet`` in the current folder."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"score-{bundle_id}-{stamp}.parquet"


def score_features(bundle_path: str, store: Any, refs: Sequence[str], *, out: str | None = None,
                   options: ScoreOptions = ScoreOptions(), trust: TrustPolicy | None = None) -> ScoreResult:
    """Score stored feature tables with a bundle (see module docstring).

    Args:
        bundle_path: Bundle folder.
        store: A :class:`~alnm_ray.store.FeatureStore` or its URI.
        refs: ``TABLE[@VERSION]`` references (tables the bundle uses; others: latest).
        out: Output Parquet path (default: :func:`default_out`).
        options: How to score.
        trust: Trusted signing keys (default ``$ALNM_RAY_TRUSTED_KEYS``); travels to the actors.

    Returns:
        A :class:`ScoreResult`.
    """
    from alnm_ray.store import FeatureStore

    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    files = read_bundle_files(bundle_path, trust=trust)  # the signature is checked before any other file is read
    bundle = load_bundle_files(files)  # verifies every checksum before anything is parsed
    sources = feature_sources(store, bundle, refs, stream=True, cohorts=options.cohorts, align=options.align)
    return score_sources(files, bundle, store, sources, out=out or default_out(bundle.bundle_id),
                         options=options)


def score_manifests(bundle_path: str, store: Any, manifests: Sequence[str], *, out: str | None = None,
                    weights: str | None = None, options: ScoreOptions = ScoreOptions(), quiet: bool = True,
                    debug: bool = False, trust: TrustPolicy | None = None) -> ScoreResult:
    """Score new cohorts from images: the bundle's own preprocessing and extraction, then prediction.

    Args:
        bundle_path: Bundle folder.
        store: A :class:`~alnm_ray.store.FeatureStore` or its URI (features are cached there).
        manifests: One or more manifests; each gets its own validation summary per cohort.
        out: Output Parquet path (default: :func:`default_out`).
        weights: Deep-model checkpoint, when the bundle uses deep features with pretrained weights.
        options: How to score.
        quiet: No progress bars.
        debug: Re-raise a case's original error.
        trust: Trusted signing keys (default ``$ALNM_RAY_TRUSTED_KEYS``); travels to the actors.

    Returns:
        A :class:`ScoreResult`; its ``work`` counts are logged.
    """
    from alnm_ray.store import FeatureStore

    if not manifests:
        raise ConfigError("--manifest: expected at least one manifest; got none.")
    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    files = read_bundle_files(bundle_path, trust=trust)  # the signature is checked before any other file is read
    bundle = load_bundle_files(files)  # verifies every checksum before anything is parsed
    sources, work = manifest_sources(bundle, store, manifests, weights=weights, quiet=quiet, debug=debug)
    for path, counts in work.items():
        for table, c in counts.items():
            logger.info("%s: %s computed=%d cached=%d failed=%d", path, table, c["computed"], c["cached"],
                        c["failed"])
    result = score_sources(files, bundle, store, sources, out=out or default_out(bundle.bundle_id),
                           options=options)
    return dataclasses.replace(result, work=work)
