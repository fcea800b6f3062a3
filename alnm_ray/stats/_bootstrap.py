"""Stratified bootstrap as resampling *weights*, so statistics stay vectorised.

A bootstrap replicate draws ``n1`` events with replacement from the events
and ``n0`` non-events from the non-events (stratified: every replicate keeps
the observed class counts, so AUC is always defined).  Instead of materialising
resampled arrays, a replicate is represented by a count vector ``w`` of shape
``(n,)``: ``w[i]`` is how many times patient ``i`` was drawn.  A block of
replicates is a ``(b, n)`` integer matrix, and every statistic is computed for
the whole block with array operations (no loop over patients or replicates).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from alnm_ray.stats._checks import InvalidPredictionsError, check_level

#: Upper bound on ``b * n`` elements of one weight block (~32 MB as int64),
#: so memory stays flat for large cohorts.
MAX_BLOCK_ELEMENTS = 4_000_000
#: Default number of bootstrap replicates (Efron & Tibshirani recommend
#: >= 1000 for percentile intervals; 2000 keeps the Monte-Carlo error of a
#: 95 % limit small).
DEFAULT_N_BOOT = 2000


def check_n_boot(n_boot: int) -> int:
    """Check the number of replicates is a positive integer.

    Raises:
        InvalidPredictionsError: ``n_boot`` < 1.
    """
    if int(n_boot) != n_boot or n_boot < 1:
        raise InvalidPredictionsError(
            f"n_boot: expected a positive integer number of bootstrap replicates, e.g. 2000; "
            f"got {n_boot!r}."
        )
    return int(n_boot)


def stratified_weights(y: np.ndarray, n_boot: int, seed: int | np.random.Generator | None,
                       ) -> Iterator[np.ndarray]:
    """Yield blocks of stratified bootstrap count vectors.

    Args:
        y: 0/1 outcomes, shape ``(n,)`` (already checked).
        n_boot: Total number of replicates over all blocks.
        seed: Seed or generator; the same seed gives the same replicates for
            the same ``y``, whatever the block size.

    Yields:
        ``int64`` arrays of shape ``(b, n)``; each row sums to ``n`` and keeps
        the class counts of ``y``.
    """
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(y == 1)
    neg = np.flatnonzero(y == 0)
    n = y.size
    block = max(1, MAX_BLOCK_ELEMENTS // max(n, 1))
    slot_is_pos = np.arange(n) < pos.size  # first n1 slots draw events, the rest non-events
    highs = np.where(slot_is_pos, pos.size, neg.size)
    done = 0
    while done < n_boot:
        b = min(block, n_boot - done)
        # One draw per (replicate, slot) in C order, so the stream - and the
        # replicates - do not depend on how they are split into blocks.
        draw = rng.integers(0, highs, size=(b, n))
        idx = np.where(slot_is_pos, pos[np.minimum(draw, pos.size - 1)],
                       neg[np.minimum(draw, neg.size - 1)])
        flat = (idx + (np.arange(b) * n)[:, None]).ravel()
        yield np.bincount(flat, minlength=b * n).reshape(b, n)
        done += b


def bootstrap(y: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray], *, n_boot: int,
              seed: int | np.random.Generator | None) -> np.ndarray:
    """Evaluate ``statistic`` on stratified bootstrap weight blocks.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        statistic: Maps a ``(b, n)`` weight block to an array of shape
            ``(b,)`` or ``(b, k)``.
        n_boot: Number of replicates.
        seed: Seed or generator.

    Returns:
        The stacked replicates, shape ``(n_boot,)`` or ``(n_boot, k)``.
    """
    n_boot = check_n_boot(n_boot)
    return np.concatenate([np.asarray(statistic(w)) for w in stratified_weights(y, n_boot, seed)])


def percentile_ci(replicates: np.ndarray, level: float = 0.95) -> np.ndarray:
    """Percentile bootstrap interval, ignoring undefined (NaN) replicates.

    Args:
        replicates: Shape ``(n_boot,)`` or ``(n_boot, k)``.
        level: Confidence level in (0, 1).

    Returns:
        ``[low, high]`` (shape ``(2,)``) or shape ``(2, k)``; NaN where every
        replicate is NaN.

    Example:
        >>> percentile_ci(np.arange(101.0), 0.9).round(6).tolist()
        [5.0, 95.0]
    """
    level = check_level(level)
    alpha = (1.0 - level) / 2.0
    reps = np.asarray(replicates, dtype=np.float64)
    all_nan = np.isnan(reps).all(axis=0)
    safe = np.where(all_nan, 0.0, reps)  # all-NaN columns would only warn
    out = np.nanquantile(safe, [alpha, 1.0 - alpha], axis=0)
    return np.where(all_nan, np.nan, out)


def level_weights(w: np.ndarray, y: np.ndarray, scores: np.ndarray,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum each replicate's event and non-event weights per distinct score.

    Args:
        w: Count weights, shape ``(b, n)``.
        y: 0/1 outcomes, shape ``(n,)``.
        scores: Predictions, shape ``(n,)``.

    Returns:
        ``(levels, wp, wn)``: the ``k`` distinct scores in increasing order,
        and event / non-event weight sums per level, each of shape ``(b, k)``.
    """
    order = np.argsort(scores, kind="stable")
    s_sorted = scores[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    ws = w[:, order].astype(np.float64)
    is_pos = y[order] == 1
    wp = np.add.reduceat(ws * is_pos, starts, axis=1)
    wn = np.add.reduceat(ws * ~is_pos, starts, axis=1)
    return s_sorted[starts], wp, wn


def weighted_auc(w: np.ndarray, y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AUC (Mann-Whitney, ties count 1/2) of each weighted replicate.

    Args:
        w: Count weights, shape ``(b, n)``.
        y: 0/1 outcomes, shape ``(n,)``.
        scores: Predictions, shape ``(n,)``.

    Returns:
        AUC per replicate, shape ``(b,)``.
    """
    _, wp, wn = level_weights(w, y, scores)
    below = np.cumsum(wn, axis=1) - wn
    return (wp * (below + 0.5 * wn)).sum(axis=1) / (wp.sum(axis=1) * wn.sum(axis=1))
