"""The extraction job: manifest -> (incremental) Ray Data extraction -> a store version.

The incremental flow is :func:`alnm_ray.table_job.run_table_job`'s: case
hashes, reuse of stored rows, rows of other cohorts kept, the version id,
lost-worker reconciliation and the write.  This stage supplies the rest:

* The case hash holds the PyRadiomics params' hash and the versions of the
  libraries that change feature values
  (:func:`~alnm_ray.extract.hashing.library_versions`).
* Cases go through Ray Data as rows of *paths* (never volumes), a few cases
  per block (:func:`cases_per_block`), ``map_batches`` over an autoscaling
  actor pool (one CPU per actor, PyRadiomics imported once per actor).  Each
  case returns a feature record or an error record (caught per case, so Ray
  never drops a block).
* A small job on this machine (no cluster address, Ray not running) skips Ray:
  :mod:`alnm_ray.extract.local` runs the same per-case work on a local
  process pool (see :func:`~alnm_ray.table_job.runs_locally`).
* The finished cases of each block are checkpointed in the store by its actor
  (:mod:`alnm_ray.extract.checkpoint`): a re-run after a killed driver
  computes only the cases that had not finished.
* Feature columns are unioned across cases, NaN where a feature does not
  apply (2-D and 3-D sequences have different features).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from alnm_ray.constants import CASE_KEY, COL_CASE_HASH, COL_EXTRACTED_AT, TABLE_RADIOMICS
from alnm_ray.extract.case import RECORD_SCHEMA, process_case, results_to_arrow, share_feature_names
from alnm_ray.extract.checkpoint import CaseCheckpoint
from alnm_ray.extract.hashing import library_versions
from alnm_ray.extract.local import available_cpus, run_local
from alnm_ray.extract.params import ExtractionParams, check_compatible
from alnm_ray.extract.summary import ExtractionReport
from alnm_ray.preprocess.config import PreprocessPlan
from alnm_ray.progress import progress
from alnm_ray.table_job import BASE_META_COLUMNS, STATUS_OK, TableJob, run_table_job

logger = logging.getLogger(__name__)

#: Retries of a case whose Ray worker died (not of cases that raise: those become error rows).
MAX_TASK_RETRIES = 2
#: Most cases per Ray Data block: Ray's per-block cost (tens of ms) is shared by this many cases,
#: while blocks stay small enough to balance the actors and to lose little when one dies.
MAX_CASES_PER_BLOCK = 16
#: Blocks per actor aimed at (the last blocks' imbalance is at most one block).
BLOCKS_PER_ACTOR = 4
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

    def __call__(self, batch: pa.Table) -> pa.Table:
        results = [process_case(row, self.plan, self.params, debug=self.debug) for row in batch.to_pylist()]
        table = results_to_arrow(results)  # built once: the block returned and its checkpoint
        if self.checkpoint is not None:  # survives a killed driver; one file per block
            ok = [r.ok for r in results]
            self.checkpoint.save_batch(table if all(ok) else table.filter(pa.array(ok, pa.bool_())))
        return table


def cases_per_block(n_items: int, actors: int) -> int:
    """Cases per Ray Data block: about :data:`BLOCKS_PER_ACTOR` blocks per actor, at most
    :data:`MAX_CASES_PER_BLOCK`.

    Example:
        >>> cases_per_block(32, 2), cases_per_block(2000, 2), cases_per_block(5, 2)
        (4, 16, 1)
    """
    return max(1, min(MAX_CASES_PER_BLOCK, n_items // max(1, actors * BLOCKS_PER_ACTOR)))


def _actor_pool(strategy: Any, size: int, blocks: int) -> Any:
    """An autoscaling pool of 1..``size`` actors starting with as many as there are blocks (at most ``size``)."""
    initial = max(1, min(size, blocks))
    try:
        return strategy(min_size=1, max_size=size, initial_size=initial)
    except TypeError:  # a Ray without initial_size: the pool grows from one actor
        return strategy(min_size=1, max_size=size)


def _run_dataset(items: list[dict[str, Any]], plan: PreprocessPlan, params: ExtractionParams, *,
                 debug: bool, num_cpus: int | None, checkpoint: CaseCheckpoint | None = None,
                 quiet: bool = False) -> list[dict[str, Any]]:
    """Extract ``items`` on Ray Data; returns one record per item that came back.

    Progress counts cases (plain lines when stderr is not a terminal), not Ray Data's blocks.
    """
    import ray
    from ray.data import ActorPoolStrategy

    from alnm_ray.runtime import cluster_cpus

    size = max(1, int(num_cpus or cluster_cpus()))
    per_block = cases_per_block(len(items), size)
    blocks = -(-len(items) // per_block)
    ds: Any = ray.data.from_items(items, override_num_blocks=blocks)
    # An autoscaling pool (1..CPUs): a fixed pool taking every CPU can deadlock Ray Data.  All its
    # actors start at once (initial_size): grown one by one, the second started ~2.4 s after the
    # first on 2 cores (bench_extract.py --suite many), a worker idle all that time.
    kwargs: dict[str, Any] = {
        "batch_size": per_block, "batch_format": "pyarrow", "num_cpus": 1,
        "compute": _actor_pool(ActorPoolStrategy, size, blocks),
        "fn_constructor_kwargs": {"plan": plan, "params": params, "debug": debug, "checkpoint": checkpoint}}
    try:
        # Ray Data retries a case whose actor died forever by default; a case that reliably
        # kills its worker (segfault, out of memory) would then hang the job.  The retry limit
        # is only reachable through the deprecated **ray_remote_args (no named parameter in 2.60).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ds = ds.map_batches(_CaseExtractor, max_task_retries=MAX_TASK_RETRIES, **kwargs)
    except TypeError:  # a Ray that dropped **ray_remote_args: its default retries apply
        ds = ds.map_batches(_CaseExtractor, **kwargs)
    records: list[dict[str, Any]] = []
    seen: dict[tuple[str, ...], list[str]] = {}
    failed = 0
    with progress(len(items), "extract", quiet=quiet) as bar:
        for table in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            batch = share_feature_names(table.cast(RECORD_SCHEMA).to_pylist(), seen)
            records.extend(batch)
            failed += sum(1 for r in batch if r["status"] != STATUS_OK)
            bar.update(len(batch), failed=failed)
    return records


def _feature_rows(records: list[dict[str, Any]], manifest: pd.DataFrame) -> pd.DataFrame:
    """Feature rows of successful records (meta columns + one column per feature)."""
    if not records:
        return pd.DataFrame(columns=[*CASE_KEY, COL_CASE_HASH, COL_EXTRACTED_AT])
    meta = pd.DataFrame([{**{c: r[c] for c in CASE_KEY}, COL_CASE_HASH: r[COL_CASE_HASH],
                          COL_EXTRACTED_AT: r["extracted_at"]} for r in records])
    # Records with the same feature names (one list per distinct list: share_feature_names) become
    # one float64 matrix each: a dict per case and a column-by-column frame took ~1 s per 1,000 cases.
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(tuple(r["feature_names"] or ()), []).append(i)
    parts = [pd.DataFrame(np.array([records[i]["feature_values"] for i in rows], dtype="float64").reshape(len(rows), len(names)),
                          index=rows, columns=list(names))
             for names, rows in groups.items()]
    feats = parts[0] if len(parts) == 1 else pd.concat(parts, sort=False).sort_index()
    return pd.concat([meta, feats.astype("float64")], axis=1)


def run_extraction(manifest: pd.DataFrame, store: Any, *, params: ExtractionParams, plan: PreprocessPlan,
                   table: str = TABLE_RADIOMICS, lineage: dict[str, Any] | None = None,
                   quiet: bool = False, debug: bool = False, num_cpus: int | None = None,
                   hash_workers: int = 4, ray_config: Any = None,
                   show_progress: bool | None = None) -> ExtractionReport:
    """Extract radiomics features for a manifest into a new store version.

    The flow (hashing, reuse, versioning, error rows) is
    :func:`~alnm_ray.table_job.run_table_job`'s; this stage adds the
    PyRadiomics actor pool, per-case checkpoints and the version's params.

    Args:
        manifest: Validated manifest rows (``CASE_KEY`` columns, absolute
            ``image``/``mask`` paths, optional ``mask_label``, ``label``, ``split``).
        store: A :class:`~alnm_ray.store.FeatureStore` or its URI.
        params: PyRadiomics params.
        plan: Preprocessing plan.
        table: Store table to write.
        lineage: Recorded with the version (e.g. manifest path and checksum).
        quiet: No progress lines and no Ray start-up messages.
        debug: Re-raise a case's original error (stops the job).
        num_cpus: Concurrent extraction workers (default: the cluster's CPUs; on the local
            path, ``ray_config.num_cpus`` or this machine's CPUs).
        hash_workers: Threads hashing files on the driver.
        ray_config: How to reach Ray (:class:`~alnm_ray.runtime.RayConfig`) when
            Ray is not running yet; it is started only if some case needs computing
            and shut down afterwards.
        show_progress: Cases-done lines on stderr; ``None``: unless ``quiet``
            (a caller that keeps Ray quiet can still show them).

    Returns:
        An :class:`ExtractionReport`.

    Raises:
        ManifestError: Missing columns or duplicate cases.
        ConfigError: Params incompatible with the plan.
    """
    check_compatible(params, plan)
    versions = library_versions()
    bar = not quiet if show_progress is None else show_progress

    def compute(items: list[dict[str, Any]], checkpoint: CaseCheckpoint | None) -> list[dict[str, Any]]:
        return _run_dataset(items, plan, params, debug=debug, num_cpus=num_cpus, checkpoint=checkpoint,
                            quiet=not bar)

    def compute_local(items: list[dict[str, Any]], checkpoint: CaseCheckpoint | None) -> list[dict[str, Any]]:
        workers = num_cpus or getattr(ray_config, "num_cpus", None) or available_cpus()
        return run_local(items, plan, params, workers=workers, debug=debug, checkpoint=checkpoint,
                         quiet=not bar)

    job = TableJob(stage="extract", table=table, plan=plan, config_name="params", config_hash=params.hash(),
                   versions=versions, compute=compute, feature_rows=_feature_rows,
                   version_params=lambda out: _version_params(params, plan, versions, out),
                   checkpoints=True, compute_local=compute_local,
                   ray_progress_bars=False)  # _run_dataset shows its own bar: cases, not blocks
    return run_table_job(manifest, store, job, report=ExtractionReport(version=None), lineage=lineage,
                         quiet=quiet, debug=debug, ray_config=ray_config, hash_workers=hash_workers)


def _version_params(params: ExtractionParams, plan: PreprocessPlan, versions: dict[str, str],
                    out: pd.DataFrame) -> dict[str, Any]:
    features = [c for c in out.columns if c not in BASE_META_COLUMNS]
    by_seq = {}
    if features and len(out):
        present = out[features].notna().to_numpy()
        sequences = out["sequence"].astype(str).to_numpy()
        for seq in sorted(set(sequences)):
            by_seq[seq] = int(present[sequences == seq].any(axis=0).sum())
    return {"pyradiomics_params": params.as_dict(), "params_source": params.source,
            "params_sha256": params.hash(), "dropped_image_types": [list(d) for d in params.dropped],
            "preprocess": plan.to_dict(), "preprocess_sha256": plan.hash(), "library_versions": versions,
            "feature_columns": len(features), "features_by_sequence": by_seq, "missing_values": MISSING_POLICY}
