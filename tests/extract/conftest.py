"""Tiny on-disk cohorts (NIfTI) and light params for extraction tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from alnm_ray.extract.params import load_params
from alnm_ray.preprocess.config import PreprocessConfig, PreprocessPlan


def write_mri(path_img: Path, path_mask: Path, rng: np.random.Generator, *, radius_mm: float = 5.0,
              shape_zyx=(12, 36, 36), spacing_xyz=(0.9, 0.9, 2.5)) -> None:
    """A 3-D textured volume with a spherical lesion, and its mask."""
    from scipy.ndimage import gaussian_filter

    arr = gaussian_filter(rng.normal(0.0, 1.0, shape_zyx), 1.0) * 50.0 + 400.0
    z, y, x = np.indices(shape_zyx, dtype=float)
    c = [s * n / 2 for s, n in zip(spacing_xyz, shape_zyx[::-1])]
    inside = ((x * spacing_xyz[0] - c[0]) ** 2 + (y * spacing_xyz[1] - c[1]) ** 2
              + (z * spacing_xyz[2] - c[2]) ** 2) < radius_mm ** 2
    arr = arr + 150.0 * inside + rng.normal(0.0, 20.0, shape_zyx) * inside
    img = sitk.GetImageFromArray(arr.astype(np.float32))
    img.SetSpacing(spacing_xyz)
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(img)
    sitk.WriteImage(img, str(path_img))
    sitk.WriteImage(mask, str(path_mask))


def write_mg(path_img: Path, path_mask: Path, rng: np.random.Generator, *, size=(60, 50)) -> None:
    """A 2-D 'mammogram' (0.1 mm pixels) with an elliptical lesion, stored as 2-D NIfTI."""
    from scipy.ndimage import gaussian_filter

    h, w = size
    arr = gaussian_filter(rng.normal(0.0, 1.0, (h, w)), 1.5) * 80.0 + 1000.0
    y, x = np.indices((h, w), dtype=float)
    inside = ((y - h / 2) / 12.0) ** 2 + ((x - w / 2) / 9.0) ** 2 < 1.0
    arr = arr + 300.0 * inside
    img = sitk.GetImageFromArray(arr.astype(np.float32))
    img.SetSpacing((0.1, 0.1))
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(img)
    sitk.WriteImage(img, str(path_img))
    sitk.WriteImage(mask, str(path_mask))


def make_cohort(root: Path, patients: list[str], *, seed: int = 7, sequences=("T2WI", "MG_CC"),
                cohort: str = "synth", center: str = "C1") -> pd.DataFrame:
    """Write files for ``patients`` under ``root`` and return their manifest rows."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for pid in patients:
        rng = np.random.default_rng([seed, int(pid.lstrip("p"))])
        for seq in sequences:
            img, msk = root / f"{pid}_{seq}.nii.gz", root / f"{pid}_{seq}_mask.nii.gz"
            if not img.exists():
                (write_mg if seq.startswith("MG") else write_mri)(img, msk, rng)
            rows.append({"cohort": cohort, "center": center, "patient_id": pid, "sequence": seq,
                         "reader": "A", "image": str(img), "mask": str(msk), "mask_label": 1,
                         "label": int(pid.lstrip("p")) % 2, "split": "train"})
    return pd.DataFrame(rows)


#: Light params for pipeline tests: Original + Wavelet, a few classes.
LIGHT_PARAMS = {
    "imageType": {"Original": {}, "Wavelet": {}},
    "featureClass": {"shape": None, "shape2D": None, "firstorder": None, "glcm": ["Contrast", "Idm"]},
    "setting": {"binWidth": 25},
}


@pytest.fixture
def light_params():
    return load_params(LIGHT_PARAMS)


@pytest.fixture
def light_plan():
    """MRI: z-score, 1 mm, crop; MG: crop only (no N4, to keep tests fast)."""
    mri = PreprocessConfig(normalize="zscore", spacing=(1.0, 1.0, 1.0), crop=True)
    return PreprocessPlan(name="light", default=PreprocessConfig(crop=True), sequences=(("T2WI", mri),))
