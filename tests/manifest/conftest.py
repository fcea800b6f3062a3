"""Tiny real image/mask files and manifests for validation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

COLUMNS = ["cohort", "center", "patient_id", "sequence", "reader", "image", "mask", "mask_label", "label", "split"]


def write_volume(path: Path, arr: np.ndarray, spacing=(0.7, 0.7, 2.0), origin=None) -> Path:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing[: arr.ndim])
    if origin is not None:
        img.SetOrigin(origin)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(path), True)
    return path


def make_case(root: Path, pid: str, rng: np.random.Generator, *, label_value: int = 1) -> tuple[str, str]:
    arr = rng.normal(100, 10, size=(8, 16, 16)).astype(np.float32)
    mask = np.zeros((8, 16, 16), np.uint8)
    mask[2:6, 4:10, 4:10] = label_value
    write_volume(root / "images" / f"{pid}.nii.gz", arr)
    write_volume(root / "masks" / f"{pid}.nii.gz", mask)
    return f"images/{pid}.nii.gz", f"masks/{pid}.nii.gz"


@pytest.fixture
def good_manifest(tmp_path: Path, rng: np.random.Generator) -> Path:
    rows = []
    for i, center in enumerate(["C1", "C1", "C2"]):
        pid = f"P{i:03d}"
        image, mask = make_case(tmp_path, pid, rng)
        rows.append(["demo", center, pid, "T2WI", "A", image, mask, 1, i % 2, "train"])
    df = pd.DataFrame(rows, columns=COLUMNS)
    path = tmp_path / "manifest.csv"
    df.to_csv(path, index=False)
    pd.DataFrame({"patient_id": df.patient_id, "age": [50, 60, 70]}).to_csv(tmp_path / "clinical.csv", index=False)
    return path


@pytest.fixture
def volume_writer():
    """The :func:`write_volume` helper, as a fixture (test modules cannot import conftest)."""
    return write_volume
