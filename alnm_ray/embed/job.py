"""The embedding job: manifest -> (incremental) Ray Data inference -> a ``deep`` store version.

Same versioning, cache and error handling as radiomics extraction
(:mod:`alnm_ray.extract.job`, whose manifest check, case hashing and stored-row
lookup are reused here):

1. Every case's image and mask are hashed; its case hash adds the mask label,
   the sequence's preprocessing, the embedding config and the weights' SHA-256.
2. The version id hashes all case hashes (plus rows of other cohorts kept from
   the latest version) and the table config; when the store has it, nothing is
   computed or written.
3. Rows whose case hash is stored (in any version) are reused.
4. The rest go through Ray Data: plain CPU tasks read and preprocess each case
   (:func:`~alnm_ray.embed.cases.prepare_row`), then an autoscaling actor pool
   (:class:`~alnm_ray.embed.actor.EmbedActor`) embeds batches.  GPU actors
   (``num_gpus``) only when the cluster declares GPUs — a ``num_gpus`` request
   on a cluster without them waits forever — else CPU actors.
5. The new version holds reused + new rows (+ other cohorts' rows); failures
   are error rows.  Always: cases in = feature rows + error rows.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray.constants import (
    CASE_KEY, COL_CASE_HASH, COL_COHORT, COL_EXTRACTED_AT, COL_IMAGE, COL_LABEL, COL_MASK, COL_MASK_LABEL,
    COL_SPLIT, ERROR_COLUMNS, TABLE_DEEP,
)
from alnm_ray.embed.actor import COL_DEVICE, COL_EMBEDDING, COL_ERROR_MESSAGE, COL_ERROR_TYPE, COL_NODE, EmbedActor
from alnm_ray.embed.cases import COL_ERROR_STAGE, STAGE_EMBED, case_label, prepare_row
from alnm_ray.embed.config import EmbedConfig
from alnm_ray.embed.model import FEATURE_COLUMNS
from alnm_ray.embed.resources import ActorPlan, plan_actors
from alnm_ray.exceptions import ExtractionError, RandomWeightsWarning
from alnm_ray.extract.summary import ExtractionReport
from alnm_ray.preprocess.config import PreprocessPlan, load_plan

logger = logging.getLogger(__name__)

#: Provenance column: ``sha256:<hex>`` of the weights file, or ``random(seed=N)``.
COL_WEIGHTS = "weights"
#: Non-feature columns of a ``deep`` row, in table order.
META_COLUMNS: tuple[str, ...] = (*CASE_KEY, COL_LABEL, COL_SPLIT, COL_MASK_LABEL, COL_CASE_HASH,
                                 COL_EXTRACTED_AT, COL_WEIGHTS)
#: Row index carried through Ray to join results back to the manifest.
_COL_ROW = "_row"
#: Memory each preparing task reserves (a worker with torch/MONAI loaded measured
#: ~350 MiB on a small case; one MRI volume through N4 and B-spline
#: resampling stays well below this).  Declaring it also keeps Ray Data from
#: fusing the preparing map into the actor stage (fusion needs equal remote
#: args), so reading and preprocessing overlap inference instead of running
#: inside the actors.
PREPARE_MEMORY_BYTES = 512 * 1024**2


@dataclass
class EmbedSummary(ExtractionReport):
    """What one embedding run did (the extraction report plus the model side).

    Attributes:
        weights: Provenance: ``sha256:<hex>`` or ``random(seed=N)``.
        actors: How the actor pool was sized (``None`` when nothing ran).
        devices: Embedded cases per torch device (``{"cpu": 3}``).
        nodes: Embedded cases per Ray node id.
    """

    weights: str = ""
    actors: ActorPlan | None = None
    devices: dict[str, int] = field(default_factory=dict)
    nodes: dict[str, int] = field(default_factory=dict)

    def summary_line(self) -> str:
        """``embed: 40 cases: 3 done, 36 cached, 1 failed in 12.3 s -> deep@ab12…; weights …; cpu actors 1-1``."""
        line = super().summary_line().replace("extract:", "embed:", 1)
        pool = "" if self.actors is None else (
            f"; {self.actors.kind} actors {self.actors.min_size}-{self.actors.max_size} on "
            + ", ".join(f"{d} x{n}" for d, n in sorted(self.devices.items())))
        return f"{line}; weights {self.weights}{pool}"

    def to_json(self) -> dict[str, Any]:
        """Counters, timings (s), version, weights and actors, JSON-able."""
        out = super().to_json()
        out.update(weights=self.weights, actors=None if self.actors is None else asdict(self.actors),
                   devices=dict(self.devices), nodes=dict(self.nodes))
        return out


class _EmbedParams:
    """Stands in for PyRadiomics params in the shared case hash: the embedding config's hash."""

    def __init__(self, config: EmbedConfig, weights_sha: str | None) -> None:
        self._hash = config.stable_hash(weights_sha)

    def hash(self) -> str:
        return self._hash


