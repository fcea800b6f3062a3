"""`alnm-ray features list|show|diff|import|verify|repair|compact|vacuum|migrate`."""

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

    store = FeatureStore(store_path)
    info = store.with_files(store.resolve("radiomics@aaaa"))
    os.remove(os.path.join(info.path, info.files[0]))
    verify = _run("verify", "--store", store_path)
    assert verify.exit_code == 1
    assert f"radiomics@aaaa1111  {info.data_dir}/{info.files[0]}: expected the file" in verify.output
    assert "1 problem(s) in 1 of 2 version(s)" in verify.output
    assert "features repair" in verify.output


def _parquet(store_path: str, table: str) -> set[str]:
    import os

    folder = os.path.join(store_path, "tables", table)
    return {n for n in os.listdir(folder) if n.endswith(".parquet")}


def test_compact_merges_files_and_keeps_every_version(tmp_path) -> None:
    path = str(tmp_path / "store")
    store = FeatureStore(path, row_group_rows=2, rows_per_file=2)
    store.write_version("radiomics", _radiomics([1.0, 2.0, 3.0, 4.0, 5.0]), version_id="aaaa1111")
    before = store.read("radiomics@aaaa1111")
    result = _run("compact", "--store", path)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "radiomics: 3 file(s) merged into 1"
    fresh = FeatureStore(path)
    assert len(fresh.with_files(fresh.latest("radiomics")).files) == 1
    assert fresh.read("radiomics@aaaa1111").equals(before) and fresh.latest("radiomics").version == "aaaa1111"
    unknown = _run("compact", "radiomic", "--store", path)
    assert unknown.exit_code == 2 and "Did you mean 'radiomics'" in unknown.output


def test_vacuum_is_a_dry_run_unless_apply_and_keeps_what_keep_names(store_path) -> None:
    store = FeatureStore(store_path)
    old = set(store.with_files(store.resolve("radiomics@aaaa")).files)
    everything = _parquet(store_path, "radiomics")
    dry = _run("vacuum", "--store", store_path, "--retention-hours", "0")
    assert dry.exit_code == 0, dry.output
    assert f"radiomics: {len(old)} file(s) to delete" in dry.output
    assert f"{len(old)} file(s) would be deleted (run again with --apply)" in dry.output
    assert _parquet(store_path, "radiomics") == everything
    kept = _run("vacuum", "--store", store_path, "--retention-hours", "0", "--apply", "--keep", "radiomics@aaaa")
    assert kept.exit_code == 0, kept.output
    assert "radiomics: kept pinned aaaa1111" in kept.output and "0 file(s) deleted" in kept.output
    assert _parquet(store_path, "radiomics") == everything
    applied = _run("vacuum", "--store", store_path, "--retention-hours", "0", "--apply")
    assert applied.exit_code == 0, applied.output
    assert f"{len(old)} file(s) deleted" in applied.output
    assert _parquet(store_path, "radiomics") == everything - old
    assert FeatureStore(store_path).read("radiomics").num_rows == 2
    again = _run("vacuum", "--store", store_path, "--retention-hours", "0", "--apply")
    assert again.output.strip().endswith("0 file(s) deleted")
    bad = _run("vacuum", "--store", store_path, "--keep", "radiomics")
    assert bad.exit_code == 2 and "expected table@version" in bad.output


def test_migrate_converts_an_old_store_and_a_second_run_does_nothing(tmp_path) -> None:
    import hashlib
    import os

    import pyarrow.parquet as pq

    root = tmp_path / "old"
    folder = root / "tables" / "radiomics" / "aaaa1111-0123abcd"
    folder.mkdir(parents=True)
    (root / "_catalog" / "radiomics").mkdir(parents=True)
    (root / "_store.json").write_text('{"alnm_ray_store": 1}', encoding="utf-8")
    data = _radiomics([1.0, 2.0])
    pq.write_table(data, folder / "part-00000.parquet")
    raw = (folder / "part-00000.parquet").read_bytes()
    record = {"catalog_format": 1, "table": "radiomics", "version": "aaaa1111",
              "created": "2025-01-01T00:00:00+00:00", "rows": 2, "cases": 2, "failures": 0,
              "data_dir": "tables/radiomics/aaaa1111-0123abcd", "files": ["part-00000.parquet"],
              "errors_file": None, "key": ["cohort", "center", "patient_id", "sequence", "reader"],
              "columns": [[f.name, str(f.type)] for f in data.schema], "params": {"binWidth": 25},
              "lineage": {}, "counts": {}, "parent": None, "role": "feature",
              "file_sizes": {"part-00000.parquet": len(raw)},
              "file_sha256": {"part-00000.parquet": hashlib.sha256(raw).hexdigest()}}
    (root / "_catalog" / "radiomics" / "aaaa1111.json").write_text(json.dumps(record), encoding="utf-8")
    refused = _run("list", "--store", str(root))
    assert refused.exit_code != 0 and f"alnm-ray features migrate {root}" in refused.output
    first = _run("migrate", str(root))
    assert first.exit_code == 0, first.output
    assert "radiomics: 1 version(s)" in first.output and "migrated 1 version(s) of 1 table(s)" in first.output
    assert os.path.isdir(root / "_legacy_v1" / "_catalog")
    listed = json.loads(_run("list", "radiomics", "--store", str(root), "--format", "json").output)
    assert [(r["version"], r["status"]) for r in listed] == [("aaaa1111", "ok")]
    assert FeatureStore(str(root)).read("radiomics@aaaa1111").equals(data)
    second = _run("migrate", str(root))
    assert second.exit_code == 0 and "nothing to migrate" in second.output
    assert len(FeatureStore(str(root)).versions()) == 1
