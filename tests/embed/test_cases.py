"""prepare_row: files -> network input rows, failures as rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from alnm_ray.embed.actor import COL_ERROR_MESSAGE, COL_ERROR_TYPE, COL_SHAPE, COL_VOLUME
from alnm_ray.embed.cases import COL_ERROR_STAGE, prepare_row
from alnm_ray.embed.config import EmbedConfig
from alnm_ray.preprocess.config import PreprocessPlan


def _run(row: dict, cfg: EmbedConfig, plan: PreprocessPlan | None = None) -> dict:
    plan = plan or PreprocessPlan.preset("none")
    return prepare_row(row, config=cfg.to_dict(), preprocess={s: c.to_dict() for s, c in plan.sequences},
                       default_preprocess=plan.default.to_dict())


def test_three_d_and_two_d_rows(cohort, embed_config: EmbedConfig) -> None:
    rows = cohort.to_dict("records")
    t2, cc = _run(rows[0], embed_config), _run(rows[1], embed_config)
    assert t2[COL_ERROR_TYPE] == "" and cc[COL_ERROR_TYPE] == ""
    assert t2[COL_SHAPE] == [32, 32, 32] and cc[COL_SHAPE] == [4, 32, 32]
    vol = np.frombuffer(t2[COL_VOLUME], dtype=np.float32).reshape(t2[COL_SHAPE])
    assert abs(float(vol.mean())) < 1e-4 and abs(float(vol.std()) - 1) < 1e-3
    assert "image" not in t2 and t2["patient_id"] == "P000"


def test_margin_changes_the_input(cohort, embed_config: EmbedConfig) -> None:
    row = cohort.to_dict("records")[0]
    a = _run(row, embed_config)[COL_VOLUME]
    b = _run(row, embed_config.with_(margin_mm=0.0))[COL_VOLUME]
    assert a != b


def test_missing_file_is_a_read_error(cohort, embed_config: EmbedConfig, tmp_path: Path) -> None:
    row = cohort.to_dict("records")[0] | {"image": str(tmp_path / "gone.nii.gz")}
    out = _run(row, embed_config)
    assert out[COL_ERROR_STAGE] == "read" and out[COL_ERROR_TYPE] == "FileNotFoundError"
    assert out[COL_ERROR_MESSAGE].startswith("c1/A/P000/T2WI/A: ") and out[COL_VOLUME] == b""


def test_empty_mask_fails_in_geometry(cohort, embed_config: EmbedConfig, tmp_path: Path) -> None:
    row = cohort.to_dict("records")[0]
    mask = sitk.ReadImage(row["mask"]) * 0
    sitk.WriteImage(mask, str(tmp_path / "empty.nii.gz"))
    out = _run(row | {"mask": str(tmp_path / "empty.nii.gz")}, embed_config)
    assert out[COL_ERROR_STAGE] == "geometry" and "empty mask" in out[COL_ERROR_MESSAGE]


def test_constant_crop_fails_in_embed(cohort, embed_config: EmbedConfig, tmp_path: Path) -> None:
    row = cohort.to_dict("records")[0]
    img = sitk.ReadImage(row["image"])
    arr = sitk.GetArrayFromImage(img) * 0 + 5
    flat = sitk.GetImageFromArray(arr)
    flat.CopyInformation(img)
    sitk.WriteImage(flat, str(tmp_path / "flat.nii.gz"))
    out = _run(row | {"image": str(tmp_path / "flat.nii.gz")}, embed_config)
    assert out[COL_ERROR_STAGE] == "embed" and "constant crop" in out[COL_ERROR_MESSAGE]
