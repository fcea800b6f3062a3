"""Where a scoring run's rows are scored (this process or Ray) and where the results go.

* :func:`scores_locally` -- a run of at most :data:`LOCAL_MAX_ROWS` stored rows
  without a cluster address is scored in this process: Ray's start-up (seconds)
  would dwarf ``predict_proba`` (milliseconds for thousands of patients);
* :class:`RayPool` -- larger runs: every assembled chunk goes to a pool of
  Ray actors as it is made, with a bounded number in flight;
* :class:`PredictionSink` -- scored chunks become prediction and error rows;
  predictions are appended to the ``--out`` Parquet file as they come and
  not kept;
* :class:`DriftSample` -- the rows the drift tests see: a uniform sample of at
  most :data:`DRIFT_SAMPLE_ROWS` patients per cohort (every patient of smaller
  cohorts, so their report is exact).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from alnm_ray import constants as C
from alnm_ray.exceptions import ConfigError
from alnm_ray.score.predict import COL_ERROR_TYPE, COL_MESSAGE, OUTPUT_COLUMNS

logger = logging.getLogger(__name__)

#: Stored rows (every table, the cohorts scored) a run without a cluster address scores in this
#: process.  Measured on 2 cores: 50,000 rows score in ~1 s in-process, while starting an embedded
#: Ray and its actor pool alone takes 5-10 s, so below this size Ray only adds time.
LOCAL_MAX_ROWS = 1_000_000
#: Environment variable overriding :data:`LOCAL_MAX_ROWS` (``0``: always Ray).
ENV_LOCAL_MAX_ROWS = "ALNM_RAY_SCORE_LOCAL_MAX_ROWS"
#: Patients per cohort the drift tests see: KS and PSI p-values are already far below any
#: threshold for real shifts at this size, and the sample caps the driver's memory.
DRIFT_SAMPLE_ROWS = 100_000


def local_max_rows() -> int:
    """:data:`LOCAL_MAX_ROWS`, or ``$ALNM_RAY_SCORE_LOCAL_MAX_ROWS`` when set.

    Raises:
        ConfigError: The variable is not a non-negative integer.
    """
    from alnm_ray.runtime import env_int

    return env_int(ENV_LOCAL_MAX_ROWS, LOCAL_MAX_ROWS, meaning="stored rows scored without Ray; 0: always Ray")


def scores_locally(rows: int, ray_config: Any = None) -> bool:
    """Whether a run reading ``rows`` stored rows is scored in this process.

    True when no cluster address is given (``ray_config.address`` or
    ``RAY_ADDRESS``) and ``rows`` is at most :func:`local_max_rows`.

    Example:
        >>> from alnm_ray.runtime import RayConfig
        >>> scores_locally(100, RayConfig(address="ray://head:10001"))
        False
    """
    from alnm_ray.runtime import RayConfig

    if (ray_config or RayConfig()).resolved_address() is not None:
        return False
    return rows <= local_max_rows()


class PredictionSink:
    """Scored chunks -> prediction rows appended to ``out``, and error rows.

    The predictions leave this process chunk by chunk: they are written to
    ``out`` as they come and not kept.  What the end of the run needs is kept
    small or read back from ``out``: a count, one 64-bit hash per prediction
    (the content address of the store version), whether any row has a label
    (:meth:`labelled_rows` reads those back for the validation), and the
    store's rows (:meth:`store_rows`, read back column by column).

    Args:
        out: The ``--out`` Parquet path (its folder is created).
        bundle: The loaded bundle (threshold, id, reader).
        columns: Columns of a prediction row.
        scored_at: Timestamp of the run.
    """

    def __init__(self, out: Path, bundle: Any, columns: Sequence[str], scored_at: str) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out, self.bundle, self.columns, self.scored_at = out, bundle, list(columns), scored_at
        self.reader = str(bundle.metadata.get("reader") or C.PRIMARY_READER)
        self.errors: list[dict[str, str]] = []
        self.count = 0
        self.labelled = False
        self._hashes: list[np.ndarray] = []
        self._writer: Any = None
        self._schema: pa.Schema | None = None

    def add(self, scored: pd.DataFrame) -> None:
        """Record one scored chunk (:func:`~alnm_ray.score.predict.score_chunk` rows)."""
        from alnm_ray.score.job import _error_row

        failed = (scored[COL_ERROR_TYPE].astype(str) != "").to_numpy()
        if failed.any():
            for r in scored[failed].itertuples(index=False):
                self.errors.append(_error_row("score", str(r.cohort), str(r.center), str(r.patient_id),
                                              self.reader, str(r.error_type), str(r.message)))
            scored = scored[~failed]
        if not len(scored):
            return
        preds = scored.drop(columns=[COL_ERROR_TYPE, COL_MESSAGE]).assign(
            threshold=self.bundle.threshold, bundle_id=self.bundle.bundle_id, scored_at=self.scored_at)
        if not isinstance(preds[C.COL_LABEL].dtype, pd.Int64Dtype):
            preds[C.COL_LABEL] = pd.array(pd.to_numeric(preds[C.COL_LABEL], errors="coerce").to_numpy(dtype=float),
                                          dtype="Float64").astype("Int64")
        extra = [c for c in scored.columns if c not in OUTPUT_COLUMNS and c != C.COL_LABEL]
        preds = preds.loc[:, [*self.columns, *extra]].reset_index(drop=True)
        table = pa.Table.from_pandas(preds, schema=self._schema, preserve_index=False)
        if self._writer is None:
            import pyarrow.parquet as pq

            self._schema = table.schema
            self._writer = pq.ParquetWriter(str(self.out), self._schema)
        self._writer.write_table(table)
        self.count += len(preds)
        self.labelled = self.labelled or bool(preds[C.COL_LABEL].notna().any())
        self._hashes.append(pd.util.hash_pandas_object(preds.loc[:, self.columns], index=False).to_numpy())

    def close(self) -> int:
        """Close ``out`` (an empty file with the prediction columns when nothing was scored); the count."""
        if self._writer is not None:
            self._writer.close()
        else:
            empty_predictions(self.columns).to_parquet(self.out, index=False)
        return self.count

    def content_hash(self) -> str:
        """SHA-256 of the predictions' row hashes, sorted: the same rows give the same hash in any order."""
        import hashlib

        rows = np.sort(np.concatenate(self._hashes)) if self._hashes else np.zeros(0, dtype=np.uint64)
        return hashlib.sha256(rows.astype("<u8").tobytes()).hexdigest()

    def labelled_rows(self) -> pd.DataFrame:
        """``cohort, patient_id, label, probability`` of the labelled predictions, by cohort and patient."""
        columns = [C.COL_COHORT, C.COL_PATIENT, C.COL_LABEL, "probability"]
        if not self.labelled:
            return empty_predictions(self.columns).loc[:, columns]
        import pyarrow.dataset as pads
        import pyarrow.parquet as pq

        table = pq.read_table(self.out, columns=columns, filters=pads.field(C.COL_LABEL).is_valid())
        return table.to_pandas().sort_values([C.COL_COHORT, C.COL_PATIENT], kind="stable").reset_index(drop=True)

    def store_rows(self) -> pa.Table:
        """The predictions of ``out`` (:attr:`columns`), sorted by cohort and patient, read a column at a time."""
        return read_predictions(self.out, self.columns, arrow=True)


