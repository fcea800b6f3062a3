import warnings

import pytest

from alnm_ray.exceptions import ConfigError, FallbackWarning
from alnm_ray.extract.params import (
    LOG_MARGIN_SIGMAS, MARGIN_SAFETY_VOXELS, check_compatible, load_params, required_margin_mm,
)
from alnm_ray.preprocess.config import PreprocessConfig, PreprocessPlan


def test_guo2024_preset_enables_filters_and_all_classes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        params = load_params("guo2024")
    d = params.as_dict()
    assert {"Original", "Wavelet", "LoG"} <= set(params.image_types)
    assert {"shape", "shape2D", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"} == set(d["featureClass"])
    wanted_lbp = {"LBP2D", "LBP3D"}
    kept_or_dropped = set(params.image_types) | {name for name, _ in params.dropped}
    assert wanted_lbp <= kept_or_dropped  # enabled, or dropped with a recorded reason


def test_missing_filter_packages_warn_and_are_recorded():
    import importlib.util

    if importlib.util.find_spec("skimage") is not None:
        pytest.skip("scikit-image installed: LBP2D is kept")
    with pytest.warns(FallbackWarning, match="LBP2D left out.*scikit-image"):
        params = load_params({"imageType": {"Original": {}, "LBP2D": {}}})
    assert params.dropped[0][0] == "LBP2D" and "LBP2D" not in params.image_types


def test_params_file_round_trip_and_hash(tmp_path, light_params):
    path = tmp_path / "p.yaml"
    path.write_text(light_params.to_yaml(), encoding="utf-8")
    again = load_params(path)
    assert again.hash() == light_params.hash()
    assert load_params({"setting": {"binWidth": 5}}).hash() != load_params({"setting": {"binWidth": 25}}).hash()


@pytest.mark.parametrize("text, fragments", [
    ("setting:\n  binWidht: 25\n", ["key 'binWidht' under /setting", "Did you mean 'binWidth'?"]),
    ("setting:\n  binWidth: -1\n", ["key setting/binWidth has an invalid value", "min limit"]),
    ("imageType:\n  Wavlet: {}\n", ["imageType 'Wavlet'", "Did you mean 'Wavelet'?"]),
    ("featureClass:\n  glcm: [Contrastt]\n", ["feature 'Contrastt'", "Did you mean 'Contrast'?"]),
    ("settings:\n  binWidth: 25\n", ["unknown top-level key 'settings'", "Did you mean 'setting'?"]),
    ("setting: [1, 2\n", ["not valid YAML"]),
    ("- 1\n- 2\n", ["expected a mapping"]),
])
def test_bad_params_yaml_gives_a_clear_error(tmp_path, text, fragments):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_params(path)
    message = str(err.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message


def test_missing_params_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_params("nope.yaml")


def test_margin_follows_the_filters():
    spacing = (1.0, 1.0, 1.0)
    assert required_margin_mm(load_params(None), spacing) == MARGIN_SAFETY_VOXELS
    log = load_params({"imageType": {"LoG": {"sigma": [1.0, 3.0]}}})
    assert required_margin_mm(log, spacing) == LOG_MARGIN_SIGMAS * 3.0 + MARGIN_SAFETY_VOXELS
    wav = load_params({"imageType": {"Wavelet": {"wavelet": "haar"}}, "setting": {"level": 2}})
    assert required_margin_mm(wav, (0.5, 0.5, 2.0)) == (2 * 2 + MARGIN_SAFETY_VOXELS) * 2.0


def test_pyradiomics_normalize_with_crop_is_rejected():
    params = load_params({"setting": {"normalize": True}})
    plan = PreprocessPlan(name="c", default=PreprocessConfig(crop=True))
    with pytest.raises(ConfigError, match="normalize: true normalises over the whole image"):
        check_compatible(params, plan)
    check_compatible(params, PreprocessPlan.preset("none"))