def weights_identity(config: EmbedConfig) -> tuple[str | None, str]:
    """``(sha256 or None, provenance string)`` of the configured weights.

    Raises:
        FileNotFoundError: When the weights file does not exist.
    """
    from alnm_ray.extract.hashing import sha256_file

    if config.weights is None:
        return None, f"random(seed={config.seed})"
    sha = sha256_file(config.weights)
    return sha, f"sha256:{sha}"


def code_versions() -> dict[str, str]:
    """Versions of the libraries whose changes can change an embedding."""
    import monai
    import torch

    from alnm_ray.extract.hashing import library_versions

    libs = library_versions()
    out: dict[str, str] = {k: libs[k] for k in ("SimpleITK", "antspyx", "numpy", "alnm-ray") if k in libs}
    out.update(torch=str(torch.__version__), monai=str(monai.__version__))
    return out


def embed_cases(rows: list[dict[str, Any]], config: EmbedConfig, plan: PreprocessPlan, *,
                state: dict[str, Any] | None, actors: ActorPlan, quiet: bool = True,
                debug: bool = False) -> list[dict[str, Any]]:
    """Run the two Ray Data stages over ``rows`` and collect every result row.

    Args:
        rows: Plain dicts with ``_row``, the case key, ``image``, ``mask``, ``mask_label``.
        config: The embedding config.
        plan: Preprocessing per sequence.
        state: Mapped state dict (weights) or ``None`` for random weights.
        actors: Actor resources and pool size.
        quiet: No progress output.
        debug: Re-raise case failures (stops the job).

    Returns:
        One dict per row that came back: ``_row``, ``_embedding`` (512 float32,
        NaN when failed), error columns, ``_node``, ``_device``.
    """
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    from alnm_ray.progress import progress

    ctor: dict[str, Any] = {"config": config.to_dict(), "state": None}
    if state is not None:
        ctor["state"] = [ray.put(state)]
    ctx = DataContext.get_current()
    saved = (ctx.enable_progress_bars, ctx.max_errored_blocks, ctx.print_on_execution_start)
    ctx.enable_progress_bars = False  # ours below counts cases, not blocks
    ctx.print_on_execution_start = not quiet
    if not debug:
        # Failures are caught per case; a block only errors when its worker dies. Those rows are
        # reconciled into error rows by the caller instead of failing the whole run.
        ctx.max_errored_blocks = len(rows)
    remote: dict[str, Any] = {"num_cpus": actors.num_cpus}
    if actors.num_gpus > 0:
        remote["num_gpus"] = actors.num_gpus
    out: list[dict[str, Any]] = []
    keep = (_COL_ROW, COL_EMBEDDING, COL_ERROR_STAGE, COL_ERROR_TYPE, COL_ERROR_MESSAGE, COL_NODE, COL_DEVICE)
    try:
        ds: Any = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows), 64)))
        ds = ds.map(prepare_row, num_cpus=1, memory=PREPARE_MEMORY_BYTES, fn_kwargs={
            "config": config.to_dict(), "preprocess": {s: c.to_dict() for s, c in plan.sequences},
            "default_preprocess": plan.default.to_dict(), "debug": debug})
        ds = ds.map_batches(EmbedActor, batch_size=config.batch_size, batch_format="numpy",
                            compute=ActorPoolStrategy(min_size=actors.min_size, max_size=actors.max_size),
                            fn_constructor_kwargs=ctor, **remote)
        with progress(len(rows), "embed", quiet=quiet) as bar:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                n = len(batch[_COL_ROW])
                out.extend({k: batch[k][i] for k in keep} for i in range(n))
                bar.update(n, failed=sum(1 for r in out if r[COL_ERROR_TYPE]))
    finally:
        ctx.enable_progress_bars, ctx.max_errored_blocks, ctx.print_on_execution_start = saved
    return out


