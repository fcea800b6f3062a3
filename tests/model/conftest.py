"""Synthetic label/feature cohorts for the model tests (wide tables + a long reader table)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def make_cohort(n: int = 120, p_rad: int = 200, p_deep: int = 0, signal: float = 0.0,
                n_signal: int = 5, seed: int = 0, n_icc: int = 30,
                sequences: tuple[str, ...] = ("T2WI", "DWI"), noisy_frac: float = 0.3,
                pos_frac: float = 0.433, n_centers: int = 2) -> dict:
    """A cohort dict: ``radiomics`` / ``deep`` / ``clinical`` wide frames, ``reader_table``
    (long, readers A for all, B and A2 for ``n_icc`` patients), ``y`` and ``centers``.

    ``signal`` shifts the first ``n_signal`` radiomics (and deep) features of
    positive patients by ``signal`` SDs; ``signal=0`` gives label-free noise.
    A fraction ``noisy_frac`` of radiomics features is not reader-reproducible.
    """
    rng = np.random.default_rng(seed)
    n_pos = int(round(n * pos_frac))
    y = np.r_[np.ones(n_pos), np.zeros(n - n_pos)].astype(int)
    rng.shuffle(y)
    ids = [f"P{i:04d}" for i in range(n)]
    per_seq = p_rad // len(sequences)
    feats = [f"original_firstorder_F{j:03d}" for j in range(per_seq)]
    reader_sd = np.where(rng.random(per_seq) < noisy_frac, 1.5, 0.05)
    icc_pos = rng.choice(n, size=min(n_icc, n), replace=False)
    wide, long_rows = {}, []
    for seq in sequences:
        base = rng.normal(size=(n, per_seq))
        base[:, :n_signal] += signal * y[:, None]
        for j, f in enumerate(feats):
            wide[f"{seq}__{f}"] = base[:, j]
        long_rows.append(pd.DataFrame({"patient_id": ids, "sequence": seq, "reader": "A",
                                       **dict(zip(feats, base.T))}))
        for reader in ("B", "A2"):
            vals = base[icc_pos] + rng.normal(size=(len(icc_pos), per_seq)) * reader_sd
            long_rows.append(pd.DataFrame({"patient_id": [ids[i] for i in icc_pos],
                                           "sequence": seq, "reader": reader,
                                           **dict(zip(feats, vals.T))}))
    centers = np.array([f"C{1 + i % n_centers}" for i in range(n)])
    rad = pd.DataFrame(wide, index=pd.Index(ids, name="patient_id"))
    rad.insert(0, "label", y)
    rad.insert(0, "center", centers)
    out = {"radiomics": rad, "reader_table": pd.concat(long_rows, ignore_index=True),
           "y": pd.Series(y, index=rad.index, name="label"),
           "centers": pd.Series(centers, index=rad.index)}
    if p_deep:
        d = rng.normal(size=(n, p_deep))
        d[:, :n_signal] += signal * y[:, None]
        cols = [f"{sequences[j % len(sequences)]}__deep_{j:03d}" for j in range(p_deep)]
        out["deep"] = pd.DataFrame(d, index=rad.index, columns=cols)
    clin = pd.DataFrame({"age": rng.normal(55, 10, n), "grade": rng.choice(["1", "2", "3"], n),
                         "er": rng.choice(["pos", "neg"], n)}, index=rad.index)
    clin["age"] += 8 * signal * y
    clin.loc[clin.index[:3], "age"] = np.nan
    out["clinical"] = clin
    return out


@pytest.fixture
def cohort():
    """The :func:`make_cohort` factory."""
    return make_cohort
