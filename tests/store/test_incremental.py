"""Incremental writes (``changed=``): new rows are appended, replaced/removed rows merged by key,
another schema overwrites; every version's content is exactly the data passed, and stays readable."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from alnm_ray.constants import CASE_KEY
from alnm_ray.exceptions import ConfigError
from alnm_ray.store._writer import sort_order


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in sort_order(CASE_KEY)])


def _digests(store, table: str) -> dict[str, str]:
    """SHA-256 of every Parquet file in the table's folder."""
    folder = os.path.join(store.uri, "tables", table)
    return {n: hashlib.sha256(open(os.path.join(folder, n), "rb").read()).hexdigest()
            for n in os.listdir(folder) if n.endswith(".parquet")}


def _operations(store, table: str) -> list[str]:
    return [h["operation"] for h in sorted(DeltaTable(store.table_uri(table)).history(),
                                           key=lambda h: h["version"])]


def _patients(table: pa.Table, wanted) -> np.ndarray:
    return np.array([p in wanted for p in table.column("patient_id").to_pylist()])


def test_only_new_keys_are_appended_and_no_earlier_file_is_rewritten(store, long_table) -> None:
    full = long_table(n_patients=6, seed=1)
    new = _patients(full, {"p004", "p005"})
    earlier = full.filter(pa.array(~new))  # the same 8 rows, without the 4 rows of two new patients
    first = store.write_version("radiomics", earlier, version_id="v1")
    files_before = _digests(store, "radiomics")
    second = store.write_version("radiomics", full, version_id="v2", changed=new, parent="v1")
    assert (second.mode, second.delta_version, second.rows, second.parent) == ("append", 1, 12, "v1")
    assert _operations(store, "radiomics") == ["CREATE OR REPLACE TABLE", "WRITE"]
    actions = DeltaTable(store.table_uri("radiomics")).history()[0]
    assert actions["operationParameters"]["mode"] == "Append"
    # the earlier files are all still there, byte for byte, and still referenced
    after = _digests(store, "radiomics")
    assert {n: after[n] for n in files_before} == files_before and len(after) == len(files_before) + 1
    assert set(files_before) < set(store.with_files(second).files)
    added = set(after) - set(files_before)
    assert store.with_files(second).file_sha256[added.pop()]  # its checksum recorded by the commit
    # content: exactly the data passed; the earlier version unchanged, by id and by Delta number
    assert store.read("radiomics").equals(_sorted(full))
    assert store.read("radiomics@v1").equals(store.read("radiomics@0"))
    assert store.read("radiomics@v1").equals(_sorted(earlier))
    assert store.read("radiomics@v1").num_rows == first.rows == 8


def test_replaced_and_removed_keys_are_merged(store, long_table) -> None:
    store.write_version("radiomics", long_table(n_patients=5, seed=1), version_id="v1")
    base = long_table(n_patients=5, seed=1)
    values = base.column("original_firstorder_f0").to_numpy().copy()
    replaced = _patients(base, {"p001"})
    values[replaced] += 100.0
    full = base.set_column(base.schema.get_field_index("original_firstorder_f0"), "original_firstorder_f0",
                           pa.array(values))
    kept = ~_patients(full, {"p003"})  # p003 is gone
    full, changed = full.filter(pa.array(kept)), replaced[kept]
    info = store.write_version("radiomics", full, version_id="v2", changed=changed)
    assert (info.mode, info.delta_version, info.rows, info.cases) == ("merge", 1, 8, 8)
    assert _operations(store, "radiomics")[-1] == "MERGE"
    metrics = DeltaTable(store.table_uri("radiomics")).history()[0]["operationMetrics"]
    assert (metrics["num_target_rows_updated"], metrics["num_target_rows_deleted"]) == (2, 2)
    assert store.read("radiomics").equals(_sorted(full))
    for ref in ("radiomics@v1", "radiomics@0"):
        assert store.read(ref).equals(_sorted(base))
    assert "p003" not in store.read("radiomics")["patient_id"].to_pylist()
    # a removal alone is a merge too
    fewer = full.filter(pa.array(~_patients(full, {"p004"})))
    info = store.write_version("radiomics", fewer, version_id="v3", changed=np.zeros(fewer.num_rows, bool))
    assert (info.mode, info.rows) == ("merge", 6) and store.read("radiomics").equals(_sorted(fewer))
    assert store.read("radiomics@1").equals(_sorted(full)) and store.read("radiomics@v2").num_rows == 8


def test_a_row_called_unchanged_that_differs_is_written_as_well(store, long_table) -> None:
    base = long_table(n_patients=3, seed=1)
    store.write_version("radiomics", base, version_id="v1")
    labels = pc.if_else(_patients(base, {"p000"}), 1, base.column("label"))  # relabelled, features cached
    full = base.set_column(base.schema.get_field_index("label"), "label", labels)
    info = store.write_version("radiomics", full, version_id="v2", changed=np.zeros(full.num_rows, bool))
    assert info.mode == "merge" and store.read("radiomics").equals(_sorted(full))
    assert store.read("radiomics@v1").equals(_sorted(base))


