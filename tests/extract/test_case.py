"""process_case: the per-case path the Ray job runs, checked against PyRadiomics's own baseline."""

import ast
import os

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from alnm_ray.extract.case import RECORD_SCHEMA, process_case, results_to_arrow
from alnm_ray.extract.params import load_params
from alnm_ray.preprocess.config import PreprocessPlan

from .conftest import make_cohort

CLASSES_3D = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm", "shape")
CASES = ("brain1", "brain2", "breast1", "lung1", "lung2")
#: Upstream PyRadiomics's pass criterion: |1 - ours/baseline| < 3 % (exactly 0 when the baseline is 0).
BASELINE_RTOL = 0.03


def _baseline(folder: str):
    """{case: (settings, {feature: value})} for the plain `<case>` columns of the 3-D classes."""
    out: dict[str, tuple[dict, dict]] = {}
    for cls in CLASSES_3D:
        table = pd.read_csv(os.path.join(folder, f"baseline_{cls}.csv"), index_col=0)
        for case in CASES:
            settings = ast.literal_eval(table.loc["diagnostics_Configuration_Settings", case])
            if cls == "shape":  # upstream drops resegmentRange for shape
                settings.pop("resegmentRange", None)
            settings = {k: v for k, v in settings.items() if v is not None}
            rows = [i for i in table.index if not i.startswith("diagnostics_")]
            values = table.loc[rows, case].astype(float).to_dict()
            key = repr(sorted(settings.items()))
            known = out.setdefault(f"{case}|{key}", (settings, {}))
            known[1].update(values)
    return out


@pytest.mark.slow
def test_none_preprocessing_reproduces_pyradiomics_baseline(shared_data):
    folder = os.path.join(shared_data, "pyradiomics", "data")
    groups = _baseline(os.path.join(folder, "baseline"))
    plan = PreprocessPlan.preset("none")
    checked = {}
    for group, (settings, expected) in groups.items():
        case = group.split("|")[0]
        classes = sorted({name.split("_")[1] for name in expected})
        params = load_params({"setting": settings, "featureClass": {c: None for c in classes},
                              "imageType": {"Original": {}}})
        row = {"cohort": "pyradiomics", "center": "upstream", "patient_id": case, "sequence": "T2WI",
               "reader": "A", "image": os.path.join(folder, f"{case}_image.nrrd"),
               "mask": os.path.join(folder, f"{case}_label.nrrd"), "mask_label": settings.get("label", 1)}
        result = process_case(row, plan, params)
        assert result.ok, result.message
        for name, want in expected.items():
            got = result.features[name]
            if want == 0:
                assert got == 0, (case, name, got)
            else:
                assert abs(1 - got / want) < BASELINE_RTOL, (case, name, got, want)
            checked[(case, name)] = True
    # all 107 3-D features of all five cases, seven classes
    assert len(checked) == 107 * len(CASES)


def test_failures_are_records_with_their_stage(tmp_path, light_params, light_plan):
    df = make_cohort(tmp_path, ["p1"], sequences=("T2WI",))
    row = df.iloc[0].to_dict()
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"not a nifti at all")
    unreadable = process_case({**row, "image": str(bad)}, light_plan, light_params)
    assert not unreadable.ok and unreadable.stage == "read" and unreadable.error_type == "ManifestError"
    assert unreadable.message.startswith("synth/p1/T2WI/A: ")
    wrong_label = process_case({**row, "mask_label": 3}, light_plan, light_params)
    assert wrong_label.stage == "geometry" and "empty mask" in wrong_label.message
    with pytest.raises(Exception):
        process_case({**row, "image": str(bad)}, light_plan, light_params, debug=True)


def test_pyradiomics_error_is_an_extract_failure(tmp_path, light_plan):
    df = make_cohort(tmp_path, ["p1"], sequences=("T2WI",))
    params = load_params({"setting": {"minimumROISize": 10 ** 6}, "featureClass": {"firstorder": None}})
    result = process_case(df.iloc[0].to_dict(), light_plan, params)
    assert result.stage == "extract" and result.error_type == "ExtractionError"
    assert "PyRadiomics failed" in result.message


def test_records_have_one_schema(tmp_path, light_params, light_plan):
    df = make_cohort(tmp_path, ["p1"], sequences=("T2WI", "MG_CC"))
    ok = [process_case(r, light_plan, light_params) for r in df.to_dict("records")]
    failed = process_case({**df.iloc[0].to_dict(), "image": str(tmp_path / "missing.nii")}, light_plan,
                          light_params)
    table = results_to_arrow(ok + [failed])
    assert table.schema == RECORD_SCHEMA and table.num_rows == 3
    assert table.column("status").to_pylist() == ["ok", "ok", "error"]
    assert failed.error_type == "FileNotFoundError"


def test_colour_and_jpeg_masks_are_decoded_as_validate_decodes_them(tmp_path, shared_data, light_params,
                                                                   light_plan):
    from pathlib import Path

    from alnm_ray.manifest import validate_manifest

    root = Path(shared_data) / "cdd-cesm-mini"
    if not root.is_dir():
        pytest.skip("cdd-cesm-mini not present")
    index = pd.read_csv(root / "index.csv")
    benign = index[(index["set"] == "set_b") & (index["benign_pixels"] == 6940)].iloc[0]
    jpeg = index[index["set"] == "set_a"].iloc[1]
    key = {"cohort": "cesm", "center": "C1", "sequence": "MG_CC", "reader": "A"}
    rows = [{**key, "patient_id": "P1", "image": str(root / benign["image"]), "mask": str(root / benign["mask"]),
             "mask_label": "0,255,0"},
            {**key, "patient_id": "P2", "image": str(root / jpeg["image"]), "mask": str(root / jpeg["mask"]),
             "mask_threshold": 127}]
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    report, df = validate_manifest(tmp_path / "m.csv")
    assert report.ok, report.lines()
    results = [process_case(r, light_plan, light_params) for r in df.to_dict("records")]
    assert [r.ok for r in results] == [True, True], [r.message for r in results]
    # the ROI PyRadiomics measured is the one validate checked: the README's lesion pixel counts
    assert results[0].features["original_shape2D_PixelSurface"] == 6940
    assert results[1].features["original_shape2D_PixelSurface"] == int(jpeg["mask_foreground_pixels"])
    refused = process_case({**df.iloc[0].to_dict(), "mask_label": 1}, light_plan, light_params)
    assert refused.stage == "read" and refused.error_type == "ManifestError"
    assert "expected a grey mask (all channels equal), or mask_label given as a colour R,G,B; found a " \
           "colour-coded mask (" in refused.message
    assert "Set mask_label to the lesion's colour as R,G,B" in refused.message
    unthresholded = process_case({**df.iloc[1].to_dict(), "mask_label": 1}, light_plan, light_params)
    assert unthresholded.stage == "read" and "a lossy-compressed (JPEG) mask" in unthresholded.message
