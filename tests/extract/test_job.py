"""The Ray Data extraction job on a tiny on-disk cohort, with a real store."""

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from alnm_ray.constants import CASE_KEY, ERROR_COLUMNS
from alnm_ray.extract.job import run_extraction
from alnm_ray.store import FeatureStore

from .conftest import make_cohort

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cohort")


def test_extraction_writes_one_row_per_case(ray_local, cohort_dir, tmp_path, light_params, light_plan):
    df = make_cohort(cohort_dir, ["p1", "p2", "p3"])
    store = FeatureStore(tmp_path / "store")
    report = run_extraction(df, store, params=light_params, plan=light_plan, quiet=True)
    assert (report.cases, report.computed, report.cached, report.failed) == (6, 6, 0, 0)
    table = store.read("radiomics").to_pandas()
    assert len(table) == 6 and report.version.rows == 6
    assert list(table.columns[:5]) == list(CASE_KEY)
    assert {"label", "split", "mask_label", "case_hash", "extracted_at"} <= set(table.columns)
    mri = table[table["sequence"] == "T2WI"]
    mg = table[table["sequence"] == "MG_CC"]
    # 2-D and 3-D features live in one table; NaN where a feature does not apply
    assert mri["original_shape_Sphericity"].notna().all() and mg["original_shape_Sphericity"].isna().all()
    assert mg["original_shape2D_Elongation"].notna().all() and mri["original_shape2D_Elongation"].isna().all()
    assert mg["wavelet-HH_glcm_Idm"].notna().all() and mri["wavelet-HHH_glcm_Idm"].notna().all()
    params = report.version.params
    assert params["features_by_sequence"]["MG_CC"] < params["feature_columns"]
    assert "NaN where a feature does not apply" in params["missing_values"]
    assert set(params["library_versions"]) >= {"pyradiomics", "SimpleITK", "antspyx", "numpy", "alnm-ray"}
    assert report.version.counts["computed"] == 6
    assert len(report.case_seconds) == 6 and report.ray_seconds > 0


