"""Batch inference: a bundle applied to a wide feature table with Ray Data.

:class:`BundleScorer` is the callable class ``map_batches`` runs in an
autoscaling pool of CPU actors; each actor verifies and loads the bundle once
(from bytes shipped through the object store, so the bundle folder need not be
visible to every node) and then scores batch after batch.

Per-patient failures never drop rows: a patient whose selected features are
not finite gets an error row; a batch whose prediction fails is retried row by
row so only the failing patients become error rows.  Every input row comes
back either as a prediction or as an error (rows in = predictions + errors).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from alnm_ray.constants import COL_CENTER, COL_COHORT, COL_PATIENT
from alnm_ray.exceptions import ConfigError
from alnm_ray.score.bundle import Bundle, BundleFiles, load_bundle_files

logger = logging.getLogger(__name__)

#: Patients per batch handed to an actor: large enough that the per-call
#: overhead (~ms) is small next to predict_proba, small enough for memory.
DEFAULT_BATCH_SIZE = 4096
#: Key columns carried through scoring.
KEY_COLUMNS: tuple[str, ...] = (COL_COHORT, COL_CENTER, COL_PATIENT)
COL_PROBABILITY = "probability"
COL_PREDICTED = "predicted_label"
COL_ERROR_TYPE = "error_type"
COL_MESSAGE = "message"
#: Columns of every scored batch (successful rows have an empty error_type).
OUTPUT_COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, COL_PROBABILITY, COL_PREDICTED, COL_ERROR_TYPE, COL_MESSAGE)
#: Names of non-finite features listed in one error message.
MAX_NAMES = 5


def _check_rows(bundle: Bundle, X: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Fill unused non-finite inputs; find rows with non-finite inputs the model needs.

    Returns:
        ``(X, bad_rows, messages)``: ``X`` with unused numeric NaN/inf set to 0.0,
        a boolean mask of rows that cannot be scored, and one message per bad row.
    """
    features = bundle.features
    used = set(bundle.selected_features) or set(features)
    imputed = set(bundle.metadata.get("imputed_features") or ())
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(X[c]) and c not in imputed]
    bad = np.zeros(len(X), dtype=bool)
    messages: list[str] = []
    if not numeric:
        return X, bad, messages
    values = X[numeric].to_numpy(dtype="float64")
    finite = np.isfinite(values)
    if finite.all():
        return X, bad, messages
    is_used = np.array([c in used for c in numeric])
    unused_bad = ~finite & ~is_used[None, :]
    if unused_bad.any():
        # Selection drops these columns, so their value cannot change the probability.
        X = X.copy()
        X[numeric] = np.where(unused_bad, 0.0, values)
    needed_bad = ~finite & is_used[None, :]
    bad = needed_bad.any(axis=1)
    for i in np.flatnonzero(bad):
        names = [numeric[j] for j in np.flatnonzero(needed_bad[i])]
        messages.append(f"expected finite values for the model's features; {len(names)} are NaN/inf "
                        f"({', '.join(names[:MAX_NAMES])}{' …' if len(names) > MAX_NAMES else ''}). "
                        "Check this case's extraction errors (`alnm-ray sql \"SELECT * FROM errors\"`).")
    return X, bad, messages


