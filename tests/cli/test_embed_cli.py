"""``alnm-ray embed`` end to end on a real local Ray and store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from click.testing import CliRunner

from alnm_ray.cli.main import cli

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _manifest(root: Path) -> Path:
    """Two T2WI cases: a normal lesion and one whose lesion crop is constant."""
    rng = np.random.default_rng(3)
    z, y, x = np.mgrid[:16, :40, :20]
    lesion = ((z - 8) / 4.0) ** 2 + ((y - 10) / 4.0) ** 2 + ((x - 10) / 4.0) ** 2 <= 1
    good = rng.normal(100, 10, lesion.shape) + 60 * lesion
    flat = np.full(lesion.shape, 50.0)
    flat[:, -1, :] = 60.0  # varies far from the lesion only: passes validation, fails the embedding
    rows = []
    for pid, arr in (("P1", good), ("P2", flat)):
        sitk.WriteImage(sitk.GetImageFromArray(arr.astype(np.float32)), str(root / f"{pid}.nii.gz"))
        sitk.WriteImage(sitk.GetImageFromArray(lesion.astype(np.uint8)), str(root / f"{pid}_m.nii.gz"))
        rows.append(["c", "C1", pid, "T2WI", "A", f"{pid}.nii.gz", f"{pid}_m.nii.gz", 1, int(pid == "P1")])
    pd.DataFrame(rows, columns=["cohort", "center", "patient_id", "sequence", "reader", "image", "mask",
                                "mask_label", "label"]).to_csv(root / "m.csv", index=False)
    return root / "m.csv"


def test_embed_writes_the_table_reports_failures_and_caches(ray_local, tmp_path: Path) -> None:
    manifest, store = _manifest(tmp_path), str(tmp_path / "store")
    args = ["--quiet", "embed", str(manifest), "--store", store, "--grid", "32", "--batch-size", "2",
            "--preprocess", "none"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 3, first.output
    assert "warning: embedding with randomly initialised weights (random(seed=0))" in first.output
    assert "embed: 2 cases: 1 done, 0 cached, 1 failed" in first.output
    assert "weights random(seed=0); cpu actors 1-1 on cpu x1" in first.output
    assert "[embed] c/C1/P2/T2WI/A: expected intensity variation" in first.output
    assert "1 case(s) failed, more than --max-failures 0" in first.output
    assert "Traceback" not in first.output

    report = tmp_path / "report.json"
    second = CliRunner().invoke(cli, [*args, "--max-failures", "1", "--report-json", str(report)])
    assert second.exit_code == 0, second.output
    assert "version already in the store; nothing computed" in second.output
    summary = json.loads(report.read_text(encoding="utf-8"))
    assert summary["existed"] is True and summary["computed"] == 0 and summary["failed"] == 1

    from alnm_ray.store import FeatureStore

    table = FeatureStore(store).read("deep").to_pandas()
    assert table["patient_id"].tolist() == ["P1"] and table.shape[1] == 10 + 512


def test_bad_weights_and_grid_are_clean_errors(ray_local, tmp_path: Path) -> None:
    manifest = _manifest(tmp_path)
    (tmp_path / "w.pth").write_bytes(b"\x00" * 64)
    result = CliRunner().invoke(cli, ["embed", str(manifest), "--store", str(tmp_path / "s"),
                                      "--weights", str(tmp_path / "w.pth")])
    assert result.exit_code == 2 and "expected a PyTorch checkpoint" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["embed", str(manifest), "--store", str(tmp_path / "s"), "--grid", "4,4"])
    assert result.exit_code == 2 and "expected N or D,H,W voxels" in result.output
