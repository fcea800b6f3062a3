import numpy as np
import pytest
import SimpleITK as sitk

from alnm_ray.exceptions import ExtractionError
from alnm_ray.extract.params import load_params
from alnm_ray.extract.radiomics import extract_case, params_for_dimension, to_float

from .conftest import LIGHT_PARAMS, make_cohort


def test_2d_mammogram_gets_shape2d_and_2d_wavelets(tmp_path, light_params):
    df = make_cohort(tmp_path, ["p1"], sequences=("MG_CC",))
    row = df.iloc[0]
    diag: dict = {}
    feats = extract_case(row["image"], row["mask"], light_params, diagnostics=diag)
    assert "original_shape2D_Elongation" in feats and not any("_shape_" in k for k in feats)
    assert {k.split("_")[0] for k in feats} == {"original", "wavelet-LL", "wavelet-LH", "wavelet-HL",
                                                 "wavelet-HH"}
    assert not any(k.startswith("diagnostics_") for k in feats) and diag
    assert all(isinstance(v, float) for v in feats.values())


def test_single_slice_volume_is_treated_as_2d(tmp_path, light_params):
    df = make_cohort(tmp_path, ["p1"], sequences=("MG_CC",))
    img = sitk.JoinSeries(sitk.ReadImage(df.iloc[0]["image"]))
    mask = sitk.JoinSeries(sitk.ReadImage(df.iloc[0]["mask"]))
    assert img.GetDimension() == 3
    flat = extract_case(df.iloc[0]["image"], df.iloc[0]["mask"], light_params)
    slab = extract_case(img, mask, light_params)
    assert slab.keys() == flat.keys()
    np.testing.assert_allclose(list(slab.values()), list(flat.values()), rtol=1e-9)


def test_3d_case_names_are_pyradiomics_names(tmp_path, light_params):
    df = make_cohort(tmp_path, ["p1"], sequences=("T2WI",))
    feats = extract_case(df.iloc[0]["image"], df.iloc[0]["mask"], light_params)
    assert "original_shape_Sphericity" in feats and "wavelet-LLH_glcm_Idm" in feats
    assert "original_shape2D_Elongation" not in feats
    # 3 shape... plus firstorder, glcm(2) for original + 8 wavelet sub-bands
    assert len([k for k in feats if k.startswith("wavelet-")]) == 8 * (18 + 2)


def test_dimension_adaptation():
    params = load_params(LIGHT_PARAMS)
    assert "shape" not in params_for_dimension(params, 2)["featureClass"]
    assert "shape2D" not in params_for_dimension(params, 3)["featureClass"]
    forced = load_params({**LIGHT_PARAMS, "setting": {"binWidth": 25, "force2D": True}})
    assert params_for_dimension(forced, 2)["setting"]["force2D"] is False
    assert params_for_dimension(forced, 3)["setting"]["force2D"] is True
    assert "shape2D" in params_for_dimension(forced, 3)["featureClass"]


def test_complex_values_become_real():
    assert to_float("f", np.complex128(61.99 + 0j)) == 61.99
    assert to_float("f", np.array(2.5)) == 2.5
    with pytest.raises(ExtractionError, match="expected a real value"):
        to_float("f", 1 + 2j)
    with pytest.raises(ExtractionError, match="expected one number"):
        to_float("f", np.ones(3))


def test_pyradiomics_warnings_raised_by_design_stay_out_of_the_output(tmp_path, recwarn):
    # skimage's LBP warns on the float images PyRadiomics passes it (every case, every worker); the
    # features are PyRadiomics's own either way
    df = make_cohort(tmp_path, ["p1"], sequences=("MG_CC",))
    params = load_params({"imageType": {"Original": {}, "LBP2D": {}},
                          "featureClass": {"firstorder": ["Mean"], "glcm": ["Imc2"]},
                          "setting": {"binWidth": 25}})
    feats = extract_case(df.iloc[0]["image"], df.iloc[0]["mask"], params)
    assert "lbp-2D_firstorder_Mean" in feats and "original_glcm_Imc2" in feats
    assert not [str(w.message) for w in recwarn if "local_binary_pattern" in str(w.message)]
    import warnings

    with warnings.catch_warnings(record=True) as caught:  # the filter is scoped to the extraction
        warnings.simplefilter("always")
        warnings.warn("Applying `local_binary_pattern` to floating-point images elsewhere", UserWarning)
    assert len(caught) == 1
