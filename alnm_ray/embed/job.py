"""The embedding job: manifest -> (incremental) Ray Data inference -> a ``deep`` store version.

The incremental flow is :func:`alnm_ray.table_job.run_table_job`'s, shared
with radiomics extraction: case hashes, reuse of stored rows, rows of other
cohorts kept, the version id, lost-worker reconciliation and the write.  This
stage supplies the rest:

* The case hash holds the embedding config and the weights' SHA-256
  (:meth:`~alnm_ray.embed.config.EmbedConfig.stable_hash`) and the versions of
  torch, MONAI and the imaging libraries (:func:`code_versions`).
* Cases go through two Ray Data stages: plain CPU tasks read and preprocess
  each case (:func:`~alnm_ray.embed.cases.prepare_row`), then an autoscaling
  actor pool (:class:`~alnm_ray.embed.actor.EmbedActor`) embeds batches.  GPU
  actors (``num_gpus``) only when the cluster declares GPUs — a ``num_gpus``
  request on a cluster without them waits forever — else CPU actors.
* Every version has the 512 columns ``deep_000`` … ``deep_511`` and the
  weights' provenance.
"""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from alnm_ray.constants import CASE_KEY, COL_CASE_HASH, COL_EXTRACTED_AT, TABLE_DEEP
from alnm_ray.embed.actor import COL_DEVICE, COL_EMBEDDING, COL_ERROR_MESSAGE, COL_ERROR_TYPE, COL_NODE, EmbedActor
from alnm_ray.embed.cases import COL_ERROR_STAGE, STAGE_EMBED, prepare_row
from alnm_ray.embed.config import EmbedConfig
from alnm_ray.embed.model import FEATURE_COLUMNS
from alnm_ray.embed.resources import ActorPlan, plan_actors
from alnm_ray.exceptions import RandomWeightsWarning
from alnm_ray.extract.summary import ExtractionReport
from alnm_ray.preprocess.config import PreprocessPlan, load_plan
from alnm_ray.table_job import BASE_META_COLUMNS, STATUS_OK, Record, TableJob, run_table_job

logger = logging.getLogger(__name__)

#: Provenance column: ``sha256:<hex>`` of the weights file, or ``random(seed=N)``.
COL_WEIGHTS = "weights"
#: Non-feature columns of a ``deep`` row, in table order.
META_COLUMNS: tuple[str, ...] = (*BASE_META_COLUMNS, COL_WEIGHTS)
#: Memory each preparing task reserves (a worker with torch/MONAI loaded measured
#: ~350 MiB on a small case; one MRI volume through N4 and B-spline
#: resampling stays well below this).  Declaring it also keeps Ray Data from
#: fusing the preparing map into the actor stage (fusion needs equal remote
#: args), so reading and preprocessing overlap inference instead of running
#: inside the actors.
PREPARE_MEMORY_BYTES = 512 * 1024**2
#: Smallest Ray Data batch of a GPU actor (volumes per call): a GPU's throughput keeps growing with
#: the batch well past the CPU default, and the actor sizes its forward passes from the device's free
#: memory (:meth:`~alnm_ray.embed.actor.EmbedActor.gpu_pass_size`), splitting a batch that does not fit.
GPU_BATCH_SIZE = 32
#: Batches queued on one actor at a time (Ray Data's default is 4).  Two keep an actor busy (the next
#: batch arrives while one runs) without piling the first batches of a short job onto the actor that
#: started first while the others are still loading torch: measured on 2 CPUs with 4 batches, the
#: default gave every batch to one actor of a pool of two.
TASKS_PER_ACTOR = 2


def batch_size_for(config: EmbedConfig, actors: ActorPlan) -> int:
    """Volumes per Ray Data batch: ``config.batch_size``, at least :data:`GPU_BATCH_SIZE` on GPU actors.

    Example:
        >>> cpu = ActorPlan(kind="cpu", num_cpus=1, num_gpus=0, min_size=1, max_size=1)
        >>> batch_size_for(EmbedConfig(batch_size=4), cpu), batch_size_for(EmbedConfig(batch_size=4),
        ...     ActorPlan(kind="gpu", num_cpus=1, num_gpus=1, min_size=1, max_size=1))
        (4, 32)
    """
    return max(int(config.batch_size), GPU_BATCH_SIZE) if actors.kind == "gpu" else int(config.batch_size)