def _feature_rows(df: pd.DataFrame, ok: list[dict[str, Any]], weights: str, now: str) -> pd.DataFrame:
    idx = [int(r[_COL_ROW]) for r in ok]
    meta = df.iloc[idx][[*CASE_KEY, COL_CASE_HASH]].reset_index(drop=True)
    meta[COL_EXTRACTED_AT] = now
    meta[COL_WEIGHTS] = weights
    emb = (np.stack([np.asarray(r[COL_EMBEDDING], dtype=np.float64) for r in ok]) if ok
           else np.zeros((0, len(FEATURE_COLUMNS))))
    return pd.concat([meta, pd.DataFrame(emb, columns=list(FEATURE_COLUMNS))], axis=1)


def _assemble(parts: list[pd.DataFrame], df: pd.DataFrame) -> pd.DataFrame:
    """Union the parts, carry label/split/mask_label from the manifest, fix order and dtypes."""
    parts = [p for p in parts if not p.empty]
    out = (pd.concat(parts, ignore_index=True, sort=False) if parts
           else pd.DataFrame(columns=[*CASE_KEY, COL_CASE_HASH, COL_EXTRACTED_AT, COL_WEIGHTS, *FEATURE_COLUMNS]))
    by_hash = df.set_index(COL_CASE_HASH)
    for col in (COL_LABEL, COL_SPLIT, COL_MASK_LABEL):
        if col in df.columns:
            mapped = out[COL_CASE_HASH].map(by_hash[col])
            out[col] = mapped.where(mapped.notna(), out[col]) if col in out.columns else mapped
    out = out[[c for c in META_COLUMNS if c in out.columns] + list(FEATURE_COLUMNS)]
    for col in (*CASE_KEY, COL_CASE_HASH, COL_EXTRACTED_AT, COL_SPLIT, COL_WEIGHTS):
        if col in out.columns:
            out[col] = out[col].astype("string")
    for col in (COL_LABEL, COL_MASK_LABEL):
        if col in out.columns:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
    out[list(FEATURE_COLUMNS)] = out[list(FEATURE_COLUMNS)].astype("float64")
    return out.sort_values(list(CASE_KEY), kind="stable").reset_index(drop=True)


