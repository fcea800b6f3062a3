"""``alnm-ray validate`` on real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from click.testing import CliRunner

from alnm_ray.cli.main import cli


def _cohort(tmp_path: Path) -> Path:
    arr = np.random.default_rng(0).normal(100, 10, (6, 12, 12)).astype(np.float32)
    mask = np.zeros_like(arr, dtype=np.uint8)
    mask[2:4, 3:8, 3:8] = 1
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(tmp_path / "img.nii.gz"))
    sitk.WriteImage(sitk.GetImageFromArray(mask), str(tmp_path / "mask.nii.gz"))
    pd.DataFrame([["c", "C1", "P1", "T2WI", "A", "img.nii.gz", "mask.nii.gz", 1, 1]],
                 columns=["cohort", "center", "patient_id", "sequence", "reader", "image", "mask",
                          "mask_label", "label"]).to_csv(tmp_path / "m.csv", index=False)
    return tmp_path / "m.csv"


def test_validate_ok(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(_cohort(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "OK — 1 rows, 1 patients, 1 centre(s)" in result.output


def test_validate_reports_all_problems_and_exits_2(tmp_path: Path) -> None:
    path = _cohort(tmp_path)
    df = pd.read_csv(path)
    df.loc[0, "sequence"] = "t2wi"
    df.loc[0, "mask"] = "missing.nii.gz"
    df.to_csv(path, index=False)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert "2 problem(s) found" in result.output
    assert "row 1, column 'mask': expected an existing file or DICOM folder" in result.output
    assert "row 1, column 'sequence'" in result.output and "Did you mean 'T2WI'?" in result.output
    assert "Traceback" not in result.output