@dataclass
class EmbedSummary(ExtractionReport):
    """What one embedding run did (the extraction report plus the model side).

    Attributes:
        weights: Provenance: ``sha256:<hex>`` or ``random(seed=N)``.
        actors: How the actor pool was sized (``None`` when nothing ran).
        devices: Embedded cases per torch device (``{"cpu": 3}``).
        nodes: Embedded cases per Ray node id.
    """

    stage: ClassVar[str] = "embed"
    weights: str = ""
    actors: ActorPlan | None = None
    devices: dict[str, int] = field(default_factory=dict)
    nodes: dict[str, int] = field(default_factory=dict)

    def summary_line(self) -> str:
        """``embed: 40 cases: 3 done, 36 cached, 1 failed in 12.3 s -> deep@ab12…; weights …; cpu actors 1-1``."""
        line = super().summary_line()
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


def weights_identity(config: EmbedConfig) -> tuple[str | None, str]:
    """``(sha256 or None, provenance string)`` of the configured weights.

    Raises:
        FileNotFoundError: When the weights file does not exist.
    """
    from alnm_ray.embed.weights import weights_identity as identity  # one file, or one per extractor

    return identity(config)


def code_versions() -> dict[str, str]:
    """Versions of the libraries whose changes can change an embedding."""
    import monai
    import torch

    from alnm_ray.extract.hashing import library_versions

    libs = library_versions()
    out: dict[str, str] = {k: libs[k] for k in ("SimpleITK", "antspyx", "numpy", "alnm-ray") if k in libs}
    out.update(torch=str(torch.__version__), monai=str(monai.__version__))
    return out


def embed_cases(items: list[dict[str, Any]], config: EmbedConfig, plan: PreprocessPlan, *,
                state: dict[str, Any] | None, actors: ActorPlan, quiet: bool = True,
                debug: bool = False) -> list[Record]:
    """Run the two Ray Data stages over ``items`` and collect one record per case that came back.

    Ray Data's own settings (progress bars, tolerated block failures) are the
    caller's: :func:`~alnm_ray.table_job.run_table_job` sets them.

    Args:
        items: Plain dicts with the case key, ``image``, ``mask``, ``mask_label`` and ``case_hash``.
        config: The embedding config.
        plan: Preprocessing per sequence.
        state: Mapped state dict (weights) or ``None`` for random weights.
        actors: Actor resources and pool size.
        quiet: No progress output.
        debug: Re-raise case failures (stops the job).

    Returns:
        :class:`~alnm_ray.table_job.TableJob` records: ``case_hash``,
        ``status``, ``stage``, ``error_type``, ``message``, plus
        ``embedding`` (512 float32, NaN when failed), ``node`` and ``device``.
    """
    import ray
    from ray.data import ActorPoolStrategy

    from alnm_ray.progress import progress

    ctor: dict[str, Any] = {"config": config.to_dict(), "state": None}
    if state is not None:
        ctor["state"] = [ray.put(state)]
    remote: dict[str, Any] = {"num_cpus": actors.num_cpus}
    if actors.num_gpus > 0:
        remote["num_gpus"] = actors.num_gpus
    out: list[Record] = []
    ds: Any = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), 64)))
    ds = ds.map(prepare_row, num_cpus=1, memory=PREPARE_MEMORY_BYTES, fn_kwargs={
        "config": config.to_dict(), "preprocess": {s: c.to_dict() for s, c in plan.sequences},
        "default_preprocess": plan.default.to_dict(), "debug": debug})
    ds = ds.map_batches(EmbedActor, batch_size=batch_size_for(config, actors), batch_format="numpy",
                        compute=ActorPoolStrategy(min_size=actors.min_size, max_size=actors.max_size,
                                                  max_tasks_in_flight_per_actor=TASKS_PER_ACTOR),
                        fn_constructor_kwargs=ctor, **remote)
    with progress(len(items), "embed", quiet=quiet) as bar:
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            n = len(batch[COL_CASE_HASH])
            out.extend(_record(batch, i) for i in range(n))
            bar.update(n, failed=sum(1 for r in out if r["status"] != STATUS_OK))
    return out


def _record(batch: dict[str, np.ndarray], i: int) -> Record:
    """Row ``i`` of an actor's output batch as a :class:`~alnm_ray.table_job.TableJob` record."""
    error_type = str(batch[COL_ERROR_TYPE][i] or "")
    return {COL_CASE_HASH: str(batch[COL_CASE_HASH][i]), "status": "error" if error_type else STATUS_OK,
            "stage": str(batch[COL_ERROR_STAGE][i] or "") or STAGE_EMBED, "error_type": error_type,
            "message": str(batch[COL_ERROR_MESSAGE][i] or ""), "embedding": batch[COL_EMBEDDING][i],
            "node": str(batch[COL_NODE][i]), "device": str(batch[COL_DEVICE][i])}


