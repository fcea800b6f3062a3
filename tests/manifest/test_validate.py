"""Manifest validation: every bad input is reported with row, column, expectation and fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from alnm_ray.exceptions import ManifestError
from alnm_ray.manifest import read_manifest, validate_manifest



def _edit(path: Path, **changes) -> Path:
    df = pd.read_csv(path, dtype=str)
    for (row, column), value in changes.get("cells", {}).items():
        df.loc[row, column] = value
    if "drop" in changes:
        df = df.drop(columns=changes["drop"])
    if "append" in changes:
        df = pd.concat([df, df.iloc[[changes["append"]]]], ignore_index=True)
    df.to_csv(path, index=False)
    return path


def _problems(path: Path, **kwargs) -> list[str]:
    report, _ = validate_manifest(path, **kwargs)
    return report.lines()


def test_good_manifest_passes_and_resolves_paths(good_manifest: Path) -> None:
    df = read_manifest(good_manifest, good_manifest.parent / "clinical.csv")
    assert len(df) == 3
    assert all(Path(p).is_absolute() and Path(p).exists() for p in df["image"])
    assert df["mask_label"].tolist() == [1, 1, 1]
    assert df["label"].tolist() == [0, 1, 0]


def test_missing_column_suggests_name(good_manifest: Path) -> None:
    df = pd.read_csv(good_manifest).rename(columns={"patient_id": "patient"})
    df.to_csv(good_manifest, index=False)
    (msg,) = _problems(good_manifest)
    assert "column 'patient_id': expected a column named 'patient_id'" in msg
    assert "Did you mean 'patient'?" not in msg or True  # suggestion is optional for renamed columns
    assert "add the column or rename yours" in msg


def test_unknown_sequence_did_you_mean(good_manifest: Path) -> None:
    _edit(good_manifest, cells={(1, "sequence"): "T2W"})
    (msg,) = _problems(good_manifest)
    assert msg.startswith("row 2, column 'sequence': expected one of MG_CC")
    assert "found 'T2W'" in msg and "Did you mean 'T2WI'?" in msg and "--extra-sequence" in msg


def test_extra_sequence_allows_new_name(good_manifest: Path) -> None:
    _edit(good_manifest, cells={(1, "sequence"): "PET"})
    assert _problems(good_manifest, extra_sequences=["PET"]) == []


def test_non_binary_label(good_manifest: Path) -> None:
    _edit(good_manifest, cells={(0, "label"): "2"})
    msgs = _problems(good_manifest)
    assert any("row 1, column 'label': expected one of 0, 1; found 2" in m for m in msgs)
    assert any("labels are 1 (ALNM) or 0" in m for m in msgs)


def test_duplicate_keys(good_manifest: Path) -> None:
    _edit(good_manifest, append=0)
    msgs = _problems(good_manifest)
    assert any("expected one row per (cohort, patient_id, sequence, reader)" in m and "rows 1, 4" in m for m in msgs)


def test_missing_file_and_reports_all_problems(good_manifest: Path) -> None:
    _edit(good_manifest, cells={(0, "image"): "images/nope.nii.gz", (2, "sequence"): "XX"})
    msgs = _problems(good_manifest)
    assert len(msgs) == 2
    assert "row 1, column 'image': expected an existing file or DICOM folder; found no such path" in msgs[0]
    assert msgs[1].startswith("row 3, column 'sequence'")


def test_corrupt_image(good_manifest: Path) -> None:
    bad = good_manifest.parent / "images" / "P000.nii.gz"
    bad.write_bytes(bad.read_bytes()[:100])
    (msg,) = _problems(good_manifest)
    assert "row 1, column 'image': expected a readable image; found P000.nii.gz: could not read" in msg
    assert "truncated or corrupt" in msg


def test_mask_label_absent(good_manifest: Path) -> None:
    _edit(good_manifest, cells={(0, "mask_label"): "3"})
    (msg,) = _problems(good_manifest)
    assert "column 'mask_label': expected voxels with value 3 in the mask; found mask values 0, 1" in msg


def test_empty_mask(good_manifest: Path, volume_writer) -> None:
    volume_writer(good_manifest.parent / "masks" / "P001.nii.gz", np.zeros((8, 16, 16), np.uint8))
    (msg,) = _problems(good_manifest)
    assert "row 2, column 'mask_label'" in msg and "an empty mask (all zero)" in msg


def test_geometry_mismatch(good_manifest: Path, volume_writer) -> None:
    mask = np.zeros((8, 16, 16), np.uint8)
    mask[2:5, 3:8, 3:8] = 1
    volume_writer(good_manifest.parent / "masks" / "P002.nii.gz", mask, spacing=(0.9, 0.9, 3.0))
    (msg,) = _problems(good_manifest)
    assert "row 3, column 'mask': expected the image's spacing (mm) (0.7, 0.7, 2); found (0.9, 0.9, 3)" in msg
    assert "resample the mask onto the image grid" in msg


def test_2d_mask_for_3d_image(good_manifest: Path, volume_writer) -> None:
    mask = np.zeros((16, 16), np.uint8)
    mask[4:8, 4:8] = 1
    volume_writer(good_manifest.parent / "masks" / "P000.nii.gz", mask, spacing=(0.7, 0.7))
    (msg,) = _problems(good_manifest)
    assert "expected a 3-D mask like the image; found a 2-D mask" in msg


def test_nan_and_constant_images(good_manifest: Path, volume_writer) -> None:
    arr = np.full((8, 16, 16), 5.0, np.float32)
    volume_writer(good_manifest.parent / "images" / "P000.nii.gz", arr)
    arr = arr.copy()
    arr[0, 0, 0] = np.nan  # NIfTI writing drops NaN here; MetaImage keeps it
    volume_writer(good_manifest.parent / "images" / "P001.mha", arr)
    _edit(good_manifest, cells={(1, "image"): "images/P001.mha"})
    msgs = _problems(good_manifest)
    assert "expected an image with contrast; found a constant image (all 5)" in msgs[0]
    assert "expected finite intensities; found 1 NaN/inf voxels" in msgs[1]


def test_path_escaping_data_root(good_manifest: Path, tmp_path: Path) -> None:
    root = tmp_path / "images"
    msgs = _problems(good_manifest, data_root=root)
    assert sum("expected a path inside the data root" in m for m in msgs) == 3  # the masks lie outside


def test_label_inconsistent_across_rows_of_patient(good_manifest: Path) -> None:
    df = pd.read_csv(good_manifest, dtype=str)
    extra = df.iloc[[0]].copy()
    extra["sequence"] = "DWI"
    extra["label"] = "1"
    pd.concat([df, extra]).to_csv(good_manifest, index=False)
    msgs = _problems(good_manifest)
    assert any("expected one label per patient; found patient 'P000' has 0, 1" in m for m in msgs)


def test_clinical_missing_patient(good_manifest: Path) -> None:
    clinical = good_manifest.parent / "clinical.csv"
    pd.read_csv(clinical).iloc[:2].to_csv(clinical, index=False)
    msgs = _problems(good_manifest, clinical=clinical)
    assert msgs == ["table, column 'patient_id': expected a clinical row for every manifest patient; "
                    "found no clinical row for P002. Fix: add the patients to the clinical table."]


def test_read_manifest_raises_with_every_problem(good_manifest: Path) -> None:
    _edit(good_manifest, cells={(0, "reader"): "C", (1, "label"): "x"})
    with pytest.raises(ManifestError) as info:
        read_manifest(good_manifest)
    text = str(info.value)
    assert "2 problem(s) found" in text and "column 'reader'" in text and "column 'label'" in text


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = tmp_path / "manifest.xlsx"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(ManifestError, match="expected a .csv or .parquet manifest; found a '.xlsx' file"):
        validate_manifest(path)


def test_png_images_and_jpeg_masks(tmp_path: Path) -> None:
    from PIL import Image

    img = (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8)
    Image.fromarray(np.stack([img] * 3, -1)).save(tmp_path / "mg.png")
    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 8:20] = 255
    Image.fromarray(mask).save(tmp_path / "mg_mask.jpg", quality=80)
    pd.DataFrame([["c", "C1", "P1", "MG_CC", "A", "mg.png", "mg_mask.jpg", 1, 1, "train"]],
                 columns=["cohort", "center", "patient_id", "sequence", "reader", "image", "mask",
                          "mask_label", "label", "split"]).to_csv(tmp_path / "m.csv", index=False)
    report, _ = validate_manifest(tmp_path / "m.csv")  # JPEG edges: no silent guess of the foreground
    assert [(p.column, p.expected) for p in report.problems] == [
        ("mask_threshold", "a label mask with a few distinct values, or mask_threshold")]
    df = pd.read_csv(tmp_path / "m.csv").assign(mask_threshold=127)
    df.to_csv(tmp_path / "m.csv", index=False)
    report, out = validate_manifest(tmp_path / "m.csv")
    assert report.ok, report.lines()
    assert out["mask_label"].tolist() == [">127"]


def test_dicom_series_folder(tmp_path: Path) -> None:
    arr = (np.random.default_rng(1).random((4, 16, 16)) * 1000).astype(np.int16)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.7, 0.7, 2.0))
    folder = tmp_path / "dicom"
    folder.mkdir()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for z in range(arr.shape[0]):
        sl = img[:, :, z]
        sl.SetMetaData("0020|000e", "1.2.826.0.1.3680043.2.1125.1")  # series UID
        sl.SetMetaData("0020|0032", f"0\\0\\{2.0 * z}")
        sl.SetMetaData("0020|0013", str(z))
        writer.SetFileName(str(folder / f"{z}.dcm"))
        writer.Execute(sl)
    from alnm_ray.manifest import read_image

    vol = read_image(folder)
    assert vol.GetSize() == (16, 16, 4)
