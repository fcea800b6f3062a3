"""Seeded stratified hold-out, repeated K-fold (by patient) and leave-one-centre-out."""

from __future__ import annotations

import numpy as np
import pytest

from alnm_ray.exceptions import ConfigError
from alnm_ray.model import holdout_split, leave_one_center_out, repeated_kfold


def test_holdout_is_the_papers_7_3():
    y = np.r_[np.zeros(153), np.ones(117)].astype(int)
    tr, te = holdout_split(y, seed=1)
    assert (len(tr), len(te)) == (189, 81)
    assert abs(y[te].mean() - y.mean()) < 0.01
    assert not set(tr) & set(te)
    tr2, te2 = holdout_split(y, seed=1)
    assert np.array_equal(te, te2) and not np.array_equal(te, holdout_split(y, seed=2)[1])


def test_repeated_kfold_partitions_and_stratifies():
    y = np.r_[np.zeros(60), np.ones(40)].astype(int)
    folds = list(repeated_kfold(y, n_repeats=3, n_folds=5, seed=0))
    assert len(folds) == 15
    for r in range(3):
        tests = [te for rr, _, _, te in folds if rr == r]
        assert sorted(np.concatenate(tests)) == list(range(100))
        assert all(y[te].sum() == 8 for te in tests)
    assert not np.array_equal(folds[0][3], folds[5][3])  # repeats differ


def test_repeat_subset_reproduces_full_run():
    y = np.r_[np.zeros(30), np.ones(20)].astype(int)
    full = {(r, f): te for r, f, _, te in repeated_kfold(y, 4, 5, seed=9)}
    part = {(r, f): te for r, f, _, te in repeated_kfold(y, 4, 5, seed=9, repeat_indices=[2])}
    assert set(part) == {(2, f) for f in range(5)}
    assert all(np.array_equal(full[k], v) for k, v in part.items())
    with pytest.raises(ConfigError, match=r"repeat_indices: expected values in \[0, 4\)"):
        list(repeated_kfold(y, 4, 5, repeat_indices=[4]))


def test_fold_subset_reproduces_full_run():
    y = np.array([0, 1] * 15)
    full = {(r, f): (tr, te) for r, f, tr, te in repeated_kfold(y, 3, 5, seed=4)}
    part = list(repeated_kfold(y, 3, 5, seed=4, repeat_indices=[1], fold_indices=[3, 0]))
    assert [(r, f) for r, f, _, _ in part] == [(1, 0), (1, 3)]
    for r, f, tr, te in part:
        np.testing.assert_array_equal(tr, full[(r, f)][0])
        np.testing.assert_array_equal(te, full[(r, f)][1])
    with pytest.raises(ConfigError, match=r"fold_indices: expected values in \[0, 5\); got \[5\]"):
        list(repeated_kfold(y, 3, 5, fold_indices=[5]))


def test_rows_of_one_patient_stay_together():
    groups = np.repeat(np.arange(30), 2)
    y = np.repeat(np.r_[np.zeros(18), np.ones(12)], 2).astype(int)
    for _, _, tr, te in repeated_kfold(y, 2, 3, seed=0, groups=groups):
        assert not set(groups[tr]) & set(groups[te])


def test_too_many_folds_explained():
    with pytest.raises(ConfigError, match="Lower the number of folds"):
        list(repeated_kfold([0] * 10 + [1] * 3, 1, 5))


def test_leave_one_center_out():
    centers = ["A", "B", "A", "C", "B"]
    out = list(leave_one_center_out(centers))
    assert [c for c, _, _ in out] == ["A", "B", "C"]
    assert list(out[0][2]) == [0, 2] and list(out[0][1]) == [1, 3, 4]
    with pytest.raises(ConfigError, match="at least 2 centres"):
        list(leave_one_center_out(["A", "A"]))
