"""features import: validation and registration of external feature tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import ConfigError, SchemaMismatchError
from alnm_ray.store import import_table


@pytest.fixture
def clinical_frame(rng) -> pd.DataFrame:
    return pd.DataFrame({
        "pid": [f"{i:03d}" for i in range(12)], "site": ["A", "B", "C"] * 4,
        "alnm": [0, 1] * 6, "age": rng.normal(55, 9, 12), "er_positive": rng.integers(0, 2, 12),
        "split": ["train"] * 9 + ["test"] * 3,
    })


def test_csv_import_renames_casts_and_records_lineage(store, tmp_path, clinical_frame) -> None:
    path = tmp_path / "clinical.csv"
    clinical_frame.to_csv(path, index=False)
    result = import_table(store, path, name="clinical", key="pid", label="alnm", center="site")
    table = store.read("clinical")
    assert result.new and result.features == 2 and result.info.rows == 12
    assert table.schema.names == ["patient_id", "center", "label", "split", "age", "er_positive"]
    assert table.column("patient_id").to_pylist()[:2] == ["000", "001"]  # leading zeros kept
    assert str(table.schema.field("er_positive").type) == "double"
    assert table.column("label").to_pylist() == [0, 1] * 6
    assert result.info.lineage["source"] == str(path) and len(result.info.lineage["source_sha256"]) == 64
    assert result.info.params["import"] == {"key": "pid", "label": "alnm", "center": "site",
                                            "format": "csv"}
    assert result.info.key == ("patient_id",)


def test_reimport_is_a_no_op_and_a_new_file_gets_a_parent(store, tmp_path, clinical_frame) -> None:
    path = tmp_path / "clinical.parquet"
    clinical_frame.to_parquet(path)
    first = import_table(store, path, name="clinical", key="pid", label="alnm", center="site")
    again = import_table(store, path, name="clinical", key="pid", label="alnm", center="site")
    assert not again.new and again.info == first.info
    clinical_frame.loc[0, "age"] = 99.0
    clinical_frame.to_parquet(path)
    changed = import_table(store, path, name="clinical", key="pid", label="alnm", center="site")
    assert changed.new and changed.info.parent == first.info.version
    assert len(store.versions("clinical")) == 2


def test_every_problem_is_reported_with_its_column(store, tmp_path, clinical_frame) -> None:
    bad = clinical_frame.copy()
    bad["sex"] = "F"
    bad["grade"] = ["G1", "G2"] * 6
    bad.loc[3, "alnm"] = 2
    bad.loc[[4, 5], "pid"] = "000"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(SchemaMismatchError) as info:
        import_table(store, path, name="clinical", key="pid", label="alnm", center="site")
    message = str(info.value)
    assert message.startswith("import bad.csv as 'clinical': 3 problem(s):")
    assert "key column 'pid': expected unique ids (one row per patient); found 1 duplicated: " \
           "000 (×3)" in message
    assert "label column 'alnm': expected only 0 and 1 (1 = ALNM positive); found 2." in message
    assert "found 2 non-numeric column(s): sex (string, e.g. 'F'); grade (string, e.g. 'G1')" \
        in message
    assert store.versions() == []


def test_missing_key_label_nan_and_clashes(store, tmp_path, clinical_frame) -> None:
    frame = clinical_frame.assign(alnm=[0.0, np.nan] * 6, patient_id=range(12))
    path = tmp_path / "c.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(SchemaMismatchError) as info:
        import_table(store, path, name="clinical", key="pidd", label="alnm")
    message = str(info.value)
    assert "--key column 'pidd' not found" in message and "Did you mean 'pid'?" in message
    assert "label column 'alnm': expected 0/1 in every row; found 6 empty value(s)" in message
    assert "column 'patient_id' already exists and would clash with the renamed 'pidd'" in message


def test_bad_suffix_and_name(store, tmp_path) -> None:
    path = tmp_path / "x.xlsx"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"expected a .csv/.tsv/.csv.gz or .parquet file; got '.xlsx'"):
        import_table(store, path, name="clinical")
    with pytest.raises(ConfigError, match="table name: expected a lower-case identifier"):
        import_table(store, tmp_path / "x.csv", name="Clinical Data")


def test_hostile_ids_are_refused_by_the_id_rule_of_manifests(store, tmp_path, clinical_frame) -> None:
    frame = clinical_frame.copy()
    frame.loc[0, "pid"] = '=HYPERLINK("http://evil","x")'
    frame.loc[1, "pid"] = "../../x"
    frame.loc[2, "pid"] = "P\u202e1"
    frame.loc[3, "pid"] = "P1\nP2"
    frame["cohort"] = ["ok"] * 11 + ["=cmd"]
    path = tmp_path / "c.csv"
    frame.to_csv(path, index=False, encoding="utf-8")
    with pytest.raises(SchemaMismatchError) as info:
        import_table(store, path, name="clinical", key="pid")
    message = str(info.value)
    assert ("key column 'pid': expected an id of ASCII letters, digits, '_', '.' or '-' (starting with a letter, "
            "digit or '_', at most 128 characters); found 4 invalid id(s): row 1: '=HYPERLINK(\"http://evil\","
            "\"x\")' (contains '='); row 2: '../../x' (contains '/'); row 3: 'P\\u202e1' (contains '\\u202e'); "
            "row 4: 'P1\\nP2' (contains '\\n'). Rename them") in message
    assert "column 'cohort': expected an id of ASCII letters" in message and "'=cmd' (contains '=')" in message
    assert "\u202e" not in message  # shown escaped, never raw
    assert not store.exists() or store.latest("clinical") is None


def test_a_fifo_is_refused_without_opening(store, tmp_path) -> None:
    import os

    if not hasattr(os, "mkfifo"):
        pytest.skip("needs FIFOs")
    os.mkfifo(tmp_path / "x.csv")
    with pytest.raises(ConfigError, match=r"x.csv': expected a regular file \(a CSV or Parquet table\); found a "
                                          r"FIFO \(named pipe\)"):
        import_table(store, tmp_path / "x.csv", name="clinical")


def test_imported_tables_are_features_unless_a_role_is_given(store, tmp_path, clinical_frame) -> None:
    path = tmp_path / "clinical.csv"
    clinical_frame.to_csv(path, index=False)
    features = import_table(store, path, name="clinical", key="pid", label="alnm", center="site")
    assert features.info.role == "feature" and store.feature_tables() == ["clinical"]
    results = import_table(store, path, name="old_scores", key="pid", center="site", role="output")
    assert results.info.role == "output" and store.tables(role="output") == ["old_scores"]
    assert store.feature_tables() == ["clinical"]
    with pytest.raises(ConfigError, match="role: expected one of dictionary, feature, output; got 'result'"):
        import_table(store, path, name="other", key="pid", role="result")
    assert "other" not in store.tables()
