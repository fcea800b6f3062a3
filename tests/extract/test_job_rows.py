"""Feature rows from records without Ray: one float64 matrix per distinct feature-name list."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from alnm_ray.constants import CASE_KEY
from alnm_ray.extract.case import share_feature_names
from alnm_ray.extract.job import _actor_pool, _feature_rows


def _record(pid: str, names: list[str], values: list[float | None]) -> dict:
    return {**dict(cohort="c", center="X", patient_id=pid, sequence="T2WI", reader="A"), "case_hash": f"h{pid}",
            "extracted_at": "t", "status": "ok", "feature_names": names, "feature_values": values}


def test_feature_rows_match_one_dict_per_case():
    three_d, two_d = ["shape_Volume", "firstorder_Mean"], ["shape2D_Area", "firstorder_Mean", "glcm_Idm"]
    records = share_feature_names([_record("p1", list(three_d), [1.5, 0.1]),
                                   _record("p2", list(two_d), [2.0, math.nan, None]),
                                   _record("p3", list(three_d), [3.25, -1.0])], {})
    got = _feature_rows(records, pd.DataFrame())
    meta = pd.DataFrame([{**{c: r[c] for c in CASE_KEY}, "case_hash": r["case_hash"],
                          "extracted_at": r["extracted_at"]} for r in records])
    feats = pd.DataFrame.from_records([dict(zip(r["feature_names"], r["feature_values"])) for r in records])
    expected = pd.concat([meta, feats.astype("float64")], axis=1)
    assert list(got.columns) == list(expected.columns)
    assert (got.dtypes[list(feats.columns)] == "float64").all()
    assert np.array_equal(got[list(feats.columns)].to_numpy(), expected[list(feats.columns)].to_numpy(), equal_nan=True)
    assert got["patient_id"].tolist() == ["p1", "p2", "p3"]


def test_actor_pool_starts_every_actor_it_has_blocks_for():
    made = []

    def strategy(**kwargs):
        made.append(kwargs)
        return kwargs

    assert _actor_pool(strategy, 2, 50) == {"min_size": 1, "max_size": 2, "initial_size": 2}
    assert _actor_pool(strategy, 4, 1)["initial_size"] == 1

    def old_strategy(*, min_size, max_size):
        return {"min_size": min_size, "max_size": max_size}

    assert _actor_pool(old_strategy, 2, 50) == {"min_size": 1, "max_size": 2}