def test_another_schema_or_key_falls_back_to_an_overwrite(store, long_table) -> None:
    store.write_version("radiomics", long_table(n_patients=3, seed=1), version_id="v1")
    wider = long_table(n_patients=4, n_features=4, seed=1)
    info = store.write_version("radiomics", wider, version_id="v2",
                               changed=_patients(wider, {"p003"}))
    assert info.mode == "overwrite" and info.rows == 8
    assert store.read("radiomics").equals(_sorted(wider))
    assert store.read("radiomics@v1").num_columns == 10 and store.read("radiomics@v2").num_columns == 11
    # without a version id, or on a new table, changed= is ignored too
    data = long_table(n_patients=5, n_features=4, seed=1)
    assert store.write_version("radiomics", data, changed=_patients(data, {"p004"})).mode == "overwrite"
    assert store.write_version("deep", data, version_id="d1", changed=_patients(data, {"p004"})).mode \
        == "overwrite"


def test_the_mask_must_cover_the_rows(store, long_table) -> None:
    store.write_version("radiomics", long_table(n_patients=3), version_id="v1")
    with pytest.raises(ConfigError, match=r"changed: expected one boolean per row of data \(6\)"):
        store.write_version("radiomics", long_table(n_patients=3), version_id="v2", changed=[True])
    assert [v.version for v in store.versions()] == ["v1"]


def test_an_incremental_version_id_that_exists_writes_nothing(store, long_table) -> None:
    full = long_table(n_patients=4, seed=1)
    store.write_version("radiomics", full.filter(pa.array(~_patients(full, {"p003"}))), version_id="v1")
    first = store.write_version("radiomics", full, version_id="v2", changed=_patients(full, {"p003"}))
    files = _digests(store, "radiomics")
    again = store.write_version("radiomics", full, version_id="v2", changed=_patients(full, {"p003"}))
    assert again == first and _digests(store, "radiomics") == files
    assert len(DeltaTable(store.table_uri("radiomics")).history()) == 2


# --- upsert: the caller hands over only the rows that change --------------------------------------
KEY = ("cohort", "patient_id")


def _scores(ids, p, cohort="c1"):
    return pa.table({"cohort": [cohort] * len(ids), "patient_id": list(ids), "p": [float(x) for x in p]})


def test_upsert_appends_new_keys_and_merges_replaced_or_deleted_ones(store) -> None:
    first = store.write_version("scores", _scores(["a", "b", "c"], [0.1, 0.2, 0.3]), key=KEY, role="output")
    before = _digests(store, "scores")
    added = store.upsert("scores", _scores(["d"], [0.4]), key=KEY, version_id="u1", role="output")
    assert added.mode == "append" and added.rows == 4 and added.parent == first.version
    assert all(_digests(store, "scores")[n] == d for n, d in before.items())  # nothing rewritten
    merged = store.upsert("scores", _scores(["b"], [0.9]), key=KEY, version_id="u2", role="output",
                          delete=_scores(["c", "zz"], [0, 0]).select(list(KEY)))
    assert merged.mode == "merge" and merged.rows == 3 and merged.cases == 3
    assert store.read("scores").to_pydict() == {"cohort": ["c1"] * 3, "patient_id": ["a", "b", "d"],
                                                "p": [0.1, 0.9, 0.4]}
    assert _operations(store, "scores")[-2:] == ["WRITE", "MERGE"]
    assert store.read("scores@u1").num_rows == 4 and store.read(f"scores@{first.version}").num_rows == 3
    again = store.upsert("scores", _scores(["b"], [0.9]), key=KEY, version_id="u2", role="output")
    assert again.delta_version == merged.delta_version  # an existing id writes nothing


def test_upsert_reads_only_the_key_columns_of_the_latest_version(store, monkeypatch) -> None:
    wide = _scores(["a", "b"], [0.1, 0.2]).append_column("blob", pa.array(["x" * 1000, "y" * 1000]))
    store.write_version("scores", wide, key=KEY, role="output")
    asked: list = []
    real = type(store).read

    def spy(self, table, version=None, columns=None):  # the real read, recording what was asked
        asked.append(columns)
        return real(self, table, version, columns)

    monkeypatch.setattr(type(store), "read", spy)
    new = _scores(["c"], [0.3]).append_column("blob", pa.array(["z"]))
    store.upsert("scores", new, key=KEY, version_id="u1", role="output")
    assert asked and all(c is not None and "blob" not in c for c in asked)


def test_upsert_on_a_new_table_or_other_columns_writes_the_whole_content(store) -> None:
    made = store.upsert("scores", _scores(["a"], [0.1]), key=KEY, version_id="u0", role="output")
    assert made.mode == "overwrite" and made.rows == 1
    wider = _scores(["b"], [0.2]).append_column("extra", pa.array([1.0]))
    info = store.upsert("scores", wider, key=KEY, version_id="u1", role="output")
    assert info.mode == "overwrite" and info.rows == 2
    back = store.read("scores").to_pydict()
    assert back["patient_id"] == ["a", "b"] and back["extra"][1] == 1.0 and back["extra"][0] is None


def test_upsert_refuses_duplicate_keys_in_its_rows(store) -> None:
    from alnm_ray.exceptions import SchemaMismatchError

    store.write_version("scores", _scores(["a"], [0.1]), key=KEY, role="output")
    with pytest.raises(SchemaMismatchError, match="expected one row per key"):
        store.upsert("scores", _scores(["b", "b"], [0.2, 0.3]), key=KEY, version_id="u1", role="output")
