"""The extraction job: manifest -> (incremental) Ray Data extraction -> a store version.

1. Hash every case's image and mask (threads on the driver) and derive its
   case hash (:mod:`alnm_ray.extract.hashing`).
2. The version id is a hash of all case hashes and the table config; when the
   store already has it, nothing is computed or written.
3. Rows whose case hash is stored (in any version of the table) are reused.
4. Only the other cases go through Ray Data: rows of *paths* (never volumes),
   one case per block, ``map_batches`` over an autoscaling actor pool (one CPU
   per actor, PyRadiomics imported once per actor).
   Each case returns a feature record or an error record (caught per case, so
   Ray never drops a block); a case lost to a crashed worker is reconciled
   into an error row.  Always: rows in = rows out + error rows.
   Each finished case is also checkpointed in the store by its actor
   (:mod:`alnm_ray.extract.checkpoint`): a re-run after a killed driver
   computes only the cases that had not finished.
5. The new version holds reused + new rows (+ rows of other cohorts already in
   the table), feature columns unioned with NaN where a feature does not apply.
"""

from __future__ import annotations

import logging
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import pyarrow as pa

from alnm_ray.constants import (
    CASE_KEY, COL_CASE_HASH, COL_COHORT, COL_EXTRACTED_AT, COL_IMAGE, COL_LABEL, COL_MASK,
    COL_MASK_LABEL, COL_SPLIT, DEFAULT_MASK_LABEL, ERROR_COLUMNS, TABLE_RADIOMICS,
)
from alnm_ray.exceptions import ExtractionError, ManifestError
from alnm_ray.extract.case import RECORD_SCHEMA, case_name, process_case, results_to_arrow
from alnm_ray.extract.checkpoint import CaseCheckpoint
from alnm_ray.extract.hashing import case_hash, library_versions, sha256_file, stable_hash, version_id
from alnm_ray.extract.params import ExtractionParams, check_compatible
from alnm_ray.extract.summary import ExtractionReport
from alnm_ray.preprocess.config import PreprocessPlan

logger = logging.getLogger(__name__)

#: Manifest columns copied onto feature rows (besides the case key).
CARRIED_COLUMNS: tuple[str, ...] = (COL_LABEL, COL_SPLIT, COL_MASK_LABEL)
#: Columns of a feature row that are not features.
META_COLUMNS: tuple[str, ...] = (*CASE_KEY, *CARRIED_COLUMNS, COL_CASE_HASH, COL_EXTRACTED_AT)
#: Retries of a case whose Ray worker died (not of cases that raise: those become error rows).
MAX_TASK_RETRIES = 2
#: What a NaN in a feature column means (recorded with every version).
MISSING_POLICY = ("NaN where a feature does not apply to a case: 2-D and 3-D sequences have different "
                  "shape classes and filter sub-bands, and PyRadiomics skips filters an ROI is too small "
                  "for; NaN values PyRadiomics itself returns are kept as NaN.")


class _CaseExtractor:
    """Ray Data actor: imports PyRadiomics once, then one feature-or-error record per case.

    An actor pool rather than a task pool: on 2 cores the gap between two cases on one worker
    was ~155 ms with tasks and ~16 ms with actors (0.5 s cases, measured with Ray 2.60).
    """

    def __init__(self, plan: PreprocessPlan, params: ExtractionParams, debug: bool,
                 checkpoint: CaseCheckpoint | None = None) -> None:
        import radiomics

        # PyRadiomics attaches its own stderr handler at WARNING (e.g. "GLCM is symmetrical…" per
        # case); inside a worker only errors are worth forwarding to the driver.
        radiomics.setVerbosity(logging.ERROR)
        self.plan, self.params, self.debug, self.checkpoint = plan, params, debug, checkpoint

    def __call__(self, batch: pd.DataFrame) -> pa.Table:
        results = []
        for row in batch.to_dict("records"):
            result = process_case(row, self.plan, self.params, debug=self.debug)
            if self.checkpoint is not None and result.ok:  # survives a killed driver
                self.checkpoint.save(results_to_arrow([result]), result.case_hash)
            results.append(result)
        return results_to_arrow(results)