def _numeric_where_possible(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns holding numbers (e.g. read from CSV as text) become numeric; others stay.

    A column with one value that is not a number stays text, so only the rows
    holding it fail in the model (each recorded on its own).
    """
    out = frame
    for column in frame.columns[frame.dtypes == object]:
        try:
            converted = pd.to_numeric(frame[column])
        except (ValueError, TypeError):
            continue
        out = out.assign(**{column: converted})
    return out


def score_batch(bundle: Bundle, batch: pd.DataFrame) -> pd.DataFrame:
    """Score one batch of wide rows (keys + the bundle's features) in-process.

    Non-finite values in numeric features the fitted pipeline does not use are
    set to 0.0 before prediction: the selection steps drop those columns, so
    their value cannot change the probability, and a patient missing a
    sequence the model ignores is still scored.  Features the pipeline imputes
    itself (a clinical encoder) pass through as they are.

    Returns:
        One row per input row with :data:`OUTPUT_COLUMNS`; failed rows have
        NaN probability, predicted label -1, and the error type and message.
    """
    n = len(batch)
    X, bad_rows, bad_messages = _check_rows(bundle, batch.loc[:, bundle.features])
    harm = bundle.metadata.get("harmonization") or {}
    batch_col = harm.get("batch_column")
    if batch_col:  # ComBat applies the learned parameters of each row's centre
        X = X.assign(**{batch_col: batch[batch_col].astype(str).to_numpy()})
    proba = np.full(n, math.nan)
    etype = np.array([""] * n, dtype=object)
    msg = np.array([""] * n, dtype=object)
    patients = batch[COL_PATIENT].astype(str).to_numpy()
    for i, text in zip(np.flatnonzero(bad_rows), bad_messages):
        etype[i] = "NonFiniteFeatures"
        msg[i] = f"{patients[i]}: {text}"
    good = np.flatnonzero(~bad_rows)
    if good.size:
        try:
            proba[good] = bundle.predict_proba(_numeric_where_possible(X.iloc[good]))
        except Exception:  # noqa: BLE001 - isolate the failing rows, then record each failure
            for i in good:
                try:
                    proba[i] = bundle.predict_proba(_numeric_where_possible(X.iloc[[i]]))[0]
                except Exception as err:  # noqa: BLE001
                    etype[i] = type(err).__name__
                    msg[i] = f"{patients[i]}: prediction failed: {err}"
    ok = etype == ""
    if batch_col:
        _note_unseen_centres(harm, batch[batch_col].astype(str).to_numpy(), patients, ok, msg)
    predicted = np.where(ok, (np.nan_to_num(proba, nan=-1.0) >= bundle.threshold).astype(np.int64), -1)
    out = pd.DataFrame({c: batch[c].astype(str).to_numpy() for c in KEY_COLUMNS})
    out[COL_PROBABILITY] = np.where(ok, proba, math.nan)
    out[COL_PREDICTED] = predicted.astype(np.int64)
    out[COL_ERROR_TYPE] = etype.astype(str)
    out[COL_MESSAGE] = msg.astype(str)
    return out


def _note_unseen_centres(harm: dict[str, Any], centres: np.ndarray, patients: np.ndarray,
                         ok: np.ndarray, msg: np.ndarray) -> None:
    """Say in the message of each scored row from a centre unseen in training what ComBat did.

    (Under the "refuse" policy such rows fail instead, with an ``UnseenBatchError`` row.)
    """
    known = {str(c) for c in harm.get("centers") or ()}
    policy = harm.get("unseen")
    what = (f"adjusted as reference centre {harm.get('reference')!r}" if policy == "reference"
            else "left unharmonised")
    for i in np.flatnonzero(ok & ~np.isin(centres, list(known))):
        msg[i] = f"{patients[i]}: combat: centre {centres[i]!r} unseen in training: {what}"


class BundleScorer:
    """Callable class for ``Dataset.map_batches``: the bundle is loaded once per actor.

    Args:
        files: A one-item list holding the ``ObjectRef`` of the
            :class:`~alnm_ray.score.bundle.BundleFiles` (the list keeps Ray
            from resolving it early), or the :class:`BundleFiles` itself.
            Checksums are verified again in every actor before loading.
    """

    def __init__(self, files: list[Any] | BundleFiles) -> None:
        if isinstance(files, list):
            import ray

            files = ray.get(files[0])
        if not isinstance(files, BundleFiles):
            raise TypeError(f"BundleScorer: expected BundleFiles (or [ObjectRef] of them); got {type(files).__name__}.")
        self.bundle = load_bundle_files(files)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return score_batch(self.bundle, batch)


@dataclass(frozen=True)
class PoolPlan:
    """Actor pool of the scoring stage: sizes and CPUs per actor."""

    min_size: int
    max_size: int
    num_cpus: float


def plan_pool(n_batches: int, *, max_actors: int | None = None, num_cpus: float = 1.0,
              cpus: float | None = None) -> PoolPlan:
    """Size the scoring pool from the cluster's CPUs.

    The pool autoscales from 1 to ``CPUs / num_cpus - 1`` actors (at least 1),
    never more than there are batches: a pool that takes every CPU can starve
    the reading stage and deadlock (``notes/ray-probes.md``).

    Args:
        n_batches: Batches to score.
        max_actors: Cap of the pool.
        num_cpus: CPUs per actor.
        cpus: CPUs of the cluster (default: read from the running Ray).
    """
    if max_actors is not None and max_actors < 1:
        raise ConfigError(f"max_actors: expected an integer >= 1; got {max_actors}.")
    if cpus is None:
        from alnm_ray.runtime import cluster_cpus

        cpus = cluster_cpus()
    slots = max(1, int(cpus // max(num_cpus, 1e-9)) - 1)
    top = max(1, min(slots, n_batches, max_actors or slots))
    return PoolPlan(min_size=1, max_size=top, num_cpus=num_cpus)


def predict_wide(files: BundleFiles, wide: pd.DataFrame, *, batch_size: int = DEFAULT_BATCH_SIZE,
                 max_actors: int | None = None, num_cpus: float = 1.0, quiet: bool = True) -> pd.DataFrame:
    """Score a wide table with a Ray Data actor pool.

    Args:
        files: The bundle's bytes (:func:`~alnm_ray.score.bundle.read_bundle_files`).
        wide: One row per patient with ``cohort``, ``center``, ``patient_id``
            columns and every feature the bundle needs (already schema-checked).
        batch_size: Patients per batch.
        max_actors: Cap of the actor pool (default: from the cluster's CPUs).
        num_cpus: CPUs each actor reserves.
        quiet: No Ray Data progress output.

    Returns:
        One row per input row with :data:`OUTPUT_COLUMNS`, in input order.

    Raises:
        ConfigError: On a bad ``batch_size`` or ``max_actors``.
    """
    import ray

    from alnm_ray.runtime import ensure_ray

    if int(batch_size) < 1:
        raise ConfigError(f"batch_size: expected an integer >= 1; got {batch_size}.")
    if wide.empty:
        return pd.DataFrame({c: pd.Series([], dtype=float if c == COL_PROBABILITY else
                                          np.int64 if c == COL_PREDICTED else object)
                             for c in OUTPUT_COLUMNS})
    ensure_ray()
    frame = wide.reset_index(drop=True)
    frame["_row"] = np.arange(len(frame), dtype=np.int64)
    # Arrow tables built here are cheaper to hand to Ray Data than pandas frames (no pickling).
    chunks = [pa.Table.from_pandas(frame.iloc[i:i + batch_size], preserve_index=False)
              for i in range(0, len(frame), batch_size)]
    pool = plan_pool(len(chunks), max_actors=max_actors, num_cpus=num_cpus)
    ref = ray.put(files)
    ctx = ray.data.DataContext.get_current()
    saved = (ctx.enable_progress_bars, ctx.print_on_execution_start)
    ctx.enable_progress_bars = ctx.print_on_execution_start = not quiet
    try:
        ds = ray.data.from_arrow(chunks).map_batches(
            _RowTaggingScorer, fn_constructor_args=([ref],), batch_format="pandas", batch_size=int(batch_size),
            compute=ray.data.ActorPoolStrategy(min_size=pool.min_size, max_size=pool.max_size),
            num_cpus=pool.num_cpus,
        )
        out = ds.to_pandas()
    finally:
        ctx.enable_progress_bars, ctx.print_on_execution_start = saved
    logger.info("scored %d patient(s) in %d batch(es) with up to %d actor(s)", len(frame), len(chunks),
                pool.max_size)
    out = out.sort_values("_row", kind="stable").drop(columns="_row").reset_index(drop=True)
    return out.loc[:, list(OUTPUT_COLUMNS)]


#: Column of a chunk of rows to score holding each patient's label (float, NaN: unlabelled).
COL_ROW_LABEL = "_label"


def score_chunk(bundle: Bundle, rows: pd.DataFrame, *, explain: int = 0, seed: int = 0) -> pd.DataFrame:
    """Score one chunk of assembled rows; carry the label; add SHAP contributions when ``explain``.

    Args:
        bundle: The loaded bundle.
        rows: Keys, the bundle's features and :data:`COL_ROW_LABEL`, one row per patient.
        explain: Largest SHAP contributions per scored patient (0: none); see
            :func:`alnm_ray.score.explain.add_top_contributions`.
        seed: Seed of the permutation explainer.

    Returns:
        :data:`OUTPUT_COLUMNS` plus ``label`` (Int64) and, with ``explain``, the
        ``shap_*`` columns (missing on failed rows).
    """
    from alnm_ray.constants import COL_LABEL

    out = score_batch(bundle, rows)
    labels = rows[COL_ROW_LABEL] if COL_ROW_LABEL in rows.columns else pd.Series(np.nan, index=rows.index)
    out[COL_LABEL] = pd.array(pd.to_numeric(labels, errors="coerce").to_numpy(dtype=float),
                              dtype="Float64").astype("Int64")
    if int(explain) <= 0:
        return out
    from alnm_ray.score.explain import add_top_contributions

    ok = (out[COL_ERROR_TYPE] == "").to_numpy()
    if not ok.any():
        return out
    top = add_top_contributions(bundle, rows.reset_index(drop=True), out[ok].reset_index(drop=True), int(explain),
                                seed=seed)
    return pd.concat([top, out[~ok]], ignore_index=True)


class ChunkScorer(BundleScorer):
    """:func:`score_chunk` as a ``map_batches`` callable class (bundle loaded once per actor).

    Args:
        files: As for :class:`BundleScorer`.
        explain: SHAP contributions per patient (0: none).
        seed: Seed of the permutation explainer.
    """

    def __init__(self, files: list[Any] | BundleFiles, explain: int = 0, seed: int = 0) -> None:
        super().__init__(files)
        self.explain, self.seed = int(explain), int(seed)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        return score_chunk(self.bundle, batch, explain=self.explain, seed=self.seed)


class _RowTaggingScorer(BundleScorer):
    """Carries the input row number through (Ray Data does not keep order)."""

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        out = score_batch(self.bundle, batch)
        out["_row"] = batch["_row"].to_numpy()
        return out
