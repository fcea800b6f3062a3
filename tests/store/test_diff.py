"""diff_versions: columns, rows and per-feature changes between two versions."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from alnm_ray.store import diff_versions


def test_columns_rows_and_feature_changes(store, long_table) -> None:
    base = long_table(n_patients=4, n_features=3, seed=1)
    store.write_version("radiomics", base, version_id="a1")
    changed = base.slice(0, 6)  # drops patient p003
    f1 = changed.column("original_firstorder_f1").to_pylist()
    f1[2] += 0.5
    changed = changed.set_column(changed.schema.get_field_index("original_firstorder_f1"),
                                 "original_firstorder_f1", pa.array(f1))
    changed = changed.drop(["original_firstorder_f2"]).append_column("new_feature",
                                                                     pa.array([1.0] * 6))
    store.write_version("radiomics", changed, version_id="b1")
    result = diff_versions(store, "radiomics@a1", "radiomics")
    assert result.added_columns == ["new_feature"]
    assert result.removed_columns == ["original_firstorder_f2"]
    assert (result.rows_a, result.rows_b, result.common, result.only_a, result.only_b) == (8, 6, 6, 2, 0)
    assert result.changed_rows == 1
    assert [(f.column, f.changed) for f in result.features] == [("original_firstorder_f1", 1)]
    assert result.features[0].max_abs_diff == pytest.approx(0.5)
    assert result.unchanged_features == 2  # label and f0 (case_hash is text)


def test_tolerance_and_nan(store) -> None:
    a = pa.table({"patient_id": ["a", "b"], "x": [1.0, 2.0]})
    b = pa.table({"patient_id": ["a", "b"], "x": [1.0 + 1e-9, float("nan")]})
    store.write_version("clinical", a, version_id="a", key=("patient_id",))
    store.write_version("clinical", b, version_id="b", key=("patient_id",))
    result = diff_versions(store, "clinical@a", "clinical@b", tolerance=1e-6)
    assert result.changed_rows == 1 and result.features[0].max_abs_diff == float("inf")


def test_tables_without_a_key_compare_columns_only(store) -> None:
    store.write_version("cv_results", pa.table({"auc": [0.7, 0.8]}), version_id="a")
    store.write_version("cv_results", pa.table({"auc": [0.7], "f1": [0.5]}), version_id="b")
    result = diff_versions(store, "cv_results@a", "cv_results@b")
    assert result.key == () and result.changed_rows is None
    assert result.added_columns == ["f1"] and (result.rows_a, result.rows_b) == (2, 1)
    assert pc.sum(store.read("cv_results", "a")["auc"]).as_py() == pytest.approx(1.5)