def _check_manifest(manifest: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in (*CASE_KEY, COL_IMAGE, COL_MASK) if c not in manifest.columns]
    if missing:
        raise ManifestError([f"columns: expected {', '.join(missing)}; found only "
                             f"{', '.join(map(str, manifest.columns))}. Validate it with `alnm-ray validate`."])
    df = manifest.reset_index(drop=True).copy()
    for col in CASE_KEY:
        df[col] = df[col].astype(str)
    dup = df[df.duplicated(list(CASE_KEY), keep=False)]
    if not dup.empty:
        first = dup.iloc[0]
        raise ManifestError([f"rows {', '.join(str(i + 1) for i in dup.index[:5])}: expected one row per "
                             f"case {'/'.join(CASE_KEY)}; found {len(dup)} rows for cases such as "
                             f"{case_name(first.to_dict())}. Remove the duplicates."])
    if COL_MASK_LABEL not in df.columns:
        df[COL_MASK_LABEL] = DEFAULT_MASK_LABEL
    labels = pd.to_numeric(df[COL_MASK_LABEL].fillna(DEFAULT_MASK_LABEL), errors="coerce")
    bad = df.index[labels.isna() | (labels != labels.round())]
    if len(bad):
        raise ManifestError([f"row {bad[0] + 1}, column {COL_MASK_LABEL}: expected an integer label; found "
                             f"{df.at[bad[0], COL_MASK_LABEL]!r}. Use the mask value of the ROI (default 1)."])
    df[COL_MASK_LABEL] = labels.astype(int)
    return df


def _hash_cases(df: pd.DataFrame, plan: PreprocessPlan, params: ExtractionParams,
                versions: dict[str, str], workers: int) -> tuple[list[str], dict[int, dict[str, str]]]:
    """Case hashes (one per row) and read errors by row index."""
    params_hash = params.hash()

    def one(i: int) -> tuple[int, str, dict[str, str] | None]:
        row = df.iloc[i]
        key = [row[c] for c in CASE_KEY]
        pre = plan.for_sequence(row["sequence"]).hash()
        try:
            img, msk = sha256_file(row[COL_IMAGE]), sha256_file(row[COL_MASK])
        except OSError as err:
            h = stable_hash({"key": key, "unreadable": str(err), "params": params_hash, "preprocess": pre})
            name = str(getattr(err, "filename", "") or "")
            which = {str(row[COL_IMAGE]): "image", str(row[COL_MASK]): "mask"}.get(name, "file")
            msg = (f"{case_name(row.to_dict())}: {which} {name}: {err.strerror or err}. Check the {which} path "
                   "in the manifest.")
            return i, h, {"stage": "read", "error_type": type(err).__name__, "message": msg}
        h = case_hash(key=key, image_sha256=img, mask_sha256=msk, mask_label=int(row[COL_MASK_LABEL]),
                      preprocess_hash=pre, params_hash=params_hash, versions=versions)
        return i, h, None

    hashes = [""] * len(df)
    errors: dict[int, dict[str, str]] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for i, h, err in pool.map(one, range(len(df))):
            hashes[i] = h
            if err is not None:
                errors[i] = err
    return hashes, errors


def _stored_rows(store: Any, table: str, wanted: set[str]) -> pd.DataFrame:
    """Stored rows whose case hash is in ``wanted``, from any version (newest first)."""
    import pyarrow.compute as pc

    found: list[pd.DataFrame] = []
    remaining = set(wanted)
    for info in reversed(store.versions(table)):
        if not remaining:
            break
        if COL_CASE_HASH not in info.column_names:
            continue
        part = store.dataset(info).to_table(filter=pc.field(COL_CASE_HASH).isin(sorted(remaining)))
        if part.num_rows:
            pdf = part.to_pandas()
            pdf = pdf.drop_duplicates(COL_CASE_HASH)
            remaining -= set(pdf[COL_CASE_HASH])
            found.append(pdf)
    if not found:
        return pd.DataFrame(columns=list(META_COLUMNS))
    return pd.concat(found, ignore_index=True, sort=False)


