"""``normalize: histogram`` in the preprocessing plan: landmarks as config state, fitted on training images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from alnm_ray.exceptions import ConfigError, NotFittedError, StageError
from alnm_ray.preprocess import (
    HistogramLandmarks,
    HistogramStandardizer,
    PreprocessConfig,
    PreprocessPlan,
    fit_plan_histograms,
    histogram_input,
    load_plan,
    preprocess_case,
)
from tests.preprocess.conftest import make_pair


def _state(scale: float = 1.0) -> HistogramLandmarks:
    rng = np.random.default_rng(0)
    est = HistogramStandardizer().fit([rng.gamma(2.0, s * scale, size=(6, 12, 12)) for s in (50.0, 90.0)])
    return HistogramLandmarks.from_estimator(est)


def _plan(**cfg) -> PreprocessPlan:
    return PreprocessPlan.from_dict({"name": "gu", "default": {},
                                     "sequences": {"DCE_P1": {"normalize": "histogram", **cfg}}})


def test_histogram_without_landmarks_builds_but_cannot_run(pair):
    plan = _plan(spacing=[1, 1, 1])
    assert plan.unfitted(["DCE_P1", "T2WI"]) == ["DCE_P1"]
    with pytest.raises(NotFittedError) as err:
        plan.check_fitted(["DCE_P1"])
    msg = str(err.value)
    assert "DCE_P1" in msg and "expected fitted landmarks" in msg and "found none" in msg
    assert "HistogramStandardizer" in msg and "RUN/histogram" in msg
    image, mask = pair
    with pytest.raises(StageError) as stage_err:
        preprocess_case(image, mask, plan.for_sequence("DCE_P1"), case="p1")
    assert stage_err.value.stage == "normalize" and isinstance(stage_err.value.cause, NotFittedError)


def test_landmarks_round_trip_through_yaml_and_enter_the_hash(tmp_path):
    bare = _plan(spacing=[1, 1, 1])
    fitted = bare.with_histogram("DCE_P1", _state())
    other = bare.with_histogram("DCE_P1", HistogramLandmarks(landmarks=tuple(np.linspace(0, 100, 11))))
    assert len({bare.hash(), fitted.hash(), other.hash()}) == 3
    assert fitted.for_sequence("DCE_P1").hash() != bare.for_sequence("DCE_P1").hash()
    path = tmp_path / "plan.yaml"
    path.write_text(fitted.to_yaml(), encoding="utf-8")
    again = load_plan(path)
    assert again == fitted and again.hash() == fitted.hash()
    assert again.unfitted(["DCE_P1"]) == []
    # the saved layout is the estimator's JSON
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["sequences"]["DCE_P1"]["histogram"] == _state().to_dict()


def test_configs_without_histogram_keep_their_hash_layout():
    cfg = PreprocessConfig(n4=True, normalize="zscore")
    assert "histogram" not in cfg.to_dict()


def test_bad_histogram_state_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="normalize: histogram"):
        PreprocessConfig(normalize="zscore", histogram=_state())
    with pytest.raises(ConfigError) as err:
        PreprocessPlan.from_dict({"sequences": {"DCE_P1": {"normalize": "histogram",
                                                           "histogram": {"landmarks": [1, 2]}}}})
    msg = str(err.value)
    assert "sequence DCE_P1" in msg and "missing: version" in msg and "RUN/histogram" in msg
    bad = _state().to_dict()
    bad["landmarks"] = bad["landmarks"][::-1]
    with pytest.raises(ConfigError, match="non-decreasing"):
        PreprocessConfig(normalize="histogram", histogram=bad)


def test_pipeline_resamples_then_maps_then_crops(rng):
    image, mask = make_pair(rng)
    config = PreprocessConfig(normalize="histogram", spacing=(1.0, 1.0, 1.0), crop=True, histogram=_state())
    out = preprocess_case(image, mask, config, margin_mm=2.0)
    assert out.steps == ["resample", "normalize:histogram", "crop"]
    # same crop geometry as the same config without the map (zscore order: normalise, resample, crop)
    ref = preprocess_case(image, mask, PreprocessConfig(spacing=(1.0, 1.0, 1.0), crop=True), margin_mm=2.0)
    assert out.image.GetSize() == ref.image.GetSize() and out.image.GetOrigin() == ref.image.GetOrigin()
    assert np.array_equal(sitk.GetArrayFromImage(out.mask), sitk.GetArrayFromImage(ref.mask))
    # the map is the estimator's transform of the whole resampled image, then cropped
    whole = config.histogram.estimator().transform(histogram_input(image, config))
    expected = sitk.RegionOfInterest(whole, out.image.GetSize(),
                                     whole.TransformPhysicalPointToIndex(out.image.GetOrigin()))
    np.testing.assert_allclose(sitk.GetArrayFromImage(out.image), sitk.GetArrayFromImage(expected))
    assert not np.allclose(sitk.GetArrayFromImage(out.image), sitk.GetArrayFromImage(ref.image))


def _write(tmp_path, name, image):
    path = tmp_path / f"{name}.nii.gz"
    sitk.WriteImage(image, str(path))
    return str(path)


def test_fit_uses_only_the_given_training_images_and_reuses_saved_state(tmp_path):
    rng = np.random.default_rng(4)
    train = [_write(tmp_path, f"t{i}", make_pair(rng, contrast=80.0)[0] * float(1 + i)) for i in range(3)]
    bright = _write(tmp_path, "external", make_pair(rng)[0] ** 2)  # a very different histogram
    plan = _plan(spacing=[1, 1, 1])
    fitted, records = fit_plan_histograms(plan, {"DCE_P1": train}, out_dir=tmp_path / "hist")
    state = fitted.for_sequence("DCE_P1").histogram
    assert state is not None and state.n_images == 3 and records["DCE_P1"]["reused"] is False
    # the fit equals the estimator's on the same (N4-free, resampled) training images
    cfg = plan.for_sequence("DCE_P1")
    imgs = [histogram_input(sitk.ReadImage(p), cfg) for p in train]
    np.testing.assert_allclose(state.landmarks, HistogramStandardizer().fit(imgs).landmarks_)
    with_ext, _ = fit_plan_histograms(plan, {"DCE_P1": [*train, bright]})
    assert with_ext.for_sequence("DCE_P1").histogram.landmarks != state.landmarks
    saved = json.loads((tmp_path / "hist" / "DCE_P1.json").read_text(encoding="utf-8"))
    assert saved["state"] == state.to_dict() and saved["fitted_on"]["n_images"] == 3
    again, records = fit_plan_histograms(plan, {"DCE_P1": train}, out_dir=tmp_path / "hist")
    assert records["DCE_P1"]["reused"] is True and again.hash() == fitted.hash()
    # other training images: refitted, not reused
    _, records = fit_plan_histograms(plan, {"DCE_P1": train[:2]}, out_dir=tmp_path / "hist")
    assert records["DCE_P1"]["reused"] is False


def test_fit_names_a_training_image_that_fails(tmp_path):
    from alnm_ray.exceptions import SchemaMismatchError

    missing = str(tmp_path / "absent.nii.gz")
    with pytest.raises(SchemaMismatchError) as err:
        fit_plan_histograms(_plan(), {"DCE_P1": [missing]})
    assert "absent.nii.gz" in str(err.value) and "stage read" in str(err.value)
    with pytest.raises(SchemaMismatchError, match="found none"):
        fit_plan_histograms(_plan(), {"DCE_P1": []})
