"""The PyRadiomics -> IBSI mapping data and the conformance statements built from it."""

from __future__ import annotations

import pytest
from radiomics import getFeatureClasses

from alnm_ray.standards import conformance, conformance_for_columns, parse_column
from alnm_ray.standards.mapping import ibsi_features, read_data_csv
from alnm_ray.standards.phantom import AGGREGATION, classify, convert, reference_values, within_precision


def test_mapping_covers_every_pyradiomics_feature_exactly() -> None:
    mapped = ibsi_features()
    installed = {(c, f): dep for c, k in getFeatureClasses().items() for f, dep in k.getFeatureNames().items()}
    assert set(mapped) == set(installed)
    assert all(mapped[key].deprecated == dep for key, dep in installed.items())
    assert {m.conformance for m in mapped.values()} == {"conformant", "convention", "none"}


def test_every_mapped_3d_feature_has_a_reference_value() -> None:
    refs = reference_values()
    for (cls, _feat), row in ibsi_features().items():
        if row.conformance != "none" and ("3D", cls) in AGGREGATION:
            assert (row.ibsi_code, AGGREGATION[("3D", cls)]) in refs, row


def test_reference_file_has_its_source_and_four_letter_codes() -> None:
    rows = read_data_csv("ibsi1_reference.csv")
    assert len(rows) > 400 and all(len(r["ibsi_code"]) == 4 for r in rows)
    assert {"Q4LE", "IPH6", "TDIC"} <= {r["ibsi_code"] for r in rows}


@pytest.mark.parametrize("column, expected", [
    ("T2WI__original_firstorder_Kurtosis", "differs by convention (PyRadiomics reports kurtosis"),
    ("original_glcm_Idm", "IBSI-conformant"),
    ("MG_CC__wavelet-LH_glcm_Idm", "IBSI-conformant; on a Wavelet-filtered image (IBSI-2: partial)"),
    ("log-sigma-1-0-mm-3D_shape_MajorAxisLength", "differs by convention (PyRadiomics divides the coordinate"),
    ("original_glcm_MCC", "not in IBSI"), ("original_shape2D_Elongation", "not in IBSI"),
    ("T2WI__deep_511", "not in IBSI"), ("age", "not in IBSI"), ("original_glcm_Nonsense", "not in IBSI"),
])
def test_conformance_for_columns(column: str, expected: str) -> None:
    assert conformance_for_columns([column])[0].startswith(expected)


def test_settings_that_break_ibsi_equality_are_stated() -> None:
    assert conformance("firstorder", "Energy", settings={"voxelArrayShift": 0, "binWidth": 25}) == "IBSI-conformant"
    assert "voxelArrayShift 300" in conformance("firstorder", "Energy", settings={"voxelArrayShift": 300})
    assert "fixed bin size 25" in conformance("glcm", "JointAverage", settings={"binWidth": 25})
    assert conformance("glcm", "JointAverage", settings={"binCount": 32}) == "IBSI-conformant"
    assert conformance("firstorder", "Mean", settings={"binWidth": 25}) == "IBSI-conformant"  # not discretised


def test_parse_column_parts() -> None:
    p = parse_column("DCE_P2__log-sigma-2-0-mm-3D_glszm_ZoneEntropy")
    assert (p.sequence, p.image_type, p.feature_class, p.feature) == ("DCE_P2", "LoG", "glszm", "ZoneEntropy")
    assert parse_column("wavelet2-HHL_ngtdm_Busyness").image_type == "Wavelet"
    assert parse_column("lbp-3D-m1_glcm_Idm").image_type == "LBP3D"
    assert parse_column("deep_007").source == "deep"


def test_precision_and_conversions() -> None:
    assert within_precision(2.1486, 2.15) and not within_precision(2.156, 2.15)
    assert within_precision(0.00963, 0.00963) and not within_precision(11.325, 11.4)
    assert convert("kurtosis_plus_3", 2.6454, n_voxels=74) == pytest.approx(-0.3546)
    assert convert("pca_sample_covariance", 11.325082, n_voxels=74) == pytest.approx(11.4024, abs=1e-4)


def test_classify_flags_wrong_values_and_wrong_conventions() -> None:
    assert classify("firstorder", "Mean", 2.1486, "3D", n_voxels=74)["outcome"] == "match"
    assert classify("firstorder", "Mean", 2.20, "3D", n_voxels=74)["outcome"] == "fail"
    assert classify("firstorder", "Kurtosis", 2.6454, "3D", n_voxels=74)["outcome"] == "convention"
    wrong = classify("firstorder", "Kurtosis", -0.355, "3D", n_voxels=74)  # already IBSI: the data would be wrong
    assert wrong["outcome"] == "fail" and "raw value matches" in wrong["detail"]
    assert classify("glcm", "JointAverage", 2.2046, "2.5D", n_voxels=74)["outcome"] == "match"
    assert classify("glcm", "MCC", 0.44, "3D", n_voxels=74)["outcome"] == "not in IBSI"