def run_embedding(manifest: pd.DataFrame, store: Any, config: EmbedConfig | None = None, *,
                  plan: PreprocessPlan | str, table: str = TABLE_DEEP, lineage: dict[str, Any] | None = None,
                  quiet: bool = True, debug: bool = False, ray_config: Any = None,
                  hash_workers: int = 4) -> EmbedSummary:
    """Embed every case of ``manifest`` into a new version of ``table``.

    Args:
        manifest: Manifest rows (``CASE_KEY`` columns, absolute ``image``/``mask``
            paths, optional ``mask_label``, ``label``, ``split``).
        store: A :class:`~alnm_ray.store.FeatureStore` or its URI.
        config: Embedding config (default: the paper preset, random weights).
        plan: Preprocessing plan, or a preset name / YAML path (``none``,
            ``guo2024``); the ROI crop is always on, with ``config.margin_mm``.
        table: Store table to write.
        lineage: Recorded with the version (e.g. manifest path and checksum).
        quiet: No progress output on stderr.
        debug: Re-raise a case's original error (stops the job).
        ray_config: How to reach Ray (:class:`~alnm_ray.runtime.RayConfig`)
            when it is not running yet; started only when some case needs
            computing, and shut down afterwards.
        hash_workers: Threads hashing files on the driver.

    Returns:
        An :class:`EmbedSummary`.

    Raises:
        ManifestError: Missing columns or duplicate cases.
        FileNotFoundError: When the weights file does not exist.
        WeightsError: When it is unreadable or does not fit (before any Ray work).
        ConfigError: When no node of the cluster can host one actor.
    """
    from alnm_ray.embed.weights import prepare_weights
    from alnm_ray.extract.hashing import stable_hash, version_id
    from alnm_ray.extract.job import _check_manifest, _hash_cases, _stored_rows
    from alnm_ray.runtime import RayConfig, ray_session
    from alnm_ray.store import FeatureStore
    from alnm_ray.store.versions import utc_now

    t0 = time.perf_counter()
    config = config or EmbedConfig()
    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    plan = load_plan(plan)
    df = _check_manifest(manifest)
    weights_sha, weights = weights_identity(config)
    state, report = (prepare_weights(config.weights, strict=config.strict_weights, seed=config.seed)
                     if config.weights is not None else (None, None))
    if config.weights is None:
        warnings.warn(f"embedding with randomly initialised weights ({weights}); the features are not "
                      "pretrained. Pass --weights with a MedicalNet ResNet-18 checkpoint for the paper's "
                      "setting.", RandomWeightsWarning, stacklevel=2)
    versions = code_versions()
    hashes, read_errors = _hash_cases(df, plan, _EmbedParams(config, weights_sha), versions,  # type: ignore[arg-type]
                                      hash_workers)
    df[COL_CASE_HASH] = hashes
    latest = store.latest(table)
    carried = pd.DataFrame()
    if latest is not None:
        prev = store.read(table, version=latest.version).to_pandas()
        if COL_COHORT in prev.columns:
            carried = prev[~prev[COL_COHORT].astype(str).isin(set(df[COL_COHORT]))]
    meta_cols = [c for c in (COL_LABEL, COL_SPLIT) if c in df.columns]
    table_config = {"table": table, "embed": config.stable_hash(weights_sha), "preprocess": plan.hash(),
                    "versions": versions, "row_metadata": stable_hash(sorted(
                        map(str, df[[COL_CASE_HASH, *meta_cols]].astype(str).itertuples(index=False))))}
    vid = version_id(list(hashes) + (list(carried[COL_CASE_HASH]) if not carried.empty else []),
                     table_config=table_config)
    summary = EmbedSummary(version=None, cases=len(df), carried=len(carried), weights=weights)
    existing = next((v for v in store.versions(table) if v.version == vid), None)
    if existing is not None:
        errs = store.read_errors(table, version=vid).to_pandas()
        summary.errors = errs[[c for c in ERROR_COLUMNS if c in errs.columns]]
        summary.version, summary.existed = existing, True
        summary.failed, summary.cached = len(errs), len(df) - len(errs)
        summary.seconds = time.perf_counter() - t0
        return summary

    todo = df[~df.index.isin(read_errors)]
    stored = _stored_rows(store, table, set(todo[COL_CASE_HASH])) if latest is not None else pd.DataFrame()
    stored_hashes = set(stored[COL_CASE_HASH]) if not stored.empty else set()
    todo = todo[~todo[COL_CASE_HASH].isin(stored_hashes)]
    rows = [{_COL_ROW: int(i), **{k: str(r[k]) for k in (*CASE_KEY, COL_IMAGE, COL_MASK)},
             COL_MASK_LABEL: int(r[COL_MASK_LABEL])} for i, r in todo.iterrows()]
    results: list[dict[str, Any]] = []
    if rows:
        t_ray = time.perf_counter()
        # Ray starts only when there is work: a re-run with nothing new never pays its start-up.
        with ray_session(ray_config or RayConfig(quiet=quiet)):
            summary.actors = plan_actors(config, n_batches=-(-len(rows) // config.batch_size))
            logger.info("embedding %d case(s) with %s", len(rows), summary.actors)
            results = embed_cases(rows, config, plan, state=state, actors=summary.actors, quiet=quiet,
                                  debug=debug)
        summary.ray_seconds = time.perf_counter() - t_ray
    returned = {int(r[_COL_ROW]) for r in results}
    results += [{_COL_ROW: r[_COL_ROW], COL_ERROR_STAGE: STAGE_EMBED, COL_ERROR_TYPE: "WorkerLost",
                 COL_ERROR_MESSAGE: f"{case_label(r)}: the Ray worker embedding this case ended without a "
                                    "result (worker crash or out of memory). Re-run to retry it."}
                for r in rows if r[_COL_ROW] not in returned]
    ok = sorted((r for r in results if not r[COL_ERROR_TYPE]), key=lambda r: int(r[_COL_ROW]))
    error_rows = [{"stage": e["stage"], **{c: df.at[i, c] for c in CASE_KEY}, "error_type": e["error_type"],
                   "message": e["message"]} for i, e in sorted(read_errors.items())]
    error_rows += [{"stage": r[COL_ERROR_STAGE] or STAGE_EMBED, **{c: df.at[int(r[_COL_ROW]), c] for c in CASE_KEY},
                    "error_type": r[COL_ERROR_TYPE], "message": r[COL_ERROR_MESSAGE]}
                   for r in sorted(results, key=lambda r: int(r[_COL_ROW])) if r[COL_ERROR_TYPE]]
    errors = pd.DataFrame(error_rows, columns=list(ERROR_COLUMNS)).astype("string")
    reused = stored[stored[COL_CASE_HASH].isin(set(df[COL_CASE_HASH]))] if not stored.empty else stored
    out = _assemble([reused, _feature_rows(df, ok, weights, utc_now()), carried], df)
    if int(out[COL_CASE_HASH].isin(set(df[COL_CASE_HASH])).sum()) + len(errors) != len(df):
        raise ExtractionError(f"internal check failed: {len(df)} cases in, {len(ok) + len(reused)} feature rows + "
                              f"{len(errors)} error rows out. Re-run with --debug and report this.")
    summary.computed, summary.cached, summary.failed, summary.errors = len(rows), len(reused), len(errors), errors
    summary.devices = dict(Counter(str(r[COL_DEVICE]) for r in ok))
    summary.nodes = dict(Counter(str(r[COL_NODE]) for r in ok))
    for _, e in errors.iterrows():
        logger.warning("case failed in stage %s: %s", e["stage"], e["message"])
    params = {"embed": config.to_dict(), "embed_sha256": config.stable_hash(weights_sha), "weights": weights,
              "weights_sha256": weights_sha,
              "weights_report": None if report is None else {
                  "loaded": report.loaded, "ignored": list(report.ignored), "missing": list(report.missing),
                  "unexpected": list(report.unexpected)},
              "model": "monai.networks.nets.resnet18(spatial_dims=3, n_input_channels=1, conv1_t_size=7, "
                       "conv1_t_stride=2, shortcut_type='A', feed_forward=False); fc=Identity; eval; no grad",
              "preprocess": plan.to_dict(), "preprocess_sha256": plan.hash(), "library_versions": versions,
              "actors": None if summary.actors is None else asdict(summary.actors)}
    summary.version = store.write_version(
        table, out, version_id=vid, params=params,
        lineage=dict(lineage or {}, carried_cohorts=sorted(set(carried[COL_COHORT])) if len(carried) else []),
        parent=latest.version if latest is not None else None, errors=errors, counts=summary.counts())
    summary.seconds = time.perf_counter() - t0
    return summary
