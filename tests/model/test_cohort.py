"""read_cohort: one read of the store for tune, train and score (labels, centres, splits, pins)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import ConfigError, SchemaMismatchError
from alnm_ray.model.cohort import (LongTables, centers_from, cohort_from, first_values, labels_from,
                                   read_cohort, wide_table)
from alnm_ray.store import FeatureStore


def _long(ids, *, cohort, label=None, center="C1", split=None, readers=("A",)):
    rows = []
    for i, pid in enumerate(ids):
        for reader in readers:
            for seq in ("T2WI", "DWI"):
                rows.append({"cohort": cohort, "center": center, "patient_id": pid, "sequence": seq,
                             "reader": reader, "original_firstorder_Mean": float(i) + (seq == "DWI"),
                             **({} if label is None else {"label": label[i]}),
                             **({} if split is None else {"split": split[i]})})
    return pd.DataFrame(rows)


@pytest.fixture
def store(tmp_path) -> FeatureStore:
    s = FeatureStore(tmp_path / "store")
    rad = pd.concat([_long(["a1", "a2", "a3"], cohort="a", label=[1, 0, None], split=["train", "test", "train"],
                           readers=("A", "B")),
                     _long(["b1", "b2"], cohort="b", label=[0, 1], center="C2")], ignore_index=True)
    s.write_version("radiomics", rad)
    # the clinical table knows a3's label, which the manifest lacked, and has no cohort column
    s.write_version("clinical", pd.DataFrame({"patient_id": ["a1", "a2", "a3", "b1", "b2"],
                                              "age": [50.0, 61.0, 47.0, 70.0, 33.0],
                                              "label": [1.0, np.nan, 1.0, np.nan, np.nan]}))
    return s


def test_read_cohort_widens_fills_labels_across_tables_and_records_pins(store):
    first = store.latest("radiomics").version
    cohort = read_cohort(store, "clinical+radiomics")
    assert list(cohort.patients) == ["a1", "a2", "a3", "b1", "b2"]
    assert cohort.labels.tolist() == [1.0, 0.0, 1.0, 0.0, 1.0]  # a3's from the clinical table
    assert cohort.centers.tolist() == ["C1", "C1", "C1", "C2", "C2"]
    assert cohort.splits.tolist()[:3] == ["train", "test", "train"] and cohort.splits.isna().sum() == 2
    assert cohort.cohort_names.tolist() == ["a", "a", "a", "b", "b"]
    assert cohort.pins == {"clinical": store.latest("clinical").version, "radiomics": first}
    assert set(cohort.reader_table["reader"]) == {"A", "B"}  # every reader's rows for the ICC filter
    X = cohort.feature_set("clinical+radiomics")
    assert list(X.columns) == ["age", "T2WI__original_firstorder_Mean", "DWI__original_firstorder_Mean"]
    # pins read the same version again after a newer one is written
    store.write_version("radiomics", store.read("radiomics").to_pandas().iloc[:4])
    assert read_cohort(store, "radiomics", pins={"radiomics": first[:10]}).pins["radiomics"] == first


def test_cohorts_restrict_every_table_and_unknown_cohorts_fail(store):
    cohort = read_cohort(store, ["radiomics", "clinical"], cohorts=["b"])
    assert list(cohort.patients) == ["b1", "b2"]
    assert list(cohort.tables["clinical"].index) == ["b1", "b2"]  # no cohort column: the cohort's patients
    assert cohort.feature_set("clinical+radiomics").shape == (2, 3)
    with pytest.raises(ConfigError, match=r"--cohort: table radiomics@\w+ has no rows of cohort\(s\) \['zz'\]"):
        read_cohort(store, "radiomics", cohorts=["zz"])


def test_reader_chooses_the_wide_rows(store):
    a = read_cohort(store, "radiomics", cohorts=["a"])
    b = read_cohort(store, "radiomics", cohorts=["a"], reader="B")
    assert a.tables["radiomics"].equals(b.tables["radiomics"])  # B's rows copy A's values here
    assert list(read_cohort(store, "radiomics", reader="B").patients) == ["a1", "a2", "a3"]


def test_label_rule_disagreement_and_values():
    a = pd.DataFrame({"patient_id": ["p1", "p2"], "label": [1, 0]})
    assert labels_from({"a": a, "b": a.assign(label=[1, np.nan])}).tolist() == [1.0, 0.0]
    with pytest.raises(SchemaMismatchError, match=r"table 'b' disagrees with another table for 1 patient\(s\)"):
        labels_from({"a": a, "b": a.assign(label=[1, 1])})
    with pytest.raises(SchemaMismatchError, match="expected 0/1 values; found '2.0'"):
        labels_from({"a": a.assign(label=[2, 0])})
    with pytest.raises(SchemaMismatchError, match="no table has a 'label' column"):
        labels_from({"a": a.drop(columns="label")})
    no_labels = cohort_from(LongTables({}, {"a": a.drop(columns="label")}))
    assert no_labels.labels is None
    with pytest.raises(SchemaMismatchError, match="no table has a 'label' column"):
        no_labels.require_labels()


def test_first_values_and_centers_follow_table_order():
    a = pd.DataFrame({"patient_id": ["p1", "p2"], "center": ["X", None]})
    b = pd.DataFrame({"patient_id": ["p2", "p3"], "center": ["Y", "Z"]})
    assert first_values({"a": a, "b": b}, "center").tolist() == ["X", "Y", "Z"]
    assert first_values({"a": a}, "split") is None
    assert centers_from({"b": b, "a": a}).tolist() == ["X", "Y", "Z"]
    with pytest.raises(SchemaMismatchError, match="no table has a 'center' column"):
        centers_from({"a": a.drop(columns="center")})


def test_wide_table_refuses_tables_that_are_neither_per_case_nor_per_patient():
    with pytest.raises(SchemaMismatchError, match="expected a 'patient_id' column"):
        wide_table("odd", pd.DataFrame({"id": ["p1"], "x": [1.0]}), "A")
    with pytest.raises(SchemaMismatchError, match=r"patient id\(s\) 'p1' repeat"):
        wide_table("clinical", pd.DataFrame({"patient_id": ["p1", "p1"], "x": [1.0, 2.0]}), "A")


def test_patients_sorted_as_text_and_every_disagreement_counted():
    ids = ["p10", "p2", "é1", "Z", "p1"]
    a = pd.DataFrame({"patient_id": ids, "label": [1, 0, 1, None, 0],
                      "center": ["A", None, "B", None, None]})
    b = pd.DataFrame({"patient_id": ["p1", "q", "p2"], "label": [0.0, 0.0, np.nan], "center": [None, "C", "D"]})
    labels = labels_from({"a": a, "b": b})
    assert labels.index.tolist() == sorted({*ids, "q"}) and labels.index.dtype == pd.Index(ids).dtype
    with pytest.raises(SchemaMismatchError, match=r"for 2 patient\(s\) \('p1', 'p2'\)"):
        labels_from({"a": a, "b": b.assign(label=[1.0, 0.0, 1.0])})
    centers = first_values({"a": a, "b": b}, "center")
    assert centers.dtype == object and centers.index.tolist() == labels.index.tolist()
    assert centers.loc[["p2", "q", "é1"]].tolist() == ["D", "C", "B"] and centers.isna().sum() == 2
    assert centers["p1"] is None and centers["Z"] != centers["Z"]  # None: b has p1; NaN: b lacks Z
    cohort = cohort_from(LongTables({}, {"a": a, "b": b}))
    assert cohort.patients.equals(labels.index) and cohort.labels.equals(labels)
    assert cohort.centers.equals(centers.reindex(cohort.patients)) and cohort.splits is None
