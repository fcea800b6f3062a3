"""to_wide: one row per patient, <SEQUENCE>__<feature> columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import SchemaMismatchError
from alnm_ray.store import feature_columns, to_wide


def test_pivot_names_orders_and_values(long_table) -> None:
    long = long_table(n_patients=4, sequences=("ADC", "MG_CC", "T2WI"), n_features=2)
    wide = to_wide(long)
    assert wide.index.name == "patient_id" and list(wide.index) == ["p000", "p001", "p002", "p003"]
    assert list(wide.columns[:3]) == ["cohort", "center", "label"]
    # sequences follow constants.SEQUENCES order (MG before MRI), features keep table order
    assert list(wide.columns[3:]) == [f"{s}__original_firstorder_f{j}"
                                      for s in ("MG_CC", "T2WI", "ADC") for j in range(2)]
    frame = long.to_pandas()
    row = frame[(frame.patient_id == "p002") & (frame.sequence == "ADC")].iloc[0]
    assert wide.loc["p002", "ADC__original_firstorder_f1"] == row["original_firstorder_f1"]
    assert wide["label"].tolist() == [0, 1, 0, 1] and wide["center"].tolist() == ["X", "Y", "X", "Y"]
    assert all(wide[c].dtype == np.float64 for c in wide.columns[3:])


def test_reader_filter_and_missing_sequence(long_table) -> None:
    long = long_table(n_patients=2, readers=("A", "B")).to_pandas()
    long = long[~((long.patient_id == "p001") & (long.sequence == "ADC"))]
    wide = to_wide(long, reader="B")
    b_row = long[(long.reader == "B") & (long.patient_id == "p000") & (long.sequence == "T2WI")]
    assert wide.loc["p000", "T2WI__original_firstorder_f0"] == b_row["original_firstorder_f0"].iloc[0]
    assert np.isnan(wide.loc["p001", "ADC__original_firstorder_f0"])


def test_duplicate_rows_for_a_sequence_are_an_error(long_table) -> None:
    long = long_table(n_patients=3, readers=("A", "B"))
    with pytest.raises(SchemaMismatchError, match=r"expected one row per \(patient_id, sequence\); "
                                                  r"found 6 duplicated pair\(s\): p000/ADC"):
        to_wide(long, reader=None)
    twice = pd.concat([long_table(cohort="c1").to_pandas(), long_table(cohort="c2").to_pandas()])
    with pytest.raises(SchemaMismatchError, match="Filter to one cohort/reader"):
        to_wide(twice)


def test_inconsistent_label_is_an_error(long_table) -> None:
    long = long_table(n_patients=2).to_pandas()
    long.loc[0, "label"] = 1 - long.loc[0, "label"]
    with pytest.raises(SchemaMismatchError, match=r"column 'label': expected one value per patient;"
                                                  r" found 1 patient\(s\).*\(p000\)"):
        to_wide(long)


def test_missing_columns_and_feature_detection(long_table) -> None:
    with pytest.raises(SchemaMismatchError, match=r"expected columns \['sequence'\]"):
        to_wide(pd.DataFrame({"patient_id": ["a"], "x": [1.0]}))
    frame = long_table().to_pandas()
    assert feature_columns(frame) == [c for c in frame.columns if c.startswith("original_")]
