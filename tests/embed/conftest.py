"""Fixtures for the embedding tests: MedicalNet-style checkpoints and a tiny cohort."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from alnm_ray.embed.config import EmbedConfig

#: Small grid keeps a CPU forward pass in the tens of milliseconds.
TEST_GRID = (32, 32, 32)


def medicalnet_state(model, *, head: bool = True) -> dict:
    """A state dict named the way MedicalNet saves it.

    MedicalNet trains inside ``DataParallel`` (every key gets ``module.``),
    keeps a ``conv_seg`` segmentation head and has no ``fc``; its other names
    (conv1, bn1, layerL.B.convN/bnN) are MONAI's (its ``relu`` vs MONAI's
    ``act`` holds no parameters, so no key differs).
    """
    import torch

    out = {}
    for key, value in model.state_dict().items():
        if key.startswith("fc."):
            continue
        out["module." + key] = value.clone()
    if head:
        out["module.conv_seg.0.weight"] = torch.zeros(512, 32, 2, 2, 2)
        out["module.conv_seg.1.weight"] = torch.ones(32)
    return out


def save_medicalnet(model, path: Path, **kwargs) -> Path:
    """Save ``{"state_dict": ...}`` like MedicalNet's released ``resnet_18.pth``."""
    import torch

    torch.save({"state_dict": medicalnet_state(model, **kwargs)}, path)
    return path


@pytest.fixture
def medicalnet() -> SimpleNamespace:
    """``medicalnet.state(model)`` and ``medicalnet.save(model, path)`` (see above)."""
    return SimpleNamespace(state=medicalnet_state, save=save_medicalnet)


@pytest.fixture
def cohort_factory():
    """``cohort_factory(root, rng, n_patients=3, two_d=True) -> manifest DataFrame``."""
    return make_cohort


@pytest.fixture
def embed_config() -> EmbedConfig:
    return EmbedConfig(grid=TEST_GRID, lift_depth=4, batch_size=2, pool_min=1, pool_max=1)


@pytest.fixture
def weights_file(tmp_path: Path) -> Path:
    """A MedicalNet-style checkpoint of a ResNet-18 initialised from seed 123."""
    from alnm_ray.embed.model import build_resnet18

    return save_medicalnet(build_resnet18(seed=123), tmp_path / "resnet_18.pth")


def _write(arr: np.ndarray, path: Path, spacing: tuple[float, ...]) -> str:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    sitk.WriteImage(img, str(path))
    return str(path)


def make_cohort(root: Path, rng: np.random.Generator, *, n_patients: int = 3,
                two_d: bool = True) -> pd.DataFrame:
    """Write a tiny cohort (3-D T2WI and 2-D MG_CC per patient) and return its manifest.

    Volumes are 24 x 28 x 20 voxels (z, y, x) at 1.5 x 1 x 1 mm with a bright
    ellipsoid lesion; mammograms are 60 x 50 pixels at 0.1 mm.
    """
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for p in range(n_patients):
        pid = f"P{p:03d}"
        z, y, x = np.mgrid[:24, :28, :20]
        lesion = ((z - 12) / 5.0) ** 2 + ((y - 14) / (4.0 + p)) ** 2 + ((x - 10) / 4.0) ** 2 <= 1
        vol = rng.normal(100, 10, size=(24, 28, 20)) + 80 * lesion
        rows.append(dict(cohort="c1", center="A", patient_id=pid, sequence="T2WI", reader="A",
                         image=_write(vol.astype(np.float32), root / f"{pid}_t2.nii.gz", (1.0, 1.0, 1.5)),
                         mask=_write(lesion.astype(np.uint8), root / f"{pid}_t2_mask.nii.gz", (1.0, 1.0, 1.5)),
                         mask_label=1, label=p % 2))
        if two_d:
            yy, xx = np.mgrid[:60, :50]
            blob = ((yy - 30) / 10.0) ** 2 + ((xx - 25) / (8.0 + p)) ** 2 <= 1
            mg = rng.normal(500, 40, size=(60, 50)) + 300 * blob
            rows.append(dict(cohort="c1", center="A", patient_id=pid, sequence="MG_CC", reader="A",
                             image=_write(mg.astype(np.float32), root / f"{pid}_cc.nii.gz", (0.1, 0.1)),
                             mask=_write(blob.astype(np.uint8), root / f"{pid}_cc_mask.nii.gz", (0.1, 0.1)),
                             mask_label=1, label=p % 2))
    return pd.DataFrame(rows)


@pytest.fixture
def cohort(tmp_path: Path, rng: np.random.Generator) -> pd.DataFrame:
    return make_cohort(tmp_path / "cohort", rng)
