"""Tiny synthetic tables for the selection-estimator tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def long_reader_table(base: dict[str, np.ndarray], ids: list[str], noise: dict[str, dict[str, float]],
                      icc_ids: list[str], seed: int, sequence: str = "T2WI") -> pd.DataFrame:
    """Long radiomics rows: reader A for all ids, B and A2 for ``icc_ids`` (A + noise)."""
    rng = np.random.default_rng(seed)
    frames = [pd.DataFrame({"patient_id": ids, "sequence": sequence, "reader": "A", **base})]
    pos = [ids.index(i) for i in icc_ids]
    for reader in ("B", "A2"):
        cols = {f: v[pos] + rng.normal(size=len(pos)) * noise[reader].get(f, 0.0)
                for f, v in base.items()}
        frames.append(pd.DataFrame({"patient_id": icc_ids, "sequence": sequence,
                                    "reader": reader, **cols}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def binary_frame(rng):
    """Factory: ``(X, y)`` with ``n`` rows, ``p`` noise columns and optional signal columns."""

    def make(n: int = 120, p: int = 10, signal: float = 0.0, n_signal: int = 2,
             pos_frac: float = 0.45):
        n_pos = int(round(n * pos_frac))
        y = np.r_[np.ones(n_pos), np.zeros(n - n_pos)].astype(int)
        X = rng.normal(size=(n, p))
        X[:, :n_signal] += signal * y[:, None]
        cols = [f"T2WI__original_firstorder_F{j}" for j in range(p)]
        return pd.DataFrame(X, columns=cols, index=[f"P{i:03d}" for i in range(n)]), y

    return make
