"""Feature kinds of wide column names (the public :mod:`alnm_ray.select.columns`)."""

from __future__ import annotations

from alnm_ray.select.columns import (
    KIND_CLINICAL,
    KIND_DEEP,
    KIND_RADIOMICS,
    feature_kind,
    is_meta,
    kinds_of,
    split_wide,
)


def test_kinds_follow_the_feature_name_after_the_sequence() -> None:
    assert feature_kind("MG_CC__wavelet-LLH_firstorder_Mean") == KIND_RADIOMICS
    assert feature_kind("T2WI__log-sigma-1-0-mm-3D_glcm_Idm") == KIND_RADIOMICS
    assert feature_kind("DWI__deep_511") == KIND_DEEP
    assert feature_kind("age") == KIND_CLINICAL
    assert feature_kind("original") == KIND_CLINICAL  # an image type alone is not a feature name
    assert kinds_of(["T2WI__original_shape_Elongation", "age"]) == {KIND_RADIOMICS, KIND_CLINICAL}
    assert kinds_of([]) == set()


def test_meta_columns_are_keys_and_diagnostics() -> None:
    assert is_meta("patient_id") and is_meta("T2WI__diagnostics_Mask-original_Size")
    assert not is_meta("T2WI__original_firstorder_Mean")
    assert split_wide("T2WI__original_glcm_Idm") == ("T2WI", "original_glcm_Idm")
    assert split_wide("age") == (None, "age")