def empty_predictions(columns: Sequence[str]) -> pd.DataFrame:
    """No prediction rows, with ``columns`` (probability and threshold float, others text)."""
    return pd.DataFrame({c: pd.Series([], dtype=float if c in ("probability", "threshold") else object)
                         for c in columns})


def read_predictions(path: Path | str, columns: Sequence[str], *, arrow: bool = False) -> Any:
    """``columns`` of a predictions file, sorted by cohort and patient (a DataFrame, or a Table with ``arrow``).

    The sort order is taken from the two key columns, then every column is read
    and reordered on its own, so at most one column is held twice.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    keys = pq.read_table(path, columns=[C.COL_COHORT, C.COL_PATIENT])
    order = pc.sort_indices(keys, sort_keys=[(C.COL_COHORT, "ascending"), (C.COL_PATIENT, "ascending")])
    del keys
    source = pq.ParquetFile(path)
    schema = source.schema_arrow
    fields = [schema.field(c) for c in columns]
    if arrow:  # text as the store keeps it (string, not large_string): no second copy when it is written
        fields = [f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in fields]
    arrays = [pq.read_table(path, columns=[f.name]).column(0).take(order).cast(f.type) for f in fields]
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=schema.metadata))
    if arrow:
        return table
    return table.to_pandas().reset_index(drop=True)


class DriftSample:
    """A uniform sample of at most ``cap`` patients per cohort, kept while partitions stream by.

    Each row gets a seeded uniform key; the ``cap`` smallest keys are kept,
    which is a uniform sample without replacement whatever the partition order.
    """

    def __init__(self, features: Sequence[str], cap: int = DRIFT_SAMPLE_ROWS, seed: int = 0) -> None:
        self.features, self.cap = list(features), int(cap)
        self.rng = np.random.default_rng(seed)
        self.rows: dict[str, pd.DataFrame] = {}

    def add(self, cohort: str, X: pd.DataFrame) -> None:
        if not len(X):
            return
        part = X.loc[:, [f for f in self.features if f in X.columns]].assign(_u=self.rng.random(len(X)))
        have = self.rows.get(cohort)
        both = part if have is None else pd.concat([have, part], ignore_index=True)
        self.rows[cohort] = both.nsmallest(self.cap, "_u") if len(both) > self.cap else both

    def report(self, summary: Any, cohorts: Sequence[str]) -> pd.DataFrame:
        """The drift report of each cohort, in ``cohorts`` order (``cohort`` column first)."""
        from alnm_ray.score.drift import drift_report

        frames = []
        for cohort in cohorts:
            rows = self.rows.get(cohort)
            if rows is None or not len(rows):
                continue
            drift = drift_report(summary, rows.drop(columns="_u"))
            if len(drift):
                drift.insert(0, C.COL_COHORT, cohort)
                frames.append(drift)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=[C.COL_COHORT, "feature", "flagged"])


class RayPool:
    """Assembled chunks scored in a pool of Ray actors while the next partitions are read.

    Each chunk of ``batch_size`` rows goes to an actor (round robin) as soon as
    it is assembled; at most :data:`IN_FLIGHT_PER_ACTOR` chunks per actor are
    in flight, and finished chunks go to the sink as they come back.  So the
    object store and this process hold a bounded number of chunks whatever the
    cohort's size (parking every chunk in the object store first made the
    driver map the whole cohort's features).  Each actor verifies and loads
    the bundle once.

    Args:
        files: The bundle's bytes (:class:`~alnm_ray.score.bundle.BundleFiles`).
        rows: Rows to score at most (sizes the pool: no more actors than chunks).
        batch_size: Rows per chunk.
        max_actors: Cap of the pool (default: the cluster's CPUs - 1).
        explain: SHAP contributions per patient (0: none).
        seed: Seed of the permutation explainer.
    """

    def __init__(self, files: Any, rows: int, *, batch_size: int, max_actors: int | None, explain: int,
                 seed: int) -> None:
        import ray

        from alnm_ray.score.predict import plan_pool

        self._ray, self.batch_size = ray, int(batch_size)
        self.plan = plan_pool(max(1, math.ceil(rows / self.batch_size)), max_actors=max_actors)
        ref = ray.put(files)
        actor: Any = ray.remote(num_cpus=self.plan.num_cpus, max_restarts=2, max_task_retries=2)(ScoringActor)
        self.actors: list[Any] = [actor.remote([ref], explain, seed) for _ in range(self.plan.max_size)]
        self.pending: list[Any] = []
        self.rows = 0
        self._next = 0

    def add(self, rows: pd.DataFrame, sink: PredictionSink) -> None:
        """Send ``rows`` to the actors in chunks; hand finished chunks to ``sink`` while the pool is full."""
        for i in range(0, len(rows), self.batch_size):
            chunk = pa.Table.from_pandas(rows.iloc[i:i + self.batch_size], preserve_index=False)
            while len(self.pending) >= IN_FLIGHT_PER_ACTOR * len(self.actors):
                self._collect(sink, 1)
            actor = self.actors[self._next % len(self.actors)]
            self._next += 1
            self.pending.append(actor.score.remote(chunk))
            self.rows += chunk.num_rows

    def finish(self, sink: PredictionSink) -> None:
        """Wait for every chunk in flight; stop the actors."""
        try:
            while self.pending:
                self._collect(sink, len(self.pending))
        finally:
            for actor in self.actors:
                self._ray.kill(actor)
            self.actors = []
        logger.info("scored %d patient(s) on Ray with %d actor(s)", self.rows, self.plan.max_size)

    def _collect(self, sink: PredictionSink, at_least: int) -> None:
        done, self.pending = self._ray.wait(self.pending, num_returns=min(at_least, len(self.pending)))
        for ref in done:
            sink.add(self._ray.get(ref))


#: Chunks in flight per scoring actor: one being scored and one queued, so an actor never waits.
IN_FLIGHT_PER_ACTOR = 2


class ScoringActor:
    """A scoring actor of :class:`RayPool`: :class:`~alnm_ray.score.predict.ChunkScorer` over Arrow chunks."""

    def __init__(self, files: Any, explain: int = 0, seed: int = 0) -> None:
        from alnm_ray.score.predict import ChunkScorer

        self.scorer = ChunkScorer(files, explain, seed)

    def score(self, chunk: pa.Table) -> pd.DataFrame:
        return self.scorer(chunk.to_pandas())
