"""`alnm-ray features list|show|diff|import`."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.constants import ERROR_COLUMNS
from alnm_ray.store import FeatureStore


def _radiomics(values: list[float]) -> pa.Table:
    n = len(values)
    return pa.table({"cohort": ["c"] * n, "center": ["X"] * n,
                     "patient_id": [f"p{i}" for i in range(n)], "sequence": ["ADC"] * n,
                     "reader": ["A"] * n, "original_glcm_Idm": values})


@pytest.fixture
def store_path(tmp_path) -> str:
    path = str(tmp_path / "store")
    store = FeatureStore(path)
    errors = pa.table({c: ["x"] for c in ERROR_COLUMNS}).set_column(
        ERROR_COLUMNS.index("error_type"), "error_type", pa.array(["GeometryMismatchError"]))
    store.write_version("radiomics", _radiomics([1.0, 2.0, 3.0]), version_id="aaaa1111",
                        params={"binWidth": 25}, lineage={"manifest": "m.csv"})
    store.write_version("radiomics", _radiomics([1.0, 2.5]), version_id="bbbb2222",
                        parent="aaaa1111", errors=errors)
    return path


def _run(*args: str):
    return CliRunner().invoke(cli, ["--quiet", "features", *args])


def test_list_tables_and_versions(store_path) -> None:
    tables = _run("list", "--store", store_path)
    assert tables.exit_code == 0, tables.output
    assert tables.output.splitlines()[2].split() == ["radiomics", "bbbb2222", "2", "2", "2", "1"] + \
        tables.output.splitlines()[2].split()[6:]
    versions = _run("list", "radiomics", "--store", store_path, "--format", "json")
    rows = json.loads(versions.output)
    assert [(r["version"], r["parent"], r["latest"]) for r in rows] == [
        ("aaaa1111", None, False), ("bbbb2222", "aaaa1111", True)]
    unknown = _run("list", "radiomic", "--store", store_path)
    assert unknown.exit_code == 2 and "Did you mean 'radiomics'" in unknown.output


def test_show_text_and_json(store_path) -> None:
    text = _run("show", "radiomics@aaaa", "--store", store_path)
    assert text.exit_code == 0, text.output
    assert "version   aaaa1111" in text.output and '"binWidth": 25' in text.output
    assert "+ 1 other (original_glcm_Idm)" in text.output
    latest = json.loads(_run("show", "radiomics", "--store", store_path, "--format", "json").output)
    assert latest["version"] == "bbbb2222" and latest["failures"] == 1
    assert latest["errors_summary"] == [{"stage": "x", "error_type": "GeometryMismatchError",
                                         "count_all": 1}]


def test_show_states_the_ibsi_conformance_of_each_feature(store_path) -> None:
    text = _run("show", "radiomics", "--store", store_path)
    assert text.exit_code == 0, text.output
    assert "ibsi      1 IBSI-conformant (--columns lists each feature)" in text.output
    listed = _run("show", "radiomics", "--store", store_path, "--columns")
    assert "  original_glcm_Idm\tIBSI-conformant" in listed.output
    body = json.loads(_run("show", "radiomics", "--store", store_path, "--format", "json").output)
    assert body["ibsi_conformance"] == {"original_glcm_Idm": "IBSI-conformant"}


def test_diff_text_and_json(store_path) -> None:
    text = _run("diff", "radiomics@aaaa", "radiomics", "--store", store_path)
    assert text.exit_code == 0, text.output
    assert "rows: 2 in both, 1 only in A, 0 only in B; 1 changed" in text.output
    assert "original_glcm_Idm" in text.output
    body = json.loads(_run("diff", "radiomics@aaaa", "radiomics@bbbb", "--store", store_path,
                           "--format", "json").output)
    assert body["features"] == [{"column": "original_glcm_Idm", "max_abs_diff": 0.5, "changed": 1}]


def test_import_then_query(tmp_path) -> None:
    csv = tmp_path / "clin.csv"
    pd.DataFrame({"ID": ["a", "b", "c"], "y": [0, 1, 1], "age": [40.0, 55.0, 61.0]}).to_csv(csv, index=False)
    store = str(tmp_path / "store")
    first = _run("import", str(csv), "--store", store, "--name", "clinical", "--key", "ID",
                 "--label", "y")
    assert first.exit_code == 0, first.output
    assert first.output.startswith("imported as clinical@") and "3 rows, 1 features" in first.output
    again = _run("import", str(csv), "--store", store, "--name", "clinical", "--key", "ID",
                 "--label", "y")
    assert again.output.startswith("already imported as clinical@")
    out = CliRunner().invoke(cli, ["sql", "--store", store, "SELECT sum(label) AS n FROM clinical",
                                   "--format", "csv"])
    assert out.output.splitlines() == ['"n"', "2"]
    scores = _run("import", str(csv), "--store", store, "--name", "old_scores", "--key", "ID", "--label", "y",
                  "--role", "output")
    assert scores.exit_code == 0, scores.output
    assert FeatureStore(store).feature_tables() == ["clinical"]
    assert FeatureStore(store).tables(role="output") == ["old_scores"]
    bad = _run("import", str(csv), "--store", store, "--name", "other", "--key", "ID", "--role", "outputs")
    assert bad.exit_code == 2 and "role: expected one of dictionary, feature, output; got 'outputs'" in bad.output


def test_import_validation_error_exits_2(tmp_path) -> None:
    csv = tmp_path / "bad.csv"
    pd.DataFrame({"ID": ["a", "a"], "y": [0, 3], "grade": ["G1", "G2"]}).to_csv(csv, index=False)
    result = _run("import", str(csv), "--store", str(tmp_path / "s"), "--name", "clinical",
                  "--key", "ID", "--label", "y")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "import bad.csv as 'clinical': 4 problem(s):" in result.output
    assert "key column 'ID': expected unique ids" in result.output
    assert "label column 'y': expected only 0 and 1" in result.output
    assert "grade (string, e.g. 'G1')" in result.output
    assert "no feature columns" in result.output


def test_verify_and_repair_on_a_healthy_store(store_path) -> None:
    verify = _run("verify", "--store", store_path)
    assert verify.exit_code == 0 and verify.output.startswith("ok: 2 version(s) checked")
    report = json.loads(_run("verify", "--store", store_path, "--format", "json").output)
    assert report == {"versions": 2, "ok": True, "problems": []}
    repair = _run("repair", "--store", store_path)
    assert repair.exit_code == 0 and "nothing to repair" in repair.output
    listed = _run("list", "radiomics", "--store", store_path, "--format", "json")
    assert [r["status"] for r in json.loads(listed.output)] == ["ok", "ok"]


def test_verify_names_a_missing_file_and_exits_1(store_path) -> None:
    import os
    import shutil

    info = FeatureStore(store_path).resolve("radiomics@aaaa")
    shutil.rmtree(info.path)
    verify = _run("verify", "--store", store_path)
    assert verify.exit_code == 1
    assert f"radiomics@aaaa1111  {info.data_dir}/part-00000.parquet: expected the file" in verify.output
    assert f"{info.data_dir}/errors.parquet" not in verify.output  # version aaaa had no errors
    assert "1 problem(s) in 1 of 2 version(s)" in verify.output
    assert not os.path.exists(info.path)
