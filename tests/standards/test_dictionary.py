"""The feature_dictionary store table, from a real store, read back with SQL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnm_ray.store import FeatureStore, query
from alnm_ray.standards.dictionary import (NO_IBSI, TABLE, build_feature_dictionary, dictionary_for_columns,
                                           write_feature_dictionary)

RADIOMICS_PARAMS = {"pyradiomics_params": {"setting": {"binWidth": 25, "voxelArrayShift": 300},
                                           "imageType": {"Original": {}, "LoG": {"sigma": [1.0]}}}}


@pytest.fixture()
def store(tmp_path) -> FeatureStore:
    s = FeatureStore(tmp_path / "store")
    key = {"cohort": ["c"] * 4, "center": ["A"] * 4, "patient_id": ["p1", "p1", "p2", "p2"],
           "sequence": ["MG_CC", "T2WI", "MG_CC", "T2WI"], "reader": ["A"] * 4}
    nan = np.nan
    radiomics = pd.DataFrame({**key, "case_hash": list("abcd"), "label": [1, 1, 0, 0],
                              "original_shape2D_Elongation": [0.5, nan, 0.6, nan],
                              "original_shape_MajorAxisLength": [nan, 11.0, nan, 12.0],
                              "original_firstorder_Energy": [1.0, 2.0, 3.0, 4.0],
                              "original_glcm_Idm": [0.1, 0.2, 0.3, 0.4],
                              "log-sigma-1-0-mm-3D_firstorder_Kurtosis": [nan, 3.0, nan, 3.1]})
    s.write_version("radiomics", radiomics, params=RADIOMICS_PARAMS)
    deep = pd.DataFrame({**key, "case_hash": list("efgh"), "_device": ["cpu"] * 4,
                         **{f"deep_{i:03d}": np.arange(4.0) for i in range(3)}})
    s.write_version("deep", deep, params={"embed": {"grid": [32, 32, 32], "margin_mm": 5.0}, "weights": None})
    s.write_version("clinical", pd.DataFrame({"patient_id": ["p1", "p2"], "age": [50.0, 61.0],
                                              "ki67": ["high", "low"]}))
    s.write_version("cv_results", pd.DataFrame({"auc": [0.7]}))
    return s


def test_every_feature_column_of_every_table_has_a_row(store: FeatureStore) -> None:
    info = write_feature_dictionary(store)
    assert info is not None and info.role == "dictionary"  # tune never models the dictionary
    assert TABLE not in store.feature_tables() and store.tables(role="dictionary") == [TABLE]
    d = query(store, "SELECT * FROM feature_dictionary").to_pandas()
    assert set(d["table"]) == {"radiomics", "deep", "clinical"}  # cv_results is not a feature table
    rad = d[d["table"] == "radiomics"]
    assert set(rad[rad["sequence"] == "MG_CC"]["column"]) == {
        "original_shape2D_Elongation", "original_firstorder_Energy", "original_glcm_Idm"}
    assert set(rad[rad["sequence"] == "T2WI"]["column"]) == {
        "original_shape_MajorAxisLength", "original_firstorder_Energy", "original_glcm_Idm",
        "log-sigma-1-0-mm-3D_firstorder_Kurtosis"}
    assert set(d[d["table"] == "deep"]["column"]) == {"deep_000", "deep_001", "deep_002"}  # not _device
    assert set(d[d["table"] == "clinical"]["column"]) == {"age", "ki67"}
    row = rad.set_index("wide_column")
    assert row.loc["T2WI__original_glcm_Idm", "ibsi_code"] == "WF0Z"
    assert row.loc["T2WI__original_glcm_Idm", "aggregation"].startswith("3D: per direction (13)")
    assert row.loc["MG_CC__original_glcm_Idm", "aggregation"].startswith("2D")
    assert "fixed bin size 25" in row.loc["T2WI__original_glcm_Idm", "discretisation"]
    assert "voxelArrayShift 300" in row.loc["T2WI__original_firstorder_Energy", "conformance"]
    assert row.loc["MG_CC__original_shape2D_Elongation", "ibsi_code"] == NO_IBSI
    log = row.loc["T2WI__log-sigma-1-0-mm-3D_firstorder_Kurtosis"]
    assert (log["image_type"], log["filter_parameters"], log["filter_ibsi2"]) == ("LoG", "sigma 1.0 mm",
                                                                                 "partial (L6PA)")
    assert d[d["table"] == "deep"]["ibsi_name"].eq(NO_IBSI).all()
    assert write_feature_dictionary(store).version == info.version  # nothing new: the same version


def test_dictionary_for_columns_keeps_order_and_falls_back_to_the_mapping(store: FeatureStore) -> None:
    write_feature_dictionary(store)
    cols = ["T2WI__deep_001", "T2WI__original_glcm_Idm", "ADC__original_firstorder_Kurtosis", "age"]
    d = dictionary_for_columns(store, cols)
    assert list(d["wide_column"]) == cols
    assert list(d["table"]) == ["deep", "radiomics", "", "clinical"]
    assert d.iloc[2]["conformance"].startswith("differs by convention")


def test_empty_store_writes_nothing(tmp_path) -> None:
    assert write_feature_dictionary(FeatureStore(tmp_path / "s")) is None
    assert build_feature_dictionary(FeatureStore(tmp_path / "s")).empty
