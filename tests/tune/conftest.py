"""Tiny feature stores for the tune tests (built with pandas, written with FeatureStore)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

SEQUENCES = ("T2WI", "DWI")


def make_store(path, *, n: int = 60, p_rad: int = 12, p_deep: int = 8, signal: float = 0.0,
               n_signal: int = 2, seed: int = 0, n_icc: int = 12, n_centers: int = 2,
               split: bool = False, clinical: bool = True, unlabelled: int = 0,
               one_class: bool = False, null_tables: int = 0) -> dict:
    """Write ``radiomics`` (long: reader A for all, B and A2 for ``n_icc`` patients),
    ``deep`` (long, reader A) and optionally ``clinical`` tables into a store at ``path``.

    ``null_tables`` adds imported-style per-patient tables ``null_0``... of
    label-free noise (columns ``x_00``...), carrying the labels.

    ``signal`` shifts the first ``n_signal`` radiomics and deep features (per
    sequence) of ALNM+ patients by ``signal`` SDs; the oracle AUC of all of them
    together is ``Phi(signal * sqrt(k / 2))`` with ``k`` shifted features.

    Returns:
        ``{"store": FeatureStore, "oracle": {...}, "y": labels, "ids": ids}``.
    """
    from alnm_ray.store import FeatureStore

    rng = np.random.default_rng(seed)
    n_pos = int(round(n * 0.43))
    y = np.r_[np.ones(n_pos), np.zeros(n - n_pos)].astype(int)
    if one_class:
        y[:] = 0
    rng.shuffle(y)
    ids = [f"P{i:03d}" for i in range(n)]
    centers = [f"C{1 + i % n_centers}" for i in range(n)]
    labels = y.astype(float)
    if unlabelled:
        labels[:unlabelled] = np.nan
    splits = np.where(rng.random(n) < 0.7, "train", "test") if split else None
    rad_feats = [f"original_firstorder_F{j:02d}" for j in range(p_rad // len(SEQUENCES))]
    deep_feats = [f"deep_{j:03d}" for j in range(p_deep // len(SEQUENCES))]
    icc_ids = rng.choice(n, size=n_icc, replace=False)
    rad_rows, deep_rows = [], []
    for seq in SEQUENCES:
        for feats, rows, readers in ((rad_feats, rad_rows, ("A", "B", "A2")), (deep_feats, deep_rows, ("A",))):
            base = rng.normal(size=(n, len(feats)))
            base[:, :n_signal] += signal * y[:, None]
            for reader in readers:
                idx = np.arange(n) if reader == "A" else icc_ids
                vals = base[idx] + (0 if reader == "A" else rng.normal(scale=0.05, size=(len(idx), len(feats))))
                frame = pd.DataFrame(vals, columns=feats)
                frame.insert(0, "cohort", "tiny")
                frame.insert(1, "center", [centers[i] for i in idx])
                frame.insert(2, "patient_id", [ids[i] for i in idx])
                frame.insert(3, "sequence", seq)
                frame.insert(4, "reader", reader)
                frame.insert(5, "label", labels[idx])
                if splits is not None:
                    frame.insert(6, "split", splits[idx])
                rows.append(frame)
    store = FeatureStore(str(path))
    store.write_version("radiomics", pd.concat(rad_rows, ignore_index=True))
    store.write_version("deep", pd.concat(deep_rows, ignore_index=True))
    if clinical:
        clin = pd.DataFrame({"patient_id": ids, "age": rng.normal(55, 10, n) + 3 * signal * y,
                             "grade": rng.choice(["1", "2", "3"], n)})
        store.write_version("clinical", clin)
    for t in range(null_tables):
        noise = pd.DataFrame(rng.normal(size=(n, 10)), columns=[f"x_{j:02d}" for j in range(10)])
        noise.insert(0, "patient_id", ids)
        noise.insert(1, "label", labels)
        store.write_version(f"null_{t}", noise)
    k_rad = n_signal * len(SEQUENCES)
    oracle = {"radiomics": float(norm.cdf(signal * np.sqrt(k_rad / 2))),
              "combined": float(norm.cdf(signal * np.sqrt(2 * k_rad / 2)))}
    return {"store": store, "oracle": oracle, "y": pd.Series(y, index=ids), "ids": ids}


@pytest.fixture
def tiny_store():
    """The :func:`make_store` factory."""
    return make_store