def _run_dataset(items: list[dict[str, Any]], plan: PreprocessPlan, params: ExtractionParams, *,
                 quiet: bool, debug: bool, num_cpus: int | None,
                 checkpoint: CaseCheckpoint | None = None) -> list[dict[str, Any]]:
    """Extract ``items`` on Ray Data; returns one record per item that came back."""
    import ray
    from ray.data import DataContext
    from ray.data import ActorPoolStrategy

    from alnm_ray.runtime import cluster_cpus

    ctx = DataContext.get_current()
    saved = (ctx.enable_progress_bars, ctx.max_errored_blocks, ctx.print_on_execution_start)
    ctx.enable_progress_bars = not quiet
    ctx.print_on_execution_start = not quiet
    if not debug:
        # Each block holds one case and failures are caught inside the UDF, so a block only
        # errors when its worker dies; those cases are reconciled into error rows below.
        ctx.max_errored_blocks = len(items)
    try:
        size = max(1, int(num_cpus or cluster_cpus()))
        ds: Any = ray.data.from_items(items, override_num_blocks=len(items))
        # An autoscaling pool (1..CPUs): a fixed pool taking every CPU can deadlock Ray Data.
        kwargs: dict[str, Any] = {
            "batch_size": 1, "batch_format": "pandas", "num_cpus": 1,
            "compute": ActorPoolStrategy(min_size=1, max_size=size),
            "fn_constructor_kwargs": {"plan": plan, "params": params, "debug": debug,
                                      "checkpoint": checkpoint}}
        try:
            # Ray Data retries a case whose actor died forever by default; a case that reliably
            # kills its worker (segfault, out of memory) would then hang the job.  The retry limit
            # is only reachable through the deprecated **ray_remote_args (no named parameter in 2.60).
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                ds = ds.map_batches(_CaseExtractor, max_task_retries=MAX_TASK_RETRIES, **kwargs)
        except TypeError:  # a Ray that dropped **ray_remote_args: its default retries apply
            ds = ds.map_batches(_CaseExtractor, **kwargs)
        tables: list[pa.Table] = list(ds.iter_batches(batch_format="pyarrow", batch_size=None))
    finally:
        ctx.enable_progress_bars, ctx.max_errored_blocks, ctx.print_on_execution_start = saved
    if not tables:
        return []
    return pa.concat_tables([t.cast(RECORD_SCHEMA) for t in tables]).to_pylist()


