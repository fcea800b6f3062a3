"""``alnm-ray validate`` on real files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
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


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("column", ["image", "mask"])
def test_a_fifo_named_like_an_image_is_refused_not_waited_on(tmp_path: Path, column: str) -> None:
    path = _cohort(tmp_path)
    os.mkfifo(tmp_path / "x.nii.gz")  # nothing ever writes to it: opening it would block forever
    df = pd.read_csv(path)
    df.loc[0, column] = "x.nii.gz"
    df.to_csv(path, index=False)
    # a real process, so that a hang is a TimeoutExpired failure, not a stuck test session
    proc = subprocess.run([sys.executable, "-c", "from alnm_ray.cli.main import cli; cli()", "validate", str(path)],
                          capture_output=True, text=True, encoding="utf-8", timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert (f"row 1, column '{column}': expected a regular file or a DICOM series folder; found x.nii.gz: a FIFO "
            "(named pipe). Fix: point the manifest at the file itself") in proc.stderr + proc.stdout


def test_a_colour_mask_is_refused_with_the_fix_and_accepted_decoded(tmp_path: Path) -> None:
    from PIL import Image

    img = (np.random.default_rng(0).random((48, 48)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "mg.png")
    rgb = np.zeros((48, 48, 3), np.uint8)
    rgb[10:30, 10:30] = (255, 0, 0)                 # malignant, red
    rgb[35:45, 35:45] = (0, 250, 3)                 # benign, green with colour noise
    Image.fromarray(rgb).save(tmp_path / "mask.png")
    rows = [["c", "C1", "P1", "MG_CC", "A", "mg.png", "mask.png", 1]]
    columns = ["cohort", "center", "patient_id", "sequence", "reader", "image", "mask", "mask_label"]
    pd.DataFrame(rows, columns=columns).to_csv(tmp_path / "m.csv", index=False)
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "m.csv")])
    assert result.exit_code == 2, result.output
    assert ("row 1, column 'mask_label': expected a grey mask (all channels equal), or mask_label given as a "
            "colour R,G,B; found mask.png: a colour-coded mask (3 colours; most frequent (0,0,0) 1804 px, "
            "(255,0,0) 400 px, (0,250,3) 100 px). Fix: set mask_label to the lesion's colour as R,G,B") in result.output
    rows[0][-1] = "255,0,0"
    pd.DataFrame(rows, columns=columns).to_csv(tmp_path / "m.csv", index=False)
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "m.csv"), "--allow-partial-roi"])
    assert result.exit_code == 0, result.output
    rows[0][-1] = "0,255,0"  # 100 of 500 foreground px: a small part of the mask
    pd.DataFrame(rows, columns=columns).to_csv(tmp_path / "m.csv", index=False)
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "m.csv")])
    assert result.exit_code == 2 and "found 100 of 500 px (20%) selected by pixels of colour (0,255,0)" in result.output
    assert CliRunner().invoke(cli, ["validate", str(tmp_path / "m.csv"), "--allow-partial-roi"]).exit_code == 0
