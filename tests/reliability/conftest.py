"""Tiny real inputs for the reliability tests: volumes, DICOM series, manifests, feature tables."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

#: Patient ids distinctive enough that finding one in a log can only mean a leak.
PATIENT_IDS = ("PX-7301", "PX-7302", "PX-7303", "PX-7304")
#: Cheap PyRadiomics params (first-order only) for end-to-end extraction runs.
TINY_PARAMS = {"imageType": {"Original": {}},
               "featureClass": {"firstorder": ["Mean", "Median", "Energy", "Variance", "Skewness", "Range"]},
               "setting": {"binWidth": 25, "label": 1}}
#: Selection for CLI training runs: the paper's steps, no ICC (one reader), few LASSO repeats.
FAST_SELECTION = "preset: guo2024\nicc_threshold: null\nlasso_repeats: 2\nlasso_folds: 3\nmrmr_k: 4\n"


def write_volume(path: Path, arr: np.ndarray, spacing=(1.0, 1.0, 2.0)) -> Path:
    """Write ``arr`` (z, y, x) with ``spacing`` (x, y, z mm) in any SimpleITK format."""
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(tuple(float(s) for s in spacing[: arr.ndim]))
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(path), str(path).endswith(".gz"))
    return path


def lesion_case(root: Path, pid: str, rng: np.random.Generator, *, shape=(8, 16, 16),
                box=(slice(2, 6), slice(4, 11), slice(4, 11)), brightness: float = 40.0) -> dict:
    """A textured 3-D T2WI volume with a bright box lesion (``box``: z, y, x slices), its mask, the manifest row."""
    arr = rng.normal(100.0, 10.0, shape).astype(np.float32)
    mask = np.zeros(shape, np.uint8)
    mask[box] = 1
    arr[mask == 1] += brightness + rng.normal(0.0, 8.0, int(mask.sum()))
    write_volume(root / f"{pid}.nii.gz", arr)
    write_volume(root / f"{pid}_mask.nii.gz", mask)
    return {"cohort": "rel", "center": "C1", "patient_id": pid, "sequence": "T2WI", "reader": "A",
            "image": f"{pid}.nii.gz", "mask": f"{pid}_mask.nii.gz", "mask_label": 1,
            "label": int(pid[-1]) % 2, "split": "train"}


def write_manifest(root: Path, rows: list[dict], name: str = "manifest.csv") -> Path:
    path = root / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def write_dicom_series(folder: Path, series_uid: str, arr: np.ndarray, prefix: str) -> None:
    """Write ``arr`` (z, y, x, int16) as one DICOM file per slice of series ``series_uid``."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()  # else GDCM gives every file a fresh series UID
    for z in range(arr.shape[0]):
        slice_ = sitk.GetImageFromArray(arr[z])
        slice_.SetSpacing((1.0, 1.0))
        tags = {"0020|000e": series_uid, "0008|0018": f"{series_uid}.{z + 1}",
                "0020|000d": "1.2.826.0.1.3680043.2.1125.1", "0008|0060": "MR",
                "0020|0013": str(z + 1), "0020|0032": f"0\\0\\{2.0 * z}",
                "0020|0037": "1\\0\\0\\0\\1\\0"}
        for key, value in tags.items():
            slice_.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"{prefix}_{z:03d}.dcm"))
        writer.Execute(slice_)


def long_features(rng: np.random.Generator, labels: list[int], *, n_features: int = 8,
                  cohort: str = "rel") -> pd.DataFrame:
    """Long radiomics rows (T2WI + ADC, reader A) with signal in the first two features."""
    rows = []
    for p, y in enumerate(labels):
        for seq in ("T2WI", "ADC"):
            values = rng.normal(size=n_features)
            values[0] += 1.5 * y
            values[1] -= 1.0 * y
            rows.append({"cohort": cohort, "center": "C1", "patient_id": f"{cohort}-{p:03d}", "sequence": seq,
                         "reader": "A", "label": int(y),
                         **{f"original_firstorder_F{i}": float(values[i]) for i in range(n_features)}})
    return pd.DataFrame(rows)


def tree(root: Path) -> dict[str, str]:
    """Every folder and file under ``root`` (file -> SHA-256): equal trees mean nothing was written."""
    out = {}
    for path in sorted(Path(root).rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "<dir>"
    return out
