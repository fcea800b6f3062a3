"""read_cohort reads a block of columns at a time: the same frames as reading each table whole."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from alnm_ray.model import cohort as cohort_module
from alnm_ray.model.cohort import LongTables, cohort_from, read_cohort, read_frame
from alnm_ray.store import FeatureStore


@pytest.fixture(autouse=True)
def one_column_blocks(monkeypatch, request):
    """Blocks of one column, so that every table of a few rows is read block by block."""
    monkeypatch.setattr(cohort_module, "READ_BLOCK_BYTES", 1)
    monkeypatch.setattr(cohort_module, "READ_BLOCK_MIN_COLUMNS", 1)
    if "whole" not in request.node.name and "fails" not in request.node.name:
        def whole(*args):
            raise AssertionError("read whole")
        monkeypatch.setattr(cohort_module, "_whole_frame", whole)


def _radiomics(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for cohort, ids in (("a", ["p3", "p1", "p10", "p2"]), ("b", ["q2", "q1"])):
        for pid in ids:
            for seq in ("T2WI", "DWI"):
                for reader in ("A", "B"):
                    rows.append({"cohort": cohort, "center": "C" + cohort, "patient_id": pid, "sequence": seq,
                                 "reader": reader, "label": int(pid[-1]) % 2, "split": None if pid == "p2" else "train"})
    df = pd.DataFrame(rows)
    df["original_firstorder_Mean"] = rng.normal(size=len(df))
    df["original_firstorder_Max"] = np.where(rng.random(len(df)) < 0.3, np.nan, rng.normal(size=len(df)))
    df["original_shape_Count"] = pd.array(rng.integers(0, 9, len(df)), dtype="Int64")
    df.loc[::5, "original_shape_Count"] = pd.NA  # an integer column with nulls: float64 once read
    df["original_shape_Voxels"] = rng.integers(0, 1000, len(df))
    df["original_glcm_Small"] = rng.normal(size=len(df)).astype(np.float32)
    df["flagged"] = rng.random(len(df)) < 0.5
    df["note"] = [None if i % 4 else f"n{i}" for i in range(len(df))]
    return df


@pytest.fixture
def store(tmp_path) -> FeatureStore:
    rng = np.random.default_rng(3)
    s = FeatureStore(tmp_path / "store")
    s.write_version("radiomics", _radiomics(rng))
    ids = ["p1", "p2", "p3", "p10", "q1", "q2", "z9"]
    s.write_version("clinical", pd.DataFrame({"patient_id": ids, "age": rng.normal(50, 9, len(ids)),
                                              "stage": rng.integers(1, 4, len(ids)),
                                              "label": [1.0, np.nan, 1.0, 0.0, np.nan, 0.0, 1.0]}))
    return s


def _assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got.columns.equals(expected.columns) and got.columns.dtype == expected.columns.dtype
    assert type(got.index) is type(expected.index) and got.index.equals(expected.index)
    assert got.dtypes.tolist() == expected.dtypes.tolist()


@pytest.mark.parametrize("table", ["radiomics", "clinical"])
def test_read_frame_is_the_table_converted(store, table):
    info = store.resolve(table)
    whole = store.read(table, info.version).to_pandas()
    _assert_same(read_frame(store, info), whole)
    mask = np.arange(len(whole)) % 3 != 1
    _assert_same(read_frame(store, info, mask), whole[pd.Series(mask, index=whole.index)])
    got = read_frame(store, info)
    got.iloc[0, got.columns.get_loc("age" if table == "clinical" else "original_firstorder_Mean")] = -1.0
    assert read_frame(store, info).equals(whole)  # a frame of its own: writable, nothing shared


def test_a_type_other_than_the_logged_one_reads_the_table_whole(store):
    info = store.resolve("clinical")
    wrong = dataclasses.replace(info, columns=tuple((n, "double") for n, _ in info.columns))
    _assert_same(read_frame(store, wrong), store.read("clinical", info.version).to_pandas())


def _reference(store: FeatureStore, specs_tables: list[str], cohorts: list[str], reader: str):
    """read_cohort as a reading of each table whole, then pandas filters."""
    infos = {t: store.resolve(t) for t in specs_tables}
    longs = {t: store.read(t, i.version).to_pandas() for t, i in infos.items()}
    if cohorts:
        longs = {t: df[df["cohort"].astype(str).isin(cohorts)] if "cohort" in df.columns else df
                 for t, df in longs.items()}
        ids = set().union(*[set(df["patient_id"].astype(str)) for df in longs.values() if "cohort" in df.columns])
        longs = {t: df if "cohort" in df.columns else df[df["patient_id"].astype(str).isin(ids)]
                 for t, df in longs.items()}
    return cohort_from(LongTables(infos, longs), reader=reader)


@pytest.mark.filterwarnings("ignore:feature set .clinical.radiomics.. join=.inner. dropped")
@pytest.mark.parametrize("cohorts,reader", [([], "A"), (["a"], "A"), (["b"], "B"), (["b", "a"], "A")])
def test_read_cohort_equals_tables_read_in_full_and_filtered(store, cohorts, reader):
    got = read_cohort(store, "clinical+radiomics", cohorts=cohorts, reader=reader)
    expected = _reference(store, ["clinical", "radiomics"], cohorts, reader)
    assert list(got.tables) == list(expected.tables) and list(got.longs) == list(expected.longs)
    for table in expected.tables:
        _assert_same(got.tables[table], expected.tables[table])
        _assert_same(got.longs[table], expected.longs[table])
    assert got.patients.equals(expected.patients) and got.pins == expected.pins
    for name in ("labels", "centers", "splits", "cohort_names"):
        pd.testing.assert_series_equal(getattr(got, name), getattr(expected, name), check_exact=True)
    assert got.feature_set("clinical+radiomics", join="inner").equals(
        expected.feature_set("clinical+radiomics", join="inner"))


def test_undecodable_data_fails_as_the_store_reads_it(store):
    from pathlib import Path

    from alnm_ray.exceptions import StoreError

    info = store.with_files(store.resolve("radiomics"))
    part = Path(info.path) / info.files[0]
    raw = bytearray(part.read_bytes())
    raw[4:len(raw) // 2] = b"\x17" * (len(raw) // 2 - 4)  # same size: the file checks pass, decoding fails
    part.write_bytes(bytes(raw))
    with pytest.raises(StoreError) as expected:
        store.read("radiomics", info.version)
    with pytest.raises(type(expected.value)) as got:
        read_frame(store, info)
    assert str(got.value) == str(expected.value)
