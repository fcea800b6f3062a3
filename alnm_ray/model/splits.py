"""Seeded patient-level splits: 7:3 hold-out, repeated stratified K-fold, leave-one-centre-out.

Rows are patients.  When an index value repeats (several lesions of one
patient), the K-fold splitter groups rows by index so a patient never sits on
both sides of a split.  Per-repeat seeds are derived from ``(seed, repeat)``
with ``numpy.random.SeedSequence``, so repeat ``r`` gets the same folds whether
it runs alone (a Tune trial) or with all the others.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from alnm_ray._validation import check_range
from alnm_ray.exceptions import ConfigError

#: Paper's hold-out fraction (189 / 81 of 270 patients).
TEST_SIZE = 0.3


def derive_seed(seed: int, *keys: Any) -> int:
    """A 32-bit seed from a base seed and keys (ints or strings), stable across runs.

    Example:
        >>> derive_seed(0, 1, 2) == derive_seed(0, 1, 2) != derive_seed(0, 2, 1)
        True
    """
    parts = [int(seed)] + [k if isinstance(k, int) else zlib.crc32(str(k).encode())
                           for k in keys]
    return int(np.random.SeedSequence(parts).generate_state(1)[0])


def holdout_split(y: Sequence[int], test_size: float = TEST_SIZE, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded train/test split of row positions.

    Returns:
        ``(train_idx, test_idx)``, sorted integer positions.

    Example:
        >>> tr, te = holdout_split([0] * 153 + [1] * 117, seed=0)
        >>> len(tr), len(te)
        (189, 81)
    """
    check_range("test_size", test_size, 0.0, 1.0, inclusive=False)
    labels = np.asarray(y)
    idx = np.arange(labels.size)
    counts = pd.Series(labels).value_counts()
    if len(counts) and counts.min() < 2:  # sklearn's own message names neither the split nor a fix
        raise ConfigError(f"hold-out split: expected at least 2 patients of each class to stratify the "
                          f"train/test split; found {counts.min()} with label {counts.idxmin()} among "
                          f"{labels.size} patient(s). Add patients of that class.")
    tr, te = train_test_split(idx, test_size=test_size, stratify=labels,
                              random_state=derive_seed(seed))
    return np.sort(tr), np.sort(te)


def repeated_kfold(y: Sequence[int], n_repeats: int = 20, n_folds: int = 5, seed: int = 0, *,
                   groups: Sequence[Any] | None = None,
                   repeat_indices: Sequence[int] | None = None,
                   fold_indices: Sequence[int] | None = None
                   ) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Yield ``(repeat, fold, train_idx, test_idx)`` of repeated stratified K-fold.

    Args:
        y: 0/1 labels per row.
        n_repeats, n_folds: Design (20 x 5 in Guo 2024).
        seed: Base seed; repeat ``r`` shuffles with ``derive_seed(seed, r)``.
        groups: Patient id per row; rows sharing an id stay together
            (StratifiedGroupKFold).  None = every row its own patient.
        repeat_indices: Only these repeats (each reproduces its folds exactly).
        fold_indices: Only these folds of each repeat (the same splits as in
            the full run: a repeat's folds are drawn together, then filtered).

    Raises:
        ConfigError: When a class has fewer rows than ``n_folds``.
    """
    check_range("n_folds", n_folds, 2)
    check_range("n_repeats", n_repeats, 1)
    labels = np.asarray(y).astype(int)
    counts = np.bincount(labels, minlength=2)
    if counts.min() < n_folds:
        raise ConfigError(f"n_folds: expected at most {counts.min()} folds (rows of the smaller "
                          f"class); got {n_folds}. Lower the number of folds.")
    repeats = range(n_repeats) if repeat_indices is None else list(repeat_indices)
    keep = set(range(n_folds)) if fold_indices is None else {int(f) for f in fold_indices}
    if not keep <= set(range(n_folds)):
        raise ConfigError(f"fold_indices: expected values in [0, {n_folds}); got "
                          f"{sorted(keep - set(range(n_folds)))[:5]}. Pass fold numbers of the design.")
    for r in repeats:
        if not 0 <= int(r) < n_repeats:
            raise ConfigError(f"repeat_indices: expected values in [0, {n_repeats}); got {r}.")
        rs = derive_seed(seed, int(r))
        if groups is not None and pd.Index(groups).has_duplicates:
            splitter = StratifiedGroupKFold(n_folds, shuffle=True, random_state=rs)
            it = splitter.split(np.zeros(labels.size), labels, groups=np.asarray(groups))
        else:
            it = StratifiedKFold(n_folds, shuffle=True, random_state=rs).split(
                np.zeros(labels.size), labels)
        for f, (tr, te) in enumerate(it):
            if f in keep:
                yield int(r), f, tr, te


def leave_one_center_out(centers: Sequence[Any]
                         ) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yield ``(center, train_idx, test_idx)``: train on all other centres, test on one.

    Raises:
        ConfigError: With fewer than two centres.
    """
    c = pd.Series(list(centers)).astype(str).to_numpy()
    names = sorted(set(c))
    if len(names) < 2:
        raise ConfigError(f"centers: expected at least 2 centres for leave-one-centre-out; got "
                          f"{names}. Use the hold-out protocol for a single-centre cohort.")
    for name in names:
        yield name, np.flatnonzero(c != name), np.flatnonzero(c == name)