def _feature_rows(records: list[Record], manifest: pd.DataFrame, weights: str,
                  columns: tuple[str, ...] = FEATURE_COLUMNS) -> pd.DataFrame:
    """One ``deep`` row per successful record: the case key, provenance and 512 embedding values."""
    from alnm_ray.store.versions import utc_now

    meta = manifest.set_index(COL_CASE_HASH).loc[[r[COL_CASE_HASH] for r in records], list(CASE_KEY)]
    meta = meta.reset_index()
    meta[COL_EXTRACTED_AT] = utc_now()
    meta[COL_WEIGHTS] = weights
    emb = (np.stack([np.asarray(r["embedding"], dtype=np.float64) for r in records]) if records
           else np.zeros((0, len(columns))))
    return pd.concat([meta, pd.DataFrame(emb, columns=list(columns))], axis=1)


def run_embedding(manifest: pd.DataFrame, store: Any, config: EmbedConfig | None = None, *,
                  plan: PreprocessPlan | str, table: str = TABLE_DEEP, lineage: dict[str, Any] | None = None,
                  quiet: bool = True, debug: bool = False, ray_config: Any = None,
                  hash_workers: int = 4, show_progress: bool | None = None) -> EmbedSummary:
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
        show_progress: Cases-done lines on stderr; ``None``: unless ``quiet``
            (a caller that keeps Ray quiet can still show them).

    Returns:
        An :class:`EmbedSummary`.

    Raises:
        ManifestError: Missing columns or duplicate cases.
        FileNotFoundError: When the weights file does not exist.
        WeightsError: When it is unreadable or does not fit (before any Ray work).
        ConfigError: When no node of the cluster can host one actor.
    """
    from alnm_ray.embed.weights import prepare_all_weights, reports_to_json

    config = config or EmbedConfig()
    plan = load_plan(plan)
    weights_sha, weights = weights_identity(config)
    states, reports = prepare_all_weights(config)  # {extractor: state dict}; empty: all random
    state = states or None
    if any(config.weights_for(n) is None for n in config.extractors_used):
        warnings.warn(f"embedding with randomly initialised weights ({weights}); the features are not "
                      "pretrained. Pass --weights with a MedicalNet ResNet-18 checkpoint for the paper's "
                      "setting (or the 2-D extractors' local files).", RandomWeightsWarning, stacklevel=2)
    versions = code_versions()
    summary = EmbedSummary(version=None, weights=weights)

    def compute(items: list[dict[str, Any]], checkpoint: Any) -> list[Record]:
        summary.actors = plan_actors(config, n_batches=-(-len(items) // config.batch_size))
        logger.info("embedding %d case(s) with %s", len(items), summary.actors)
        records = embed_cases(items, config, plan, state=state, actors=summary.actors,
                              quiet=quiet if show_progress is None else not show_progress, debug=debug)
        ok = [r for r in records if r["status"] == STATUS_OK]
        summary.devices = dict(Counter(r["device"] for r in ok))
        summary.nodes = dict(Counter(r["node"] for r in ok))
        return records

    def version_params(out: pd.DataFrame) -> dict[str, Any]:
        return {"embed": config.to_dict(), "embed_sha256": config.stable_hash(weights_sha), "weights": weights,
                "weights_sha256": weights_sha,
                "weights_report": reports_to_json(config, reports),
                "model": config.model_description(),
                "preprocess": plan.to_dict(), "preprocess_sha256": plan.hash(), "library_versions": versions,
                "actors": None if summary.actors is None else asdict(summary.actors),
                "batch_size": None if summary.actors is None else batch_size_for(config, summary.actors)}

    job = TableJob(stage=STAGE_EMBED, table=table, plan=plan, config_name="embed",
                   config_hash=config.stable_hash(weights_sha), versions=versions, compute=compute,
                   feature_rows=lambda records, df: _feature_rows(records, df, weights, config.feature_columns),
                   version_params=version_params, meta_columns=META_COLUMNS,
                   feature_columns=config.feature_columns,
                   ray_progress_bars=False)  # embed_cases shows its own bar: cases, not blocks
    run_table_job(manifest, store, job, report=summary, lineage=lineage, quiet=quiet, debug=debug,
                  ray_config=ray_config, hash_workers=hash_workers)
    if not summary.existed:
        for _, e in summary.errors.iterrows():
            logger.warning("case failed in stage %s: %s", e["stage"], e["message"])
    return summary