def test_ray_path_reports_cases_done_as_plain_lines(ray_local, cohort_dir, tmp_path, light_params, light_plan,
                                                    capsys):
    # the protocol runner keeps Ray quiet but shows how many cases are done (stderr is not a terminal here)
    df = make_cohort(cohort_dir, ["p1", "p2", "p3"])
    report = run_extraction(df, FeatureStore(tmp_path / "store"), params=light_params, plan=light_plan,
                            quiet=True, show_progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert report.path == "ray" and "\r" not in "".join(lines)
    assert [line.split()[:3] for line in lines if line.startswith("extract ")][-1] == ["extract", "6/6", "100%"]
    assert lines[-1].endswith("failed=0")


def test_incremental_computes_only_new_cases(ray_local, cohort_dir, tmp_path, light_params, light_plan):
    store = FeatureStore(tmp_path / "store")
    first = run_extraction(make_cohort(cohort_dir, ["p1", "p2"]), store, params=light_params,
                           plan=light_plan, quiet=True)
    before = store.read("radiomics").to_pandas().set_index("case_hash")
    grown = make_cohort(cohort_dir, ["p1", "p2", "p3", "p4"])
    second = run_extraction(grown, store, params=light_params, plan=light_plan, quiet=True)
    assert (second.computed, second.cached, second.failed) == (4, 4, 0)
    assert second.version.version != first.version.version
    assert second.version.parent == first.version.version
    after = store.read("radiomics").to_pandas().set_index("case_hash")
    assert len(after) == 8
    # the old rows were reused as they were, not recomputed
    old = after.loc[before.index]
    pd.testing.assert_series_equal(old["extracted_at"], before["extracted_at"])
    pd.testing.assert_series_equal(old["original_glcm_Idm"], before["original_glcm_Idm"])
    third = run_extraction(grown, store, params=light_params, plan=light_plan, quiet=True)
    assert third.existed and (third.computed, third.cached) == (0, 8)
    assert third.version.version == second.version.version
    assert len(store.versions("radiomics")) == 2
    # a changed label is a metadata change: same features, new manifest values
    relabelled = grown.assign(label=1 - grown["label"])
    fourth = run_extraction(relabelled, store, params=light_params, plan=light_plan, quiet=True)
    assert not fourth.existed and (fourth.computed, fourth.cached) == (0, 8)
    relabelled_rows = store.read("radiomics").to_pandas().set_index("case_hash")
    assert (relabelled_rows.sort_index()["label"].to_numpy()
            == (1 - after.sort_index()["label"]).to_numpy()).all()


def _write_thin_roi(root):
    img = sitk.GetImageFromArray(np.random.default_rng(0).normal(100, 10, (20, 20, 20)).astype(np.float32))
    img.SetSpacing((0.3, 0.3, 0.3))
    arr = np.zeros((20, 20, 20), np.uint8)
    arr[11, 11, 11] = 1  # its footprint holds no 1 mm voxel centre
    mask = sitk.GetImageFromArray(arr)
    mask.CopyInformation(img)
    sitk.WriteImage(img, str(root / "thin.nii.gz"))
    sitk.WriteImage(mask, str(root / "thin_mask.nii.gz"))


def _write_single_pixel(root):
    img = sitk.GetImageFromArray(np.random.default_rng(1).normal(100, 10, (30, 30)).astype(np.float32))
    arr = np.zeros((30, 30), np.uint8)
    arr[15, 15] = 1  # PyRadiomics refuses single-voxel ROIs
    mask = sitk.GetImageFromArray(arr)
    mask.CopyInformation(img)
    sitk.WriteImage(img, str(root / "dot.nii.gz"))
    sitk.WriteImage(mask, str(root / "dot_mask.nii.gz"))


def failing_manifest(root):
    """2 good cases + 4 failing ones: corrupt image, missing file, ROI lost in resampling, PyRadiomics error."""
    df = make_cohort(root, ["p1"])
    (root / "corrupt.nii.gz").write_bytes(b"\x1f\x8b garbage")
    _write_thin_roi(root)
    _write_single_pixel(root)
    base = df.iloc[0].to_dict()
    bad = [
        {**base, "patient_id": "p90", "image": str(root / "corrupt.nii.gz")},
        {**base, "patient_id": "p91", "image": str(root / "does_not_exist.nii.gz")},
        {**base, "patient_id": "p92", "image": str(root / "thin.nii.gz"), "mask": str(root / "thin_mask.nii.gz")},
        {**base, "patient_id": "p93", "sequence": "MG_CC", "image": str(root / "dot.nii.gz"),
         "mask": str(root / "dot_mask.nii.gz")},
    ]
    return pd.concat([df, pd.DataFrame(bad)], ignore_index=True)


def test_failures_become_error_rows(ray_local, cohort_dir, tmp_path, light_params, light_plan):
    df = failing_manifest(cohort_dir)
    store = FeatureStore(tmp_path / "store")
    report = run_extraction(df, store, params=light_params, plan=light_plan, quiet=True)
    rows = store.read("radiomics").to_pandas()
    errors = store.read_errors("radiomics").to_pandas()
    assert len(df) == len(rows) + len(errors) == 6 and len(errors) == 4 == report.failed
    assert list(errors.columns[2:]) == list(ERROR_COLUMNS)
    by_patient = errors.set_index("patient_id")
    assert by_patient.loc["p90", "stage"] == "read" and by_patient.loc["p90", "error_type"] == "ManifestError"
    assert by_patient.loc["p91", "stage"] == "read" and by_patient.loc["p91", "error_type"] == "FileNotFoundError"
    assert "synth/p91/T2WI/A: image " in by_patient.loc["p91", "message"]
    assert "does_not_exist.nii.gz" in by_patient.loc["p91", "message"]
    assert by_patient.loc["p92", "stage"] == "resample"
    assert "after resampling" in by_patient.loc["p92", "message"]
    assert by_patient.loc["p93", "stage"] == "extract" and "PyRadiomics failed" in by_patient.loc["p93", "message"]
    summary = report.failure_summary()
    assert "4 case(s) failed" in summary and "resample" in summary
    assert "2 done, 0 cached, 4 failed" in report.summary_line()