def _new_rows(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Feature rows of successful records (meta columns + one column per feature)."""
    ok = sorted((r for r in records if r["status"] == "ok"), key=lambda r: [r[c] for c in CASE_KEY])
    if not ok:
        return pd.DataFrame(columns=[*CASE_KEY, COL_CASE_HASH, COL_EXTRACTED_AT])
    meta = pd.DataFrame([{**{c: r[c] for c in CASE_KEY}, COL_CASE_HASH: r["case_hash"],
                          COL_EXTRACTED_AT: r["extracted_at"]} for r in ok])
    feats = pd.DataFrame.from_records([dict(zip(r["feature_names"], r["feature_values"])) for r in ok])
    return pd.concat([meta, feats.astype("float64")], axis=1)


def _assemble(parts: list[pd.DataFrame], df: pd.DataFrame) -> pd.DataFrame:
    """Union the parts; copy label/split/mask_label from the manifest; order the columns."""
    parts = [p for p in parts if not p.empty]
    if not parts:
        out = pd.DataFrame(columns=[*CASE_KEY, COL_CASE_HASH, COL_EXTRACTED_AT])
    else:
        out = pd.concat(parts, ignore_index=True, sort=False)
    manifest_meta = df.set_index(COL_CASE_HASH)
    in_manifest = out[COL_CASE_HASH].isin(manifest_meta.index)
    for col in CARRIED_COLUMNS:
        if col in df.columns:  # the manifest's current value wins, even when it is empty
            mapped = out[COL_CASE_HASH].map(manifest_meta[col])
            out[col] = mapped.where(in_manifest, out[col]) if col in out.columns else mapped
    meta = [c for c in META_COLUMNS if c in out.columns]
    features = [c for c in out.columns if c not in META_COLUMNS]
    out = out[meta + features]
    for col in features:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    for col in (*CASE_KEY, COL_CASE_HASH, COL_EXTRACTED_AT, COL_SPLIT):
        if col in out.columns:
            out[col] = out[col].astype("string")
    if COL_LABEL in out.columns:
        out[COL_LABEL] = pd.to_numeric(out[COL_LABEL], errors="coerce").astype("Int64")
    if COL_MASK_LABEL in out.columns:
        out[COL_MASK_LABEL] = pd.to_numeric(out[COL_MASK_LABEL], errors="coerce").astype("Int64")
    return out.sort_values(list(CASE_KEY), kind="stable").reset_index(drop=True)


def run_extraction(manifest: pd.DataFrame, store: Any, *, params: ExtractionParams, plan: PreprocessPlan,
                   table: str = TABLE_RADIOMICS, lineage: dict[str, Any] | None = None,
                   quiet: bool = False, debug: bool = False, num_cpus: int | None = None,
                   hash_workers: int = 4, ray_config: Any = None) -> ExtractionReport:
    """Extract radiomics features for a manifest into a new store version.

    Args:
        manifest: Validated manifest rows (``CASE_KEY`` columns, absolute
            ``image``/``mask`` paths, optional ``mask_label``, ``label``, ``split``).
        store: A :class:`~alnm_ray.store.FeatureStore` or its URI.
        params: PyRadiomics params.
        plan: Preprocessing plan.
        table: Store table to write.
        lineage: Recorded with the version (e.g. manifest path and checksum).
        quiet: No Ray Data progress bars.
        debug: Re-raise a case's original error (stops the job).
        num_cpus: Concurrent extraction tasks (default: the cluster's CPUs).
        hash_workers: Threads hashing files on the driver.
        ray_config: How to reach Ray (:class:`~alnm_ray.runtime.RayConfig`) when
            Ray is not running yet; it is started only if some case needs computing
            and shut down afterwards.

    Returns:
        An :class:`ExtractionReport`.

    Raises:
        ManifestError: Missing columns or duplicate cases.
        ConfigError: Params incompatible with the plan.
    """
    from alnm_ray.store import FeatureStore

    t0 = time.perf_counter()
    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    df = _check_manifest(manifest)
    check_compatible(params, plan)
    versions = library_versions()
    table_config = {"table": table, "params": params.hash(), "preprocess": plan.hash(), "versions": versions}
    hashes, read_errors = _hash_cases(df, plan, params, versions, hash_workers)
    df[COL_CASE_HASH] = hashes
    latest = store.latest(table)
    cohorts = set(df[COL_COHORT])
    carried = pd.DataFrame()
    if latest is not None:
        prev = store.read(table, version=latest.version).to_pandas()
        if COL_COHORT in prev.columns:
            carried = prev[~prev[COL_COHORT].astype(str).isin(cohorts)]
    all_hashes = list(hashes) + (list(carried[COL_CASE_HASH]) if not carried.empty else [])
    # label/split are copied onto the rows: a relabelled manifest is a new version (nothing recomputed)
    meta_cols = [c for c in (COL_LABEL, COL_SPLIT) if c in df.columns]
    table_config["row_metadata"] = stable_hash(
        sorted(map(str, df[[COL_CASE_HASH, *meta_cols]].astype(str).itertuples(index=False))))
    vid = version_id(all_hashes, table_config=table_config)
    existing = next((v for v in store.versions(table) if v.version == vid), None)
    report = ExtractionReport(version=existing, cases=len(df), carried=len(carried))
    if existing is not None:
        errs = store.read_errors(table, version=vid).to_pandas()
        report.errors = errs[[c for c in ERROR_COLUMNS if c in errs.columns]]
        report.failed, report.cached, report.existed = len(errs), len(df) - len(errs), True
        CaseCheckpoint.for_store(store, table).discard(df[COL_CASE_HASH])
        report.seconds = time.perf_counter() - t0
        return report

    todo = df[~df.index.isin(read_errors)]
    stored = _stored_rows(store, table, set(todo[COL_CASE_HASH])) if latest is not None else pd.DataFrame()
    stored_hashes = set(stored[COL_CASE_HASH]) if not stored.empty else set()
    todo = todo[~todo[COL_CASE_HASH].isin(stored_hashes)]
    items = [{**{c: row[c] for c in CASE_KEY}, COL_IMAGE: str(row[COL_IMAGE]), COL_MASK: str(row[COL_MASK]),
              COL_MASK_LABEL: int(row[COL_MASK_LABEL]), "case_hash": row[COL_CASE_HASH]}
             for _, row in todo.iterrows()]
    # cases an earlier, killed run finished but never committed
    checkpoint = CaseCheckpoint.for_store(store, table)
    resumed = checkpoint.load(item["case_hash"] for item in items)
    done_before = {r["case_hash"] for r in resumed}
    items = [item for item in items if item["case_hash"] not in done_before]
    records: list[dict[str, Any]] = []
    if items:
        from alnm_ray.runtime import RayConfig, ray_session

        # Ray starts only when there is work: a re-run with nothing new never pays its start-up.
        t_start = time.perf_counter()
        with ray_session(ray_config or RayConfig(quiet=quiet)):
            report.ray_start_seconds = time.perf_counter() - t_start
            records = _run_dataset(items, plan, params, quiet=quiet, debug=debug, num_cpus=num_cpus,
                                   checkpoint=checkpoint)
            report.ray_seconds = time.perf_counter() - t_start - report.ray_start_seconds
    returned = {r["case_hash"] for r in records}
    for item in items:  # cases whose worker died: no record came back
        if item["case_hash"] not in returned:
            records.append({**{c: item[c] for c in CASE_KEY}, "case_hash": item["case_hash"], "status": "error",
                            "stage": "extract", "error_type": "WorkerLost",
                            "message": f"{case_name(item)}: the Ray task running this case ended without a "
                                       "result (worker crash or out of memory). Re-run to retry it."})
    report.case_seconds = [float(r.get("seconds") or 0.0) for r in records if r.get("seconds") is not None]
    records += resumed
    error_rows = [{"stage": e["stage"], **{c: df.at[i, c] for c in CASE_KEY}, "error_type": e["error_type"],
                   "message": e["message"]} for i, e in sorted(read_errors.items())]
    error_rows += [{c: r[c] for c in ERROR_COLUMNS} for r in records if r["status"] != "ok"]
    errors = pd.DataFrame(error_rows, columns=list(ERROR_COLUMNS)).astype("string")
    new = _new_rows(records)
    reused = stored[stored[COL_CASE_HASH].isin(set(df[COL_CASE_HASH]))] if not stored.empty else stored
    out = _assemble([reused, new, carried], df)
    manifest_rows_out = int(out[COL_CASE_HASH].isin(set(df[COL_CASE_HASH])).sum())
    if manifest_rows_out + len(errors) != len(df):
        raise ExtractionError(f"internal check failed: {len(df)} cases in, {manifest_rows_out} feature rows + "
                              f"{len(errors)} error rows out. Re-run with --debug and report this.")
    report.computed, report.cached, report.failed = len(items), len(reused), len(errors)
    report.resumed = len(resumed)
    report.errors = errors
    report.version = store.write_version(
        table, out, version_id=vid, params=_version_params(params, plan, versions, out),
        lineage=dict(lineage or {}, carried_cohorts=sorted(set(carried[COL_COHORT])) if len(carried) else []),
        parent=latest.version if latest is not None else None, errors=errors, counts=report.counts())
    checkpoint.discard(df[COL_CASE_HASH])  # committed: the store holds these rows now
    report.seconds = time.perf_counter() - t0
    return report


def _version_params(params: ExtractionParams, plan: PreprocessPlan, versions: dict[str, str],
                    out: pd.DataFrame) -> dict[str, Any]:
    features = [c for c in out.columns if c not in META_COLUMNS]
    by_seq = {}
    if features and len(out):
        present = out[features].notna()
        for seq, idx in out.groupby("sequence").groups.items():
            by_seq[str(seq)] = int(present.loc[idx].any(axis=0).sum())
    return {"pyradiomics_params": params.as_dict(), "params_source": params.source,
            "params_sha256": params.hash(), "dropped_image_types": [list(d) for d in params.dropped],
            "preprocess": plan.to_dict(), "preprocess_sha256": plan.hash(), "library_versions": versions,
            "feature_columns": len(features), "features_by_sequence": by_seq, "missing_values": MISSING_POLICY}
